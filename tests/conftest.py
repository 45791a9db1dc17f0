"""Shared fixtures: an isolated nbtoolkit home with a real SQLite MLflow store, an IPython shell.

Service fixtures (PostgreSQL, MLflow server, Dask cluster, JupyterLab) live in
``tests/services.py`` and start once per test session, bound to 127.0.0.1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

# Child processes (papermill kernels, the nbt CLI) must find the venv first.
os.environ["PATH"] = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

pytest_plugins = ["tests.services"]

# `make test` runs two pytest-xdist workers (--dist loadgroup): the tests of one service share a
# worker, so PostgreSQL + the MLflow server, the Dask cluster and JupyterLab each start once.
_SERVICE_GROUPS = {"postgres": "postgres", "mlflow_server": "postgres", "server_home": "postgres",
                   "auth_mlflow_server": "postgres",
                   "jupyterlab": "browser", "chromium": "browser",
                   "dask_local_cluster": "dask", "dask_scheduler": "dask", "example_run": "dask"}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's worker hook, which reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:  # a module chose its own group
            continue
        groups = {g for f, g in _SERVICE_GROUPS.items() if f in getattr(item, "fixturenames", ())}
        if groups:
            item.add_marker(pytest.mark.xdist_group("+".join(sorted(groups))))
    # ruff and mypy first (tests/test_lint.py): mypy's half minute overlaps the other worker's tests
    items.sort(key=lambda item: not item.nodeid.startswith("tests/test_lint.py"))


def pytest_runtest_setup(item):
    """Under ``--dist loadgroup`` pytest-xdist tags each grouped test's id with ``@group``. With
    pytest 9.2 the tag was silently lost and every worker started its own PostgreSQL, MLflow
    server, Dask cluster and JupyterLab (slow, and flaky on two cores): fail such a run plainly."""
    if (getattr(item.config.option, "loadgroup", False) and item.get_closest_marker("xdist_group")
            and "@" not in item.nodeid):
        pytest.fail("pytest-xdist did not put this test in its group: this pytest version breaks "
                    "--dist loadgroup; install the versions in constraints.txt (make install).",
                    pytrace=False)


@pytest.fixture(scope="session")
def _empty_mlflow_db(tmp_path_factory):
    """An MLflow SQLite database with its schema created once (migrations take seconds)."""
    import shutil

    folder = tmp_path_factory.mktemp("mlflow-template")
    db = folder / "mlflow.db"
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(f"sqlite:///{db}", str(folder / "artifacts"))
    store.engine.dispose()
    shutil.rmtree(folder / "artifacts", ignore_errors=True)
    return db


EXAMPLE_SIZES = {"n_tickets": 1500}  # the bootstrap's parameters
EXAMPLE_DAYS = ["--days", "10", "--per-day", "200"]  # the days served after it


@pytest.fixture(scope="session")
def example_run(tmp_path_factory, _empty_mlflow_db):
    """notebooks/pipeline.yaml at small sizes, run once per session through ``make demo``'s entry
    point on its own embedded store; the end-to-end example test and the Dask comparison both read
    it (one local run of five kernels instead of two). Tests that use it belong to group "dask"."""
    import contextlib
    import io
    import json
    import shutil
    from types import SimpleNamespace

    from nbtoolkit import demo

    root = tmp_path_factory.mktemp("example")
    home = root / "nbt-home"
    home.mkdir()
    shutil.copy(_empty_mlflow_db, home / "mlflow.db")
    report = root / "demo.html"
    # the example writes its days beside the pipeline files (notebooks/data/): a copy of them
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns("data", ".ipynb_checkpoints"))
    argv = ["--pipeline", str(root / "notebooks" / "pipeline.yaml"), "--output", str(report), *EXAMPLE_DAYS]
    for key, value in EXAMPLE_SIZES.items():
        argv += ["-p", f"{key}={value}"]
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        mp.setenv("NBT_HOME", str(home))
        for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "NBT_PREDICTIONS_URL", "NBT_EXPERIMENT"):
            mp.delenv(var, raising=False)
        mp.chdir(root)
        code = demo.main(argv)
    text = out.getvalue()
    run = None
    if "Executed notebooks: " in text:
        run_dir = Path(text.split("Executed notebooks: ")[1].splitlines()[0])
        run = json.loads((run_dir / "run.json").read_text())
    return SimpleNamespace(home=home, report=report, code=code, out=text, run=run, notebooks=root / "notebooks")


@pytest.fixture
def nbt_home(tmp_path, monkeypatch, _empty_mlflow_db):
    """A fresh embedded store: NBT_HOME in tmp_path, no tracking URI from the environment.

    The MLflow database starts as a copy of an empty, already-migrated one (same schema MLflow
    would create; it just saves the seconds of running the migrations for every test).
    """
    import shutil

    home = tmp_path / "nbt-home"
    home.mkdir()
    shutil.copy(_empty_mlflow_db, home / "mlflow.db")
    monkeypatch.setenv("NBT_HOME", str(home))
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "NBT_PREDICTIONS_URL", "NBT_EXPERIMENT",
                "NBT_SIGNING_KEY", "NBT_TRUSTED_KEYS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    yield home
    try:  # never leave an MLflow run open across tests
        import mlflow

        while mlflow.active_run():
            mlflow.end_run()
    except ImportError:  # pragma: no cover
        pass


@pytest.fixture
def folder(nbt_home, tmp_path):
    """A copy of tests/pipelines in tmp_path (steps write files next to their notebooks)."""
    import shutil

    dst = tmp_path / "pipelines"
    shutil.copytree(ROOT / "tests" / "pipelines", dst)
    return dst


def reset_nbt_config(shell) -> None:
    """Forget ``%config Nbt.*`` on the shared InteractiveShell (a test pointed it at a server)."""
    for conf in shell.configurables:
        if type(conf).__name__ == "Nbt":
            conf.tracking_uri = ""
            conf.experiment = ""
            conf.predictions_url = ""
            conf.drift_threshold = None
            conf.require_signature = False


@pytest.fixture
def ip(nbt_home):
    """An IPython InteractiveShell (history disabled) with ``%load_ext nbtoolkit``."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    main_module = sys.modules["__main__"]
    cfg = Config()
    cfg.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=cfg)
    shell.reset(new_session=False)
    sys.modules["__main__"] = shell.user_module  # as IPython has it while a shell runs
    shell.run_line_magic("load_ext", "nbtoolkit")
    reset_nbt_config(shell)
    yield shell
    reset_nbt_config(shell)  # the shell is a process-wide singleton: leave no %config behind
    shell.reset(new_session=False)
    # IPython swaps in a __main__ without __spec__; multiprocessing's spawn (Dask nannies, worker
    # pools in later tests) needs the real one back.
    sys.modules["__main__"] = main_module


@pytest.fixture(scope="session")
def iris():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    X.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    return X, y


@pytest.fixture(scope="session")
def iris_model(iris):
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    return LogisticRegression(max_iter=500).fit(X, y)
