"""The README's commands in the environment a user gets: ``pip install -e .``, no extras.

The dev environment (``make venv``) holds JupyterLab, Dask, XGBoost... and with them packages the
base install lacks (``prometheus_client`` reached ``nbt serve`` only through JupyterLab, so the base
install crashed where ``make test`` passed). Here a separate virtual environment is built exactly
as the README's Install section says — the package alone, by uv, at the versions of
constraints.txt — and cached between runs under a key of pyproject.toml and constraints.txt, so a
changed dependency rebuilds it. In it the README's Quickstart runs as an API script, its magics in
a real kernel (papermill, the base environment's own ``python3`` kernel), its CLI lines, and
``nbt serve`` answers one ``curl``. A feature that needs an extra says so in one line.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.services import free_port, stop_process_group

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("base-install")]

#: Installed by the extras only: none may be importable in the base environment.
BUILT = ".nbtoolkit-base-built"
EXTRAS_ONLY = ("jupyterlab", "dask", "distributed", "psycopg2", "xgboost", "lightgbm", "playwright")


def _cache_dir() -> Path:
    key = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + (ROOT / "constraints.txt").read_bytes())
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "nbtoolkit-tests" / f"base-venv-{key.hexdigest()[:16]}"


def _build(venv: Path) -> None:
    # Built in place (scripts' #! lines name their venv: a renamed venv's papermill would not run);
    # the marker file is written last, so an interrupted build is rebuilt.
    shutil.rmtree(venv, ignore_errors=True)
    tmp = venv
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    if uv:
        subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(tmp)], check=True, env=env)
        subprocess.run([uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", str(tmp / "bin" / "python"),
                        "-c", str(ROOT / "constraints.txt"), "-e", str(ROOT)], check=True, env=env)
    else:  # what the README says, word for word
        subprocess.run([sys.executable, "-m", "venv", str(tmp)], check=True, env=env)
        subprocess.run([str(tmp / "bin" / "python"), "-m", "pip", "install", "--quiet",
                        "-c", str(ROOT / "constraints.txt"), "-e", str(ROOT)], check=True, env=env)
    (venv / BUILT).write_text("ok")


@pytest.fixture(scope="module")
def base_venv(tmp_path_factory) -> Path:
    venv = _cache_dir()
    if not (venv / BUILT).exists():
        venv.parent.mkdir(parents=True, exist_ok=True)
        _build(venv)
    # The editable install points at whichever clone built it: make sure it is this one.
    found = subprocess.run([str(venv / "bin" / "python"), "-c", "import nbtoolkit; print(nbtoolkit.__file__)"],
                           capture_output=True, text=True, check=True).stdout.strip()
    if Path(found).resolve().parents[1] != ROOT:
        _build(venv)
    return venv


@pytest.fixture(scope="module")
def project(tmp_path_factory, base_venv) -> tuple[Path, dict[str, str]]:
    """A user's project folder with its own store, and the environment of a shell in that venv."""
    folder = tmp_path_factory.mktemp("base-project")
    (folder / ".git").mkdir()  # the project root (SPEC §3): the store goes to folder/.nbtoolkit
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLFLOW_", "NBT_", "PYTHONPATH", "VIRTUAL_ENV", "JUPYTER"))}
    env["PATH"] = f"{base_venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(base_venv)
    env["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    env["GIT_PYTHON_REFRESH"] = "quiet"
    return folder, env


def _code_block(after: str, lang: str) -> str:
    section = README.split(after, 1)[1]
    return re.search(rf"```{lang}\n(.*?)```", section, re.S).group(1)


def _run(argv: list[str], folder: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)


def _one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    return lines[0]


def test_the_base_environment_is_the_users(base_venv):
    probe = "import importlib.util as u, json; print(json.dumps({m: u.find_spec(m) is not None for m in %r}))"
    found = json.loads(subprocess.run([str(base_venv / "bin" / "python"), "-c", probe % (EXTRAS_ONLY,)],
                                      capture_output=True, text=True, check=True).stdout)
    assert not any(found.values()), f"extras leaked into the base install: {found}"


def test_readme_commands_in_the_base_install(project, base_venv):
    folder, env = project
    python = str(base_venv / "bin" / "python")

    # 1. The Quickstart, as a script (then its test set becomes the CLI's "today.csv").
    quickstart = _code_block("## Quickstart", "python")
    script = quickstart + textwrap.dedent("""
        X_test.to_csv("today.csv", index=False)
        """)
    done = _run([python, "-c", script], folder, env)
    assert done.returncode == 0, done.stderr
    assert (folder / ".nbtoolkit" / "mlflow.db").exists()

    # 2. The same from notebook cells: the magics block, in a real kernel of the base environment.
    magics = _code_block("The same from a notebook cell and from a terminal", "python")
    setup = "\n".join(ln for ln in quickstart.splitlines() if not ln.startswith("nbt."))
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": setup, "outputs": [], "execution_count": None},
                    {"cell_type": "code", "metadata": {}, "source": magics, "outputs": [], "execution_count": None}],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    (folder / "magics.ipynb").write_text(json.dumps(nb))
    done = _run([str(base_venv / "bin" / "papermill"), "magics.ipynb", "magics-out.ipynb", "--cwd", str(folder)],
                folder, env)
    assert done.returncode == 0, done.stderr[-3000:]
    versions = _run([python, "-c", "import nbtoolkit as nbt; print(len(nbt.versions('cancer').to_dict()['versions']))"],
                    folder, env)
    assert versions.stdout.strip() == "2", versions.stderr  # one from the script, one from %nbt register

    # 3. The CLI lines.
    for line in _code_block("The same from a notebook cell and from a terminal", "bash").splitlines():
        argv = line.split("#")[0].split()
        if not argv:
            continue
        done = _run(argv, folder, env)
        assert done.returncode in (0, 1), (line, done.stderr)  # 1: drift found (a verdict, not an error)
        assert "Traceback" not in done.stderr and done.stdout.strip(), (line, done.stderr)

    # 4. nbt serve, and one curl.
    port = free_port()
    server = subprocess.Popen([str(base_venv / "bin" / "nbt"), "serve", "cancer", "--port", str(port)],
                              cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    try:
        row = _run([python, "-c", "import pandas as p; print(p.read_csv('today.csv').head(1).to_json(orient='split', index=False))"],
                   folder, env).stdout.strip()
        body = json.dumps({"dataframe_split": json.loads(row)})
        deadline = time.monotonic() + 120
        answer = None
        while time.monotonic() < deadline and server.poll() is None:
            done = _run(["curl", "-sf", f"http://127.0.0.1:{port}/invocations", "-H", "Content-Type: application/json",
                         "-d", body], folder, env, timeout=30)
            if done.returncode == 0:
                answer = json.loads(done.stdout)
                break
            time.sleep(0.2)  # polling a port that is not open yet, up to the deadline
        assert answer is not None, server.stdout.read() if server.poll() is not None else "no answer in 120 s"
        assert answer["predictions"][0]["prediction"] in (0, 1)
        assert answer["predictions"][0]["alias"] == "champion"
        assert answer["predictions"][0]["model_version"] == "1"  # the magics promoted version 1 again
    finally:
        stop_process_group(server, grace=20)


def test_a_feature_of_an_extra_names_the_extra(project):
    folder, env = project
    (folder / "p.yaml").write_text("name: p\nsteps:\n  - name: a\n    notebook: a.ipynb\n")
    nb = {"cells": [], "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
          "nbformat": 4, "nbformat_minor": 5}
    (folder / "a.ipynb").write_text(json.dumps(nb))
    done = _run(["nbt", "pipeline", "run", "p.yaml", "--executor", "dask", "--scheduler", "tcp://127.0.0.1:1"],
                folder, env)
    assert done.returncode == 2
    assert "nbtoolkit[dask]" in _one_line(done.stderr)
    postgres = dict(env, NBT_PREDICTIONS_URL="postgresql+psycopg2://u:p@127.0.0.1:1/db")
    done = _run(["nbt", "monitor", "cancer"], folder, postgres)
    assert done.returncode == 2
    assert "nbtoolkit[postgres]" in _one_line(done.stderr)
