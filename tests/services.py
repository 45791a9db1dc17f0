"""Session-scoped services on 127.0.0.1, started by the tests themselves.

Each service fixture starts its server once per test session and stops it afterwards, even when
tests fail: PostgreSQL + an MLflow server on it, an MLflow server with authentication (basic-auth
app, SQLite), JupyterLab + headless Chromium, Dask scheduler and workers.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_healthy(server: Any, what: str, timeout: float, tail: Callable[[], str]) -> None:
    """Poll ``server.healthy()`` until it answers; fail with the log tail if it exits or times out."""
    deadline = time.monotonic() + timeout
    while not server.healthy():
        if server.proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({server.proc.returncode}):\n{tail()}")
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"{what} not answering after {timeout:.0f} s:\n{tail()}")
        time.sleep(0.25)


def stop_process_group(proc: subprocess.Popen, *, grace: float) -> None:
    """SIGTERM the server's process group, SIGKILL it after ``grace`` s; return once it exited."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


# ------------------------------------------------------------------ PostgreSQL + MLflow server
# PostgreSQL refuses to run as root, so as root its binaries run as the `postgres` user on a data
# directory in a temp folder it owns; the MLflow tracking server (backend store on PostgreSQL,
# artefacts served by the server) is started once per session.
def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class Postgres:
    """A throw-away PostgreSQL cluster on 127.0.0.1:``port`` (trust auth, user ``postgres``)."""

    def __init__(self) -> None:
        self.bin = _pg_bin()
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (no initdb); run `make system-deps`.")
        self.root = Path(tempfile.mkdtemp(prefix="nbt-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *argv: str) -> subprocess.CompletedProcess:
        cmd = [str(self.bin / argv[0]), *argv[1:]]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)

    def start(self) -> Postgres:
        if not self.data.exists():
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.root} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "postgres.log"), "-o", opts,
                  "-w", "-t", "60", "start")
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
            except subprocess.CalledProcessError:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create database ``name`` and return its SQLAlchemy URL."""
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.url(name)


class MlflowServer:
    """``mlflow server`` on 127.0.0.1: PostgreSQL backend store, artefacts served by the server.

    ``stop()`` / ``start()`` may be called mid-session (fault tests); the port stays the same.
    ``app_name`` / ``env`` start another server app (``basic-auth``) with its settings.
    """

    def __init__(self, backend_store_uri: str, artifacts: Path, *, app_name: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.backend_store_uri = backend_store_uri
        self.artifacts = artifacts
        self.app_name = app_name
        self.env = env or {}
        self.port = free_port()
        self.log = artifacts.parent / "mlflow-server.log"
        self.proc: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    def start(self, timeout: float = 180.0) -> MlflowServer:
        mlflow_exe = Path(sys.executable).parent / "mlflow"
        argv = [str(mlflow_exe), "server", "--backend-store-uri", self.backend_store_uri,
                "--artifacts-destination", str(self.artifacts), "--serve-artifacts",
                "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        if self.app_name:
            argv += ["--app-name", self.app_name]
        with open(self.log, "ab") as log:
            # Own process group: stop() ends the server and its worker together.
            # MLflow 3 also starts a job runner (three huey consumers, 20 worker threads) for
            # GenAI jobs nbtoolkit never submits: off, as on a server that needs none.
            # The test's own credentials (MLFLOW_TRACKING_*) are not the server's business.
            env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
            env.update({"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **self.env})
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)
        wait_until_healthy(self, "mlflow server", timeout, self._tail)
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        stop_process_group(proc, grace=5)
        # The port must be free again before a restart binds it.
        deadline = time.monotonic() + 20
        while self.healthy() and time.monotonic() < deadline:
            time.sleep(0.1)

    def _tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL cluster on 127.0.0.1 for the session (stopped and deleted afterwards)."""
    try:
        pg = Postgres()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    try:
        yield pg.start()
    finally:
        pg.stop()
        shutil.rmtree(pg.root, ignore_errors=True)


@pytest.fixture(scope="session")
def mlflow_server(postgres):
    """An MLflow tracking server on PostgreSQL for the session; ``.uri`` is its http:// URI."""
    backend = postgres.create_database("mlflow")
    root = Path(tempfile.mkdtemp(prefix="nbt-mlflow-server-"))
    (root / "artifacts").mkdir()
    server = MlflowServer(backend, root / "artifacts")
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


# MLflow's basic-auth app: users and permissions in their own SQLite database, configured by an
# ini file (MLFLOW_AUTH_CONFIG_PATH). MLflow ships no admin password (and refuses the old default
# 'password1234'): a random one is written for the session. Users without a grant get READ.
class AuthMlflowServer(MlflowServer):
    """``mlflow server --app-name basic-auth`` on SQLite; ``admin`` / ``admin_password`` is its admin.

    :meth:`add_user` creates a user through the auth REST API (as admin) and returns the password.
    """

    def __init__(self, root: Path) -> None:
        import secrets

        self.admin_password = secrets.token_urlsafe(16)
        ini = root / "basic_auth.ini"
        ini.write_text("[mlflow]\n"
                       "default_permission = READ\n"
                       f"database_uri = sqlite:///{root / 'basic_auth.db'}\n"
                       "admin_username = admin\n"
                       f"admin_password = {self.admin_password}\n"
                       "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
                       # a PBKDF2 check per request otherwise: minutes per test on a busy machine
                       "auth_cache_ttl_seconds = 300\n")
        (root / "artifacts").mkdir()
        # the auth app's CSRF protection needs a fixed secret key
        super().__init__(f"sqlite:///{root / 'mlflow.db'}", root / "artifacts", app_name="basic-auth",
                         env={"MLFLOW_AUTH_CONFIG_PATH": str(ini),
                              "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16)})

    def auth_client(self) -> Any:
        """MLflow's auth client, as admin (credentials for the block of each request only)."""
        from mlflow.server import get_app_client

        client = get_app_client("basic-auth", tracking_uri=self.uri)
        return _AsAdmin(client, self.admin_password)

    def add_user(self, username: str) -> str:
        import secrets

        password = secrets.token_urlsafe(12)
        self.auth_client().create_user(username, password)
        return password


class _AsAdmin:
    """Calls an auth client's methods with the admin's credentials in the environment."""

    def __init__(self, client: Any, password: str) -> None:
        self._client, self._password = client, password

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}
            os.environ.update(MLFLOW_TRACKING_USERNAME="admin", MLFLOW_TRACKING_PASSWORD=self._password)
            try:
                return method(*args, **kwargs)
            finally:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value

        return call


@pytest.fixture(scope="session")
def auth_mlflow_server():
    """An MLflow server with its basic-auth app on 127.0.0.1 for the session (SQLite in a temp dir)."""
    root = Path(tempfile.mkdtemp(prefix="nbt-mlflow-auth-"))
    server = AuthMlflowServer(root)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def server_home(mlflow_server, tmp_path, monkeypatch):
    """Like ``nbt_home`` but tracking + registry on the session's MLflow server."""
    home = tmp_path / "nbt-home"
    monkeypatch.setenv("NBT_HOME", str(home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.uri)
    for var in ("MLFLOW_REGISTRY_URI", "NBT_PREDICTIONS_URL", "NBT_EXPERIMENT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    if not mlflow_server.healthy():  # a fault test left it down: bring it back
        mlflow_server.start()
    yield home
    import mlflow

    while mlflow.active_run():
        mlflow.end_run()


# ------------------------------------------------------------------ JupyterLab + headless Chromium
# JupyterLab runs from the venv on 127.0.0.1 with a token, HOME and the
# Jupyter config/runtime folders in a temp dir (no user settings, no news, no update check, no
# extension installs); its kernels get their own NBT_HOME. Chromium is Debian's, driven by
# Playwright (never `playwright install`).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                 "--disable-dev-shm-usage"]


class JupyterLab:
    """``jupyter lab`` serving ``root/notebooks`` on 127.0.0.1:``port``."""

    def __init__(self, root: Path) -> None:
        import secrets

        self.root = root
        self.notebooks = root / "notebooks"
        self.nbt_home = self.notebooks / "nbt-home"  # inside the served root: run links open
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.log = root / "jupyterlab.log"
        self.proc: subprocess.Popen | None = None

    def url(self, path: str = "lab") -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}?token={self.token}"

    def _api(self, path: str, method: str = "GET") -> object:
        import json

        req = urllib.request.Request(self.url(f"api/{path}"), method=method)
        with urllib.request.urlopen(req, timeout=5) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def healthy(self) -> bool:
        try:
            return self._api("status") is not None
        except OSError:
            return False

    def start(self, timeout: float = 180.0) -> JupyterLab:
        import json

        home = self.root / "home"
        config_dir = home / ".jupyter"
        for d in (self.notebooks, config_dir, self.nbt_home):
            d.mkdir(parents=True, exist_ok=True)
        news = config_dir / "lab/user-settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
        news.parent.mkdir(parents=True, exist_ok=True)
        news.write_text(json.dumps({"fetchNews": "false"}))  # no "official Jupyter news?" toast
        (config_dir / "jupyter_lab_config.json").write_text(json.dumps({"LabApp": {
            "news_url": None,
            "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
            "expose_app_in_browser": True,  # lets the test run commands and read kernel state
        }}))
        env = {k: v for k, v in os.environ.items()
               if k not in {"MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "NBT_PREDICTIONS_URL",
                            "NBT_WIDGETS", "NBT_PIPELINE_RUN_ID", "JPY_SESSION_NAME"}}
        env.update(HOME=str(home), JUPYTER_CONFIG_DIR=str(config_dir),
                   JUPYTER_RUNTIME_DIR=str(home / "runtime"), IPYTHONDIR=str(home / ".ipython"),
                   NBT_HOME=str(self.nbt_home), PYTHONUNBUFFERED="1")
        argv = [sys.executable, "-m", "jupyterlab", "--ip=127.0.0.1", f"--port={self.port}",
                "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
                "--ServerApp.open_browser=False", f"--ServerApp.root_dir={self.notebooks}"]
        if os.geteuid() == 0:
            argv.append("--allow-root")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         cwd=self.notebooks, start_new_session=True)
        wait_until_healthy(self, "jupyter lab", timeout, self.tail)
        return self

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:  # kernels live in their own process groups: shut them down through the server
            for kernel in self._api("kernels") or []:
                self._api(f"kernels/{kernel['id']}", method="DELETE")
        except OSError:
            pass
        stop_process_group(proc, grace=30)


@pytest.fixture(scope="session")
def jupyterlab():
    """A JupyterLab server on 127.0.0.1 for the session (see :class:`JupyterLab`)."""
    root = Path(tempfile.mkdtemp(prefix="nbt-lab-"))
    lab = JupyterLab(root).start()
    try:
        yield lab
    finally:
        lab.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium, headless, driven by Playwright for Python."""
    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail("Chromium is not installed; run `make system-deps` as root "
                    "(or: sudo apt-get install -y chromium).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# ------------------------------------------------------------------ Dask distributed
# Pipeline steps on Dask and partitioned drift. Both bind to 127.0.0.1 only.
@pytest.fixture(scope="session")
def dask_local_cluster():
    """A ``distributed.LocalCluster`` on 127.0.0.1: 2 single-threaded worker processes."""
    from distributed import LocalCluster

    from nbtoolkit.pipeline.executors import spawnable_main

    with spawnable_main():  # after an IPython shell fixture, __main__ is IPython's stand-in
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address="127.0.0.1:0")
    try:
        yield cluster
    finally:
        cluster.close()


class DaskProcesses:
    """``dask scheduler`` and ``dask worker`` started as separate processes, as on a real cluster.

    ``address`` is the scheduler's ``tcp://127.0.0.1:PORT``; the worker command runs
    ``n_workers`` worker processes with ``nthreads`` threads each. Logs go to ``root``.
    """

    def __init__(self, n_workers: int = 2, nthreads: int = 1) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="nbt-dask-"))
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.n_workers = n_workers
        self.nthreads = nthreads
        self.procs: list[subprocess.Popen] = []

    def _spawn(self, name: str, *argv: str) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "wb")  # noqa: SIM115 - owned by the process
        dask = str(Path(sys.executable).parent / "dask")
        proc = subprocess.Popen([dask, *argv], stdout=log, stderr=subprocess.STDOUT, cwd=self.root,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def start(self) -> DaskProcesses:
        # the HTTP endpoints (/health, the dashboard) would listen on 0.0.0.0 by default
        self._spawn("scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard",
                    "--dashboard-address", "127.0.0.1:0")
        deadline = time.monotonic() + 60
        while True:  # the scheduler accepts connections
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.procs[0].poll() is not None:
                    raise RuntimeError(f"dask scheduler did not start:\n{self._tail('scheduler')}") from None
                time.sleep(0.1)
        self._spawn("worker", "worker", self.address, "--nworkers", str(self.n_workers),
                    "--nthreads", str(self.nthreads), "--host", "127.0.0.1", "--no-dashboard",
                    "--dashboard-address", "127.0.0.1:0", "--local-directory", str(self.root))
        from distributed import Client

        with Client(self.address, timeout="30s") as client:
            client.wait_for_workers(self.n_workers, timeout=120)
        return self

    def stop(self) -> None:
        for proc in reversed(self.procs):  # workers first, then the scheduler
            if proc.poll() is None:
                stop_process_group(proc, grace=30)

    def _tail(self, name: str, n: int = 30) -> str:
        try:
            return "\n".join((self.root / f"{name}.log").read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


@pytest.fixture(scope="session")
def dask_scheduler():
    """A separately started ``dask scheduler`` + ``dask worker`` (2 processes) on 127.0.0.1."""
    cluster = DaskProcesses(n_workers=2, nthreads=1)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)
