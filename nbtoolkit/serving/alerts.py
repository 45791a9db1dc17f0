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
on, the window is therefore read and its metrics computed in a helper process
(:class:`~nbtoolkit.helper_process.HelperProcess`, started at the first such window, at a lower
priority, gone with the server), and only the metrics come back.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..helper_process import Channel, HelperProcess, attempt, reply

if TYPE_CHECKING:
    from ..monitoring.log import PredictionLog
    from ..monitoring.log_store import LogSource
    from ..reports.monitoring import Alert

logger = logging.getLogger("nbtoolkit.serving")
HISTORY = 8  # evaluations kept for anomaly rules (the rule looks at the previous 7)
DRIFT_EVERY_S = 300.0  # drift needs every input of the window: recomputed at most this often
OFFLOAD_ROWS = 5_000  # a window this large (at the last evaluation) is read in a helper process


class LiveMonitor:
    """Evaluates ``rules`` on the rolling window of ``name`` every ``interval`` seconds."""

    def __init__(self, name: str, plog: PredictionLog, *, rules: list[str], window: str = "1h", interval: float = 30.0,
                 webhook: str | None = None, metrics: Any = None, lock_path: Path | None = None,
                 offload_rows: float = OFFLOAD_ROWS, rollout: Any = None) -> None:
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
        self.rollout = rollout  # rollout.Rollout: decided after each evaluation, by this worker only
        self._helper: HelperProcess | None = None
        self.latest: dict[str, Any] = {}
        self.active: dict[str, Alert] = {}
        self.fired: list[Alert] = []
        self.webhook_errors: list[str] = []
        self.last_error: str | None = None
        self._history: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self._drift_cache: dict[str, Any] = {}
        self._drift: dict[str, Any] = {}
        self._drift_at: float | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()  # outcomes arrived: evaluate now, not at the next interval
        self.outcome_batches = 0  # /outcomes requests recorded so far (nudge)
        self._count_lock = threading.Lock()
        self.decided = 0  # of them, those the last finished rollout decision had seen
        self.decided_at: float | None = None  # when it finished (its move is in the registry by then)
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
        self._wake.set()
        if self._helper is not None:
            self._helper.close(0)

    def nudge(self) -> None:
        """New outcomes were recorded: evaluate (and decide the rollout) now rather than at the next
        interval, so a staged rollout moves when its evidence arrives. Only the worker that evaluates counts."""
        if self._thread is None:
            return
        with self._count_lock:  # request threads nudge concurrently
            self.outcome_batches += 1
        self._wake.set()

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
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            seen = self.outcome_batches
            try:
                self.evaluate()
                self.last_error = None
                if self.rollout is not None:
                    self.rollout.evaluate(self.active)
                    self.decided, self.decided_at = seen, time.time()
            except Exception as exc:  # the monitor must never take the server down
                self.last_error = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
                logger.warning("nbt serve: live monitoring failed: %s", self.last_error)

    def evaluate(self, now: Any = None) -> list[Alert]:
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
        try:
            if self._helper is None:
                self._helper = HelperProcess("nbtoolkit.serving.alerts:_window_helper", codec="pickle", nice=10)
            answer: tuple[dict[str, Any], int, dict[str, Any], str | None] = self._helper.call(
                (self.plog.url, self.plog.table_name, self.name, start, with_drift))
            return answer
        except (EOFError, OSError) as exc:  # no helper: read here from now on
            if not self._stop.is_set():
                logger.warning("nbt serve: the monitoring helper process failed (%s); the window is read in "
                               "the server from now on.", " ".join(str(exc).split())[:300] or type(exc).__name__)
            if self._helper is not None:
                self._helper.close(0)
            self._helper = None
            self.offload_rows = math.inf
            return read_window(self.plog, self.name, start, with_drift, self._drift_cache)


def read_window(plog: LogSource, name: str, start: Any, with_drift: bool,
                drift_cache: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, Any], str | None]:
    """The window's metrics (as ``nbt monitor`` computes them), its rows, its drift and a drift error."""
    from ..monitoring.monitor import _window_drift
    from ..monitoring.window import window_metrics

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


def _window_helper(channel: Channel) -> int:
    """The helper process: ``(url, table, name, start, with_drift)`` → :func:`read_window`'s answer."""
    from ..monitoring import PredictionLog

    import functools

    logs: dict[tuple[str, str], Any] = {}  # the log stays open, the drift profiles cached, between windows
    drift_caches: dict[tuple[str, str, str], dict[str, Any]] = {}

    def read(url: str, table: str, name: str, start: Any,
             with_drift: bool) -> tuple[dict[str, Any], int, dict[str, Any], str | None]:
        plog = logs.get((url, table))
        if plog is None:
            plog = logs[(url, table)] = PredictionLog(url, table=table)
        return read_window(plog, name, start, with_drift, drift_caches.setdefault((url, table, name), {}))

    while True:
        try:
            request = channel.receive()
        except EOFError:
            return 0
        reply(channel, attempt(functools.partial(read, *request)))
