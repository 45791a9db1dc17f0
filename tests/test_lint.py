"""The package passes its linters: ``ruff check nbtoolkit`` and ``mypy`` find nothing.

Both are configured in pyproject.toml (``[tool.ruff]``, ``[tool.mypy]``) and run by ``make lint``;
here they run from the venv, so ``make test`` fails on a finding and prints every one. mypy keeps
its incremental cache in ``.mypy_cache`` (a cold run takes ~20-30 s, a warm one a few seconds).
The module runs early on one worker (the group ``lint``; tests/conftest.py puts it first).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

pytestmark = pytest.mark.xdist_group("lint")


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    exe = VENV_BIN / tool
    if not exe.exists():
        pytest.skip(f"{tool} is not installed in {VENV_BIN} (it comes with the dev extra: pip install -e '.[dev]')")
    return subprocess.run([str(exe), *args], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


def test_ruff_finds_nothing() -> None:
    done = _run("ruff", "check", "nbtoolkit", "--output-format", "concise")
    assert done.returncode == 0, f"ruff check nbtoolkit:\n{done.stdout}{done.stderr}"


def test_mypy_finds_nothing() -> None:
    done = _run("mypy")  # the files and options are [tool.mypy]'s
    assert done.returncode == 0, f"mypy:\n{done.stdout}{done.stderr}"
    assert "Success: no issues found" in done.stdout, done.stdout
