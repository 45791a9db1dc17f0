# Two commands on a fresh machine (SPEC §2): `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test venv system-deps bench clean

venv: $(STAMP)

# (Re)install when pyproject.toml changes; `pip install -e ".[dev]"` per SPEC §2.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Debian packages the integration and browser tests need (installed only as root, when absent).
system-deps:
	./scripts/install-system-deps.sh

demo: $(STAMP)
	$(PY) -m nbtoolkit.demo

test: $(STAMP) system-deps
	$(PY) -m pytest -q -ra $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/register.py
	$(PY) benchmarks/load_ext.py
	$(PY) benchmarks/evaluate.py
	$(PY) benchmarks/pipeline.py
	$(PY) benchmarks/prediction_log.py
	$(PY) benchmarks/widgets.py
	$(PY) benchmarks/scale.py

clean:
	rm -rf $(VENV) .nbtoolkit .pytest_cache
