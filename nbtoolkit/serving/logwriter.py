"""The batching prediction-log writer behind a bounded queue.

``nbt serve`` runs it in its log-writer helper process (:mod:`.shipper`), whose server journals
each request before handing it over. :meth:`LogWriter.submit` queues one request's rows; one
background thread writes what accumulated as one transaction (``PredictionLog.append``). So a
busy server writes few large transactions instead of one per request.

Never silent loss:

- the queue is bounded in rows and bytes; when it is full :meth:`submit` raises
  :class:`QueueFull` (the server answers 503, nothing was logged, the client may retry);
- when the database is unreachable the writer keeps its batch and retries with back-off; the queue
  fills and the server answers 503 until it is back;
- a batch with an id already in the log (another writer got there first) is retried request by
  request; the requests that still fail are counted (``nbt_log_rows_rejected_total``) and logged
  as errors with their ids;
- :meth:`stop` drains the queue (SIGTERM) and says how many rows could not be written.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import BadInput, StoreUnavailable

if TYPE_CHECKING:
    from ..monitoring.log_store import LogSink

logger = logging.getLogger("nbtoolkit.serving")


class QueueFull(Exception):
    """The log queue is at its cap: answer 503 and log nothing."""


class DuplicateId(Exception):
    """An id of the request is already waiting in the queue."""

    def __init__(self, ident: str) -> None:
        super().__init__(ident)
        self.ident = ident


@dataclass
class _Group:
    seq: int
    rows: list[dict[str, Any]]
    nbytes: int


class InFlight:
    """The ids handed to a writer and not yet in the log, and waiting for them.

    Shared by :class:`LogWriter` and :class:`~.shipper.LogShipper`: they hold ``_cond``,
    ``_pending``, ``_seq`` (the last request handed over) and ``_flushed_seq`` (the last written).
    """

    _cond: threading.Condition
    _pending: set[str]
    _seq: int
    _flushed_seq: int

    @property
    def alive(self) -> bool:
        raise NotImplementedError

    def check_pending(self, ids: Sequence[str]) -> None:
        """:class:`DuplicateId` when one of ``ids`` is waiting in the queue."""
        with self._cond:
            for i in ids:
                if i in self._pending:
                    raise DuplicateId(i)

    def _wait_written(self, ids: Sequence[str] | None, target: int, deadline: float) -> bool:
        """Under ``_cond``: wait until ``ids`` (else every request up to ``target``) are written."""
        while True:
            done = (not any(i in self._pending for i in ids)) if ids is not None else self._flushed_seq >= target
            if done:
                return True
            left = deadline - time.monotonic()
            if left <= 0 or not self.alive:
                return False
            self._cond.wait(min(left, 0.5))


class LogWriter(InFlight):
    """Batches rows into ``plog`` from one thread.

    Parameters
    ----------
    plog : a :class:`~nbtoolkit.monitoring.PredictionLog`
    max_rows, max_bytes : queue cap (rows waiting or being written)
    batch_rows : rows per transaction at most
    linger : seconds to wait for more rows before writing a small batch
    metrics : a :class:`~nbtoolkit.serving.metrics.ServingMetrics`, or None
    on_flushed : called with the last sequence number written after each transaction, or None
    """

    def __init__(self, plog: LogSink, *, max_rows: int = 50_000,
                 max_bytes: int = 64 * 1024 * 1024, batch_rows: int = 1000, linger: float = 0.05,
                 metrics: Any = None, on_flushed: Callable[[int], None] | None = None) -> None:
        self.plog = plog
        self.on_flushed = on_flushed
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.batch_rows = batch_rows
        self.linger = linger
        self.metrics = metrics
        self._cond = threading.Condition()
        self._queue: deque[_Group] = deque()
        self._pending: set[str] = set()  # ids queued or being written
        self._rows = 0  # queued or being written
        self._bytes = 0
        self._seq = 0
        self._flushed_seq = 0
        self._flush_asap = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.written = 0
        self.rejected = 0
        self.last_error: str | None = None
        self.last_error_at: float | None = None

    # ------------------------------------------------------------------ request side
    def start(self) -> LogWriter:
        self._thread = threading.Thread(target=self._run, name="nbt-log-writer", daemon=True)
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def queued_rows(self) -> int:
        return self._rows

    def submit(self, rows: list[dict[str, Any]], nbytes: int, *, seq: int | None = None) -> int:
        """Queue one request's rows; :class:`QueueFull` when over the cap.

        ``seq``: the request's number when the caller numbers them (increasing), else the next one.
        """
        n = len(rows)
        with self._cond:
            if self._stopping:
                raise QueueFull("the server is shutting down")
            if self._rows and (self._rows + n > self.max_rows or self._bytes + nbytes > self.max_bytes):
                raise QueueFull(f"{self._rows} rows are waiting to be logged (cap {self.max_rows})")
            for r in rows:
                if r["id"] in self._pending:
                    raise DuplicateId(r["id"])
            self._seq = self._seq + 1 if seq is None else seq
            self._queue.append(_Group(self._seq, rows, nbytes))
            self._pending.update(r["id"] for r in rows)
            self._rows += n
            self._bytes += nbytes
            if self.metrics is not None:
                self.metrics.log_queue_rows.set(self._rows)
            if self._rows >= self.batch_rows or len(self._queue) == 1:
                self._cond.notify_all()
            return self._seq

    def flush(self, ids: Sequence[str] | None = None, *, timeout: float = 10.0) -> bool:
        """Write now; wait until ``ids`` (default: everything queued so far) are in the log."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._flush_asap = True
            self._cond.notify_all()
            return self._wait_written(ids, self._seq, deadline)

    def stop(self, timeout: float = 30.0) -> int:
        """Drain the queue (retrying a failing database until ``timeout``); returns the rows left."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._cond:
            left = self._rows
        if left:
            logger.error("nbt serve: %d served prediction(s) could not be written to the log at %s.",
                         left, self.plog.safe_url)
        return left

    # ------------------------------------------------------------------ writer thread
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue:
                    return
                if not self._stopping and not self._flush_asap and self._rows < self.batch_rows and self.linger > 0:
                    until = time.monotonic() + self.linger
                    while (not self._stopping and not self._flush_asap and self._rows < self.batch_rows
                           and (left := until - time.monotonic()) > 0):
                        self._cond.wait(left)
                groups: list[_Group] = []
                n = 0
                for g in self._queue:
                    if groups and n + len(g.rows) > self.batch_rows:
                        break
                    groups.append(g)
                    n += len(g.rows)
                self._flush_asap = False
            ok = self._write(groups)
            with self._cond:
                if ok:
                    for _ in groups:
                        self._queue.popleft()
                    for g in groups:
                        self._pending.difference_update(r["id"] for r in g.rows)
                        self._rows -= len(g.rows)
                        self._bytes -= g.nbytes
                    self._flushed_seq = groups[-1].seq
                    self._cond.notify_all()
                if self.metrics is not None:
                    self.metrics.log_queue_rows.set(self._rows)
            if ok and self.on_flushed is not None:
                self.on_flushed(groups[-1].seq)

    def _write(self, groups: list[_Group]) -> bool:
        """Write ``groups`` in one transaction; True once they are settled (written or rejected)."""
        rows = [r for g in groups for r in g.rows]
        backoff = 0.1
        while True:
            t0 = time.perf_counter()
            try:
                self.plog.append(rows)
                self._done(len(rows), time.perf_counter() - t0)
                return True
            except BadInput:
                for g in groups:  # find the request(s) whose ids another writer logged first
                    try:
                        self.plog.append(g.rows)
                        self._done(len(g.rows), 0.0)
                    except BadInput:
                        self.rejected += len(g.rows)
                        if self.metrics is not None:
                            self.metrics.log_rows_rejected.inc(len(g.rows))
                        logger.error("nbt serve: %d prediction(s) were served but not logged: their ids are "
                                     "already in the log (e.g. %r).", len(g.rows), g.rows[0]["id"])
                return True
            except StoreUnavailable as exc:
                self.last_error, self.last_error_at = str(exc), time.time()
                if self.metrics is not None:
                    self.metrics.log_write_errors.inc()
                logger.warning("nbt serve: %s Retrying in %.1f s.", exc, backoff)
                with self._cond:  # also while stopping: stop()'s join timeout bounds the drain
                    self._cond.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def _done(self, n: int, seconds: float) -> None:
        self.written += n
        self.last_error = None
        if self.metrics is not None:
            self.metrics.log_rows_written.inc(n)
            if seconds:
                self.metrics.log_write_seconds.observe(seconds)
