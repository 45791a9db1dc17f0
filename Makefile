# Two commands on a fresh machine (SPEC §2): `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: demo test venv system-deps bench clean constraints schemas docs lint

venv: $(STAMP)

UV_VERSION := 0.13.9

# (Re)install when pyproject.toml or constraints.txt changes: `pip install -e ".[dev]"` per SPEC §2,
# done by uv (a PyPI package, bootstrapped into the venv: seconds instead of a minute) and by pip
# when uv cannot be had. constraints.txt pins every version, so both give the same environment.
# The dev environment is compiled to bytecode at install, in parallel, as pip does: the tests start
# hundreds of fresh processes, and where .pyc files are not written (PYTHONDONTWRITEBYTECODE, a
# read-only site-packages) each would compile MLflow, pandas and scikit-learn from source again.
define install
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if $(PY) -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)" 2>/dev/null \
	    && $(VENV)/bin/uv pip install --quiet $(2) --python $(PY) -c constraints.txt -e "$(1)"; then \
	  echo "installed $(1) with uv $(UV_VERSION)"; \
	else \
	  echo "uv unavailable: installing $(1) with pip"; \
	  $(PY) -m pip install --quiet --upgrade pip && \
	  $(PY) -m pip install --quiet -c constraints.txt -e "$(1)"; \
	fi
endef

$(STAMP): pyproject.toml constraints.txt
	$(call install,.[dev],--compile-bytecode)
	touch $(STAMP) $(DEMO_STAMP)

# The demo needs the package alone, not the dev tools (JupyterLab, Dask, XGBoost, browsers...):
# about half the download and install. A dev environment already installed serves it too. It is
# compiled to bytecode at install like the dev one: otherwise the first call of every process (each
# CLI command, each pipeline step's kernel) compiles MLflow and scikit-learn again wherever .pyc
# files cannot be written (PYTHONDONTWRITEBYTECODE, a read-only site-packages).
$(DEMO_STAMP): pyproject.toml constraints.txt
	$(call install,.,--compile-bytecode)
	touch $(DEMO_STAMP)

# Rewrite the pins from the current venv (after changing dependencies in pyproject.toml).
constraints:
	$(PY) -m pip freeze --exclude-editable | grep -v -e '^pip==' -e '^setuptools==' -e '^wheel==' -e '^uv==' \
	  | sed '1i # Every version of the dev environment, for pip and uv alike (make constraints rewrites it).' \
	  > constraints.txt

# Debian packages the integration and browser tests need (installed only as root, when absent).
system-deps:
	./scripts/install-system-deps.sh

demo: $(DEMO_STAMP)
	PYTHONDONTWRITEBYTECODE= $(PY) -m nbtoolkit.demo

# Two workers on a 2-core machine: much of the suite waits on kernels, servers and browsers.
# Tests that share a service run on one worker (tests/conftest.py); TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 2
test: $(STAMP) system-deps
	$(PY) -m pytest -q -ra --durations=15 $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadgroup) $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/register.py
	$(PY) benchmarks/load_ext.py
	$(PY) benchmarks/cli.py
	$(PY) benchmarks/evaluate.py
	$(PY) benchmarks/pipeline.py
	$(PY) benchmarks/prediction_log.py
	$(PY) benchmarks/widgets.py
	$(PY) benchmarks/scale.py
	$(PY) benchmarks/stats.py
	$(PY) benchmarks/signing.py

# The JSON Schemas of pipeline.yaml and suites, from their pydantic models (tests/test_schemas.py
# fails while a published file differs from its model).
schemas: $(STAMP)
	$(PY) scripts/write_schemas.py

# The documentation site (mkdocs.yml, docs/) into site/; --strict: a broken link, anchor or API
# reference fails the build (tests/test_docs.py builds it the same way in `make test`). Offline.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict -d site

clean:
	rm -rf $(VENV) .nbtoolkit .pytest_cache site

# ruff and mypy, configured in pyproject.toml (tests/test_lint.py runs both in make test).
lint: $(STAMP)
	$(VENV)/bin/ruff check nbtoolkit
	$(VENV)/bin/mypy
