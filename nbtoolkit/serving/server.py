"""``serve()``: start-up checks, then uvicorn in the foreground — or a background process for a notebook.

Start-up order (each failure is one sentence, exit 2, nothing listening): the settings; the port
(bound before anything slow happens, so "port in use" is immediate); the prediction log
(reachable, table created); the journal a killed server left (written to the log, reported); the
champion (resolved, integrity-checked, loaded). Then uvicorn serves on the socket already bound.
SIGTERM / Ctrl-C: uvicorn stops accepting, finishes the requests in flight, then the log queue is
drained and the journal removed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .. import config
from ..errors import BadInput, NbtError
from .settings import ENV, ServeSettings


def serve(
    name: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    traffic: float = 0.1,
    threshold: float | None = None,
    predictions_url: str | None = None,
    workers: int = 1,
    champion: str = "champion",
    challenger: str = "challenger",
    poll_interval: float = 5.0,
    alerts: Sequence[str] = (),
    webhook: str | None = None,
    window: str = "1h",
    monitor_interval: float = 30.0,
    max_body: int | str = "5MB",
    require_signature: bool = False,
    rollout: str | tuple[float, ...] | None = None,
    rollout_margin: float = 0.01,
    rollout_min_samples: int = 200,
    rollout_alpha: float = 0.05,
    background: bool = False,
    **tuning: Any,
) -> ServerHandle | int:
    """Serve registered model ``name`` over HTTP: champion/challenger, human hand-off, logging, metrics.

    Parameters
    ----------
    name : registered model name; ``NAME@champion`` must exist
    host, port : where to listen (default 127.0.0.1:8080; port 0 picks a free one)
    traffic : share of ids routed to ``NAME@challenger`` when that alias exists (stable hash of id)
    threshold : confidence under which a prediction is handed to a human; default: each serving
        version's saved threshold (``%nbt threshold --save``)
    predictions_url : prediction log (SQLAlchemy URL); default ``NBT_PREDICTIONS_URL`` or the home's SQLite
    workers : uvicorn worker processes (each loads the models and has its own log-writer helper)
    champion, challenger : alias names
    poll_interval : seconds between alias checks (a promote / rollback takes effect within it)
    alerts, webhook, window, monitor_interval : live monitoring rules (as ``nbt monitor``), where to
        POST fired alerts, the rolling window and how often it is evaluated
    max_body : request body limit (``5MB``)
    require_signature : serve (and swap to) only versions signed by a key in ``NBT_TRUSTED_KEYS``
        whose files and tags did not change since (always so when ``NBT_TRUSTED_KEYS`` is set);
        a version that fails is refused: at start one line and exit 2, later the old one keeps serving
    rollout : a staged rollout of the challenger instead of a fixed ``traffic``: increasing shares
        (``"0.05,0.25,0.5,1.0"``); it moves to the next when its labelled outcomes show it not
        worse than the champion (``rollout_min_samples`` outcomes per arm, the (1 - ``rollout_alpha``)
        interval of the accuracy difference above -``rollout_margin``), rolls back on a live alert or a
        significant loss, and is promoted to champion at the last stage (:mod:`nbtoolkit.serving.rollout`)
    background : start a separate process and return a :class:`ServerHandle` once it answers
        (for notebooks); otherwise serve in this process until SIGTERM / Ctrl-C and return 0
    tuning : ``log_batch``, ``log_queue_rows``, ``log_queue_bytes``, ``log_linger``,
        ``drain_timeout``, ``journal_dir``, ``journal_sync`` (fdatasync each request's journal line
        before answering: survives a power loss), ``max_rows``, ``access_log``
    """
    given = dict(locals())  # the parameters above, by name: each is a field of ServeSettings
    del given["background"], given["tuning"]
    settings = ServeSettings.checked(**given, **tuning)
    if config.current_overrides().require_signature:  # %config Nbt.require_signature: the server's threads
        settings = dataclasses.replace(settings, require_signature=True)  # and processes do not see it
    if background:
        return start_background(settings)
    return run(settings)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound now (a port in use fails here, before anything slow)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says TCP; without it every response waits ~40 ms on delayed ACKs.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno in (98, 48):  # EADDRINUSE (Linux, macOS)
            raise BadInput(f"Port {port} on {host} is already in use; pick another with --port "
                           "(0 picks a free one) or stop what is listening there.") from None
        raise BadInput(f"Cannot listen on {host}:{port} ({exc.strerror or exc}); check --host and --port.") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run(settings: ServeSettings) -> int:
    """Serve until SIGTERM / Ctrl-C; 0 when everything served was logged, 1 when rows were left.

    Start-up problems raise NbtError (exit 2).
    """
    sock = bind(settings.host, settings.port)
    try:
        from .service import Service

        token = os.environ.get("NBT_SERVE_TOKEN") or None
        service = Service.build(settings, token=token)
    except BaseException:
        sock.close()
        raise
    port = sock.getsockname()[1]
    url = f"http://{_url_host(settings.host)}:{port}"
    _configure_logging()
    if service.recovery is not None and service.recovery.found:
        print(f"nbt serve: {service.recovery.message()}", file=sys.stderr, flush=True)
    print(f"nbt serve: {_describe(service)} on {url} (log: {service.plog.safe_url}"
          f"{'; bearer token required' if token else ''}). SIGTERM or Ctrl-C drains the log and stops.",
          flush=True)
    import uvicorn

    common: dict[str, Any] = {
        "log_level": None, "log_config": _uvicorn_logging(settings.access_log), "access_log": settings.access_log,
        "lifespan": "on", "timeout_graceful_shutdown": max(5, int(settings.drain_timeout)), "server_header": False}
    if settings.workers > 1:
        from uvicorn.supervisors import Multiprocess

        service.models.stop()
        os.environ[ENV] = settings.to_json()  # each worker reads it: app_from_env
        service.writer.stop()  # the workers journal and write for themselves
        config = uvicorn.Config("nbtoolkit.serving.app:app_from_env", factory=True, workers=settings.workers,
                                **common)
        Multiprocess(config, sockets=[sock]).run()
        left = 0
        print("nbt serve: stopped; each worker drained its log queue (rows a worker could not write stay "
              "in its journal for the next start).", file=sys.stderr, flush=True)
    else:
        from .app import create_app

        config = uvicorn.Config(create_app(service), **common)
        server = uvicorn.Server(config)
        with _signals_end_quietly():
            server.run(sockets=[sock])
        left = service.writer.queued_rows
        print(f"nbt serve: stopped; {service.writer.written} prediction(s) written to the log"
              + (f", {left} could not be written (kept in the journal for the next start)" if left else
                 ", nothing left unwritten") + ".", file=sys.stderr, flush=True)
    sock.close()
    return 1 if left else 0


@contextlib.contextmanager
def _signals_end_quietly() -> Iterator[None]:
    """uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown; let that end ``run`` normally."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _uvicorn_logging(access_log: bool) -> dict[str, Any]:
    """uvicorn's own logging at WARNING; its access log (one line a request, on stdout) at INFO when
    asked for — a ``log_level`` would set both, and an access log at WARNING prints nothing."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    out = copy.deepcopy(LOGGING_CONFIG)
    for name in ("uvicorn", "uvicorn.error"):
        out["loggers"][name]["level"] = "WARNING"
    out["loggers"]["uvicorn.access"]["level"] = "INFO" if access_log else "WARNING"
    return out


def _configure_logging() -> None:
    import logging

    log = logging.getLogger("nbtoolkit.serving")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)


def _describe(service: Any) -> str:
    snap = service.models.snapshot
    parts = []
    for a, s in snap.versions.items():
        threshold = f", threshold {s.threshold:.2f}" if s.threshold is not None else ""
        parts.append(f"{snap.name}@{a} (version {s.version}{threshold})")
    share = f", {snap.traffic:.0%} of ids to @{snap.challenger} when it exists" if snap.traffic else ""
    return "serving " + " and ".join(parts) + share


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


# ---------------------------------------------------------------------------------- background
class ServerHandle:
    """A server started by ``serve(..., background=True)`` / ``%nbt serve NAME --background``."""

    def __init__(self, name: str, url: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
        self.name = name
        self.url = url
        self.proc = proc
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM (drains the log), then wait; returns the exit code."""
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def __repr__(self) -> str:
        state = "running" if self.running else f"stopped (exit {self.proc.returncode})"
        return (f"nbt serve {self.name}: {self.url} — {state}, pid {self.pid}, log {self.log_path}; "
                ".stop() drains the prediction log and stops it")

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))


def start_background(settings: ServeSettings, *, timeout: float = 120.0) -> ServerHandle:
    """Start ``nbt serve`` as a child process (stopped with the kernel) and wait until it answers."""
    import atexit

    from .. import config

    if settings.port == 0:
        with socket.socket() as s:
            s.bind((settings.host, 0))
            settings = dataclasses.replace(settings, port=s.getsockname()[1])
    else:
        bind(settings.host, settings.port).close()  # port in use: say so now, in the notebook
    if not settings.predictions_url:  # the notebook's log, not whatever the child's environment names
        settings = dataclasses.replace(settings, predictions_url=config.predictions_url())
    env = dict(os.environ)
    env.update({"NBT_HOME": str(config.home()), "MLFLOW_TRACKING_URI": config.tracking_uri(),
                "MLFLOW_REGISTRY_URI": config.registry_uri(), ENV: settings.to_json()})
    folder = config.home() / "serve" / settings.name
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / f"server-{settings.port}.log"
    out = open(log_path, "ab")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen([sys.executable, "-m", "nbtoolkit.serving"],
                            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    out.close()
    url = f"http://{_url_host(settings.host)}:{settings.port}"
    handle = ServerHandle(settings.name, url, proc, log_path)
    deadline = time.monotonic() + timeout
    import urllib.error
    import urllib.request

    while True:
        if proc.poll() is not None:
            raise _child_error(log_path, proc.returncode)
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as resp:
                if resp.status == 200:
                    break
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            handle.stop(10)
            raise NbtError(f"nbt serve {settings.name} did not answer on {url} within {timeout:.0f} s; "
                           f"see {log_path}.")
        time.sleep(0.2)
    atexit.register(handle.stop, 30.0)
    return handle


def _child_error(log_path: Path, code: int) -> NbtError:
    from .. import errors

    lines = [ln for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()]
    last = lines[-1] if lines else f"exited with code {code}"
    message = last.removeprefix("nbt serve: ")
    return errors.BadInput(f"nbt serve did not start: {message}") if code == 2 else \
        errors.NbtError(f"nbt serve exited with code {code}: {message} (see {log_path})")
