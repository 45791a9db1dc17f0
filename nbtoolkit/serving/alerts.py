"""Real-time monitoring inside the server: the rules of ``nbt monitor`` over a rolling window.

Every ``interval`` seconds a thread reads the last ``window`` of the model's predictions from the
prediction log (so outcomes recorded anywhere count, and every worker sees the same traffic),
computes the same window metrics as :func:`nbtoolkit.monitor` (volume, human share, mean
confidence, label-free estimated accuracy, accuracy on outcomes, drift share against the serving
version's stored profile, recomputed at most every 5 minutes as it reads every input of the
window), sets the ``nbt_window_*`` gauges and evaluates the alert rules
(``human_share>0.4``, ``anomaly:volume`` ...; anomaly rules compare with the previous
evaluations). A rule fires when it starts to hold — not again at every evaluation while it keeps
holding (``nbt_alert_active`` shows that) — and then goes to the log (``nbtoolkit.serving``), the
webhook and ``nbt_alerts_fired_total``. With several workers one of them (a file lock) evaluates.

Reading a large window builds one Python object per logged value (about a second of CPU per 50,000
rows), which inside the server would hold the GIL while requests wait. From ``OFFLOAD_ROWS`` rows
on, the window is therefore read and its metrics computed in a helper process (spawned once, at a
lower priority, by the same code), and only the metrics come back.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

logger = logging.getLogger("nbtoolkit.serving")
HISTORY = 8  # evaluations kept for anomaly rules (the rule looks at the previous 7)
DRIFT_EVERY_S = 300.0  # drift needs every input of the window: recomputed at most this often
OFFLOAD_ROWS = 5_000  # a window this large (at the last evaluation) is read in a helper process


class LiveMonitor:
    """Evaluates ``rules`` on the rolling window of ``name`` every ``interval`` seconds."""

    def __init__(self, name: str, plog: Any, *, rules: list[str], window: str = "1h", interval: float = 30.0,
                 webhook: str | None = None, metrics: Any = None, lock_path: Path | None = None,
                 offload_rows: float = OFFLOAD_ROWS) -> None:
        from ..monitoring import AlertRule, parse_window

        self.name = name
        self.plog = plog
        self.rules = [AlertRule.parse(r) for r in rules]
        self.window = parse_window(window)
        self.interval = interval
        self.webhook = webhook
        self.metrics = metrics
        self.lock_path = lock_path
        self.offload_rows = offload_rows
        self._pool: Any = None
        self.latest: dict[str, Any] = {}
        self.active: dict[str, dict[str, Any]] = {}
        self.fired: list[dict[str, Any]] = []
        self.webhook_errors: list[str] = []
        self.last_error: str | None = None
        self._history: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self._drift_cache: dict[str, Any] = {}
        self._drift: dict[str, Any] = {}
        self._drift_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock_fd: int | None = None

    def start(self) -> LiveMonitor:
        if self.lock_path is not None and not self._take_lock():
            return self  # another worker of this server evaluates
        self._thread = threading.Thread(target=self._run, name="nbt-live-monitor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _take_lock(self) -> bool:
        import fcntl
        import os

        assert self.lock_path is not None
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.evaluate()
                self.last_error = None
            except Exception as exc:  # the monitor must never take the server down
                self.last_error = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
                logger.warning("nbt serve: live monitoring failed: %s", self.last_error)

    def evaluate(self, now: Any = None) -> list[dict[str, Any]]:
        """One evaluation of the rolling window; returns the alerts that started firing."""
        from ..monitoring.alerts import evaluate_rules
        from ..monitoring.monitor import MIN_DRIFT_ROWS

        now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
        start = now - self.window.to_pytimedelta()
        clock = time.monotonic()
        with_drift = self._drift_at is None or clock - self._drift_at >= max(self.interval, DRIFT_EVERY_S)
        if self.latest.get("volume", 0) >= self.offload_rows:
            metrics, n, drift, drift_error = self._read_elsewhere(start, with_drift)
        else:
            metrics, n, drift, drift_error = read_window(self.plog, self.name, start, with_drift, self._drift_cache)
        row: dict[str, Any] = {"window_start": now, "window_end": now, "volume": 0}
        if n:
            row.update(metrics)
            if with_drift:
                self._drift = drift
                if drift_error:
                    self.last_error = drift_error
                if n >= MIN_DRIFT_ROWS:  # below that there is no drift to compute yet
                    self._drift_at = clock
            row.update(self._drift)
        self.latest = row
        if self.metrics is not None:
            for metric, gauge in self.metrics.window.items():
                value = row.get(metric)
                gauge.set(float(value) if value is not None else math.nan)
        self._history.append(row)
        alerts = [a for a in evaluate_rules(list(self._history), self.rules) if a["window_start"] == now]
        firing = {a["rule"]: a for a in alerts}
        started = [a for rule, a in firing.items() if rule not in self.active]
        self.active = firing
        if self.metrics is not None:
            for rule in self.rules:
                self.metrics.alert_active.labels(str(rule)).set(1 if str(rule) in firing else 0)
        for a in started:
            a["message"] = f"{self.name} (last {self.window}): {a['message'].split(': ', 1)[-1]}"
            self.fired.append(a)
            logger.warning("nbt serve alert: %s", a["message"])
            if self.metrics is not None:
                self.metrics.alerts_fired.labels(a["rule"]).inc()
        if started and self.webhook:
            from ..monitoring.alerts import post_webhook

            payload = {"source": "nbt serve", "model": self.name, "window": str(self.window),
                       "alerts": [{k: (str(v) if isinstance(v, dt.datetime) else v) for k, v in a.items()}
                                  for a in started],
                       "latest_window": {k: (str(v) if isinstance(v, dt.datetime) else v)
                                         for k, v in row.items() if k != "f1"}}
            error = post_webhook(self.webhook, payload)
            if error:
                self.webhook_errors.append(error)
        return started

    def _read_elsewhere(self, start: Any, with_drift: bool) -> tuple[dict[str, Any], int, dict[str, Any], str | None]:
        """:func:`read_window` in the helper process (started on first use); here when it cannot run."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        from ..pipeline.executors import spawnable_main

        try:
            with spawnable_main():  # the helper is spawned at the first submit
                if self._pool is None:
                    self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                                     initializer=_helper_started)
                future = self._pool.submit(_read_in_helper, self.plog.url, self.plog.table_name, self.name,
                                           start, with_drift)
            return future.result(timeout=600)
        except (BrokenProcessPool, OSError, RuntimeError) as exc:  # no helper: read here from now on
            logger.warning("nbt serve: the monitoring helper process failed (%s); the window is read in the "
                           "server from now on.", " ".join(str(exc).split())[:300])
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            self.offload_rows = math.inf
            return read_window(self.plog, self.name, start, with_drift, self._drift_cache)


def read_window(plog: Any, name: str, start: Any, with_drift: bool,
                drift_cache: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, Any], str | None]:
    """The window's metrics (as ``nbt monitor`` computes them), its rows, its drift and a drift error."""
    from ..monitoring.monitor import _window_drift, window_metrics

    part = plog.frame(name, start=start, inputs=with_drift)
    if not len(part):
        return {}, 0, {}, None
    drift: dict[str, Any] = {}
    error = None
    if with_drift:
        try:
            drift = _window_drift(part, name, drift_cache, [])
        except Exception as exc:  # drift is one metric among several; report, go on
            error = f"drift: {type(exc).__name__}: {exc}"
            drift = {"drift_share": math.nan}
    return window_metrics(part), len(part), drift, error


_HELPER_LOGS: dict[tuple[str, str], Any] = {}
_HELPER_DRIFT: dict[tuple[str, str, str], dict[str, Any]] = {}


def _helper_started() -> None:
    """In the helper process: below the server in priority, and gone when the server is."""
    import os

    from .lifetime import die_with_parent

    die_with_parent()
    os.nice(10)


def _read_in_helper(url: str, table: str, name: str, start: Any,
                    with_drift: bool) -> tuple[dict[str, Any], int, dict[str, Any], str | None]:
    from ..monitoring import PredictionLog

    plog = _HELPER_LOGS.get((url, table))
    if plog is None:
        plog = _HELPER_LOGS[(url, table)] = PredictionLog(url, table=table)
    return read_window(plog, name, start, with_drift, _HELPER_DRIFT.setdefault((url, table, name), {}))
