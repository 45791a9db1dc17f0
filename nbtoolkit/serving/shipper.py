"""The prediction log written from a helper process: the server journals, the helper writes.

Building the log rows (one JSON ``inputs`` object per row) and inserting them cost a 100-row request
about as much interpreter time as the model's own scoring; in the serving process they took the
interpreter lock from the requests (``benchmarks/serve.py``: 100-row throughput 0.84–0.92× MLflow's
with the writer thread, 1.0–1.2× with the writes here). So a request's thread only encodes one
compact *entry* (ids, outputs, the input columns as parsed) with the C JSON encoder and appends it to
the journal — on the disk before the answer leaves, as before — and that is all: the helper process
(:class:`~nbtoolkit.helper_process.HelperProcess`, ``finish=True``: it writes what it holds when the
server goes) reads the journal as it grows (:class:`~.journal.JournalTail`), turns entries into rows
and writes them with the batching :class:`~.logwriter.LogWriter` (its back-off, its per-request
retry of duplicate ids), then acknowledges written requests in frames back; the server drops
acknowledged journal segments as before. Without a journal, the entries go to it in frames.

The helper runs at a lower priority (``HELPER_NICE``): on a machine whose other core is busy, the
requests get the CPU first and the log catches up when they leave it some (its queue is bounded by
``log_queue_rows``/``log_queue_bytes`` as before: 503 when full) — with the writer at the server's
priority, 100-row throughput fell to 0.6–0.8× MLflow's with one core busy (``BUSY=1``).

What the server keeps: the bounded queue (rows sent and not yet acknowledged; 503 when full), the
ids waiting (duplicate check, ``/outcomes`` waiting for its ids), the metrics, ``/health``.
If the helper dies, ``/health`` answers 503 and requests are refused; what it had not written is in
the journal for the next start. SIGKILL of the whole process group loses nothing the journal holds,
exactly as before.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from ..helper_process import Channel, HelperProcess
from .journal import encode_entry
from .logwriter import DuplicateId, InFlight, QueueFull

logger = logging.getLogger("nbtoolkit.serving")
HELPER_NICE = 10  # the log waits for the requests, not the other way round
POLL_S = 0.02  # how often the helper looks for new journal lines (a flush or stop wakes it at once)


class LogShipper(InFlight):
    """The server's side: journal an entry, send it to the helper, track acknowledgements.

    Same surface as :class:`~.logwriter.LogWriter` for :class:`~.service.Service`: ``start``,
    ``alive``, ``queued_rows``, ``check_pending``, ``submit``, ``flush``, ``stop``, ``written``,
    ``rejected``, ``last_error``, ``journal``.
    """

    def __init__(self, log_url: str, *, journal: Any, max_rows: int = 50_000,
                 max_bytes: int = 64 * 1024 * 1024, batch_rows: int = 1000, linger: float = 0.05,
                 metrics: Any = None, safe_url: str | None = None) -> None:
        self.log_url = log_url
        self.safe_url = safe_url or log_url
        self.journal = journal
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.metrics = metrics
        self._config = {"log_url": log_url, "batch_rows": batch_rows, "linger": linger}
        self._cond = threading.Condition()
        self._waiting: deque[tuple[int, list[str], int]] = deque()  # (seq, ids, nbytes) not acknowledged
        self._pending: set[str] = set()
        self._rows = 0
        self._bytes = 0
        self._seq = 0
        self._flushed_seq = 0  # the last request the helper acknowledged
        self._helper: HelperProcess | None = None
        self._reader: threading.Thread | None = None
        self._ready = threading.Event()
        self._dead: str | None = None
        self.written = 0
        self.rejected = 0
        self.last_error: str | None = None
        self.last_error_at: float | None = None

    # ------------------------------------------------------------------ life
    def spawn(self) -> LogShipper:
        """Start the helper process (it imports and connects while the models load)."""
        self._helper = HelperProcess("nbtoolkit.serving.shipper:_helper", finish=True, nice=HELPER_NICE,
                                     env={"PYTHONUNBUFFERED": "1"})
        journal = None if self.journal is None else {
            "folder": str(self.journal.folder), "pid": self.journal.pid, "segment": self.journal.segment}
        self._helper.channel.send({**self._config, "journal": journal})
        self._reader = threading.Thread(target=self._read_acks, name="nbt-log-acks", daemon=True)
        self._reader.start()
        return self

    def start(self, timeout: float = 120.0) -> LogShipper:
        """Spawn the helper if needed and wait until it is connected to the log (StoreUnavailable if not)."""
        if self._helper is None:
            self.spawn()
        if not self._ready.wait(timeout) or self._dead:
            from ..errors import StoreUnavailable

            raise StoreUnavailable(f"The prediction-log helper process did not start ({self._dead or 'timed out'}).")
        return self

    @property
    def alive(self) -> bool:
        return self._dead is None and self._helper is not None and self._helper.alive

    @property
    def queued_rows(self) -> int:
        return self._rows

    # ------------------------------------------------------------------ request side
    def submit(self, entry: dict[str, Any]) -> int:
        """Journal ``entry`` (one request's outputs, see :func:`~.journal.entry_rows`): the helper reads it there.

        :class:`QueueFull` when over the cap or the helper is gone (nothing journaled then).
        """
        ids = entry["ids"]
        n = len(ids)
        durable = None
        with self._cond:
            if self._dead is not None or not self.alive:
                raise QueueFull(f"the prediction-log helper process is not running ({self._dead or 'exited'})")
            for i in ids:
                if i in self._pending:
                    raise DuplicateId(i)
            self._seq += 1
            line = f'{{"seq":{self._seq},"entry":{encode_entry(entry)}}}'.encode()
            nbytes = len(line)
            if self._rows and (self._rows + n > self.max_rows or self._bytes + nbytes > self.max_bytes):
                self._seq -= 1
                raise QueueFull(f"{self._rows} rows are waiting to be logged (cap {self.max_rows})")
            self._waiting.append((self._seq, ids, nbytes))
            self._pending.update(ids)
            self._rows += n
            self._bytes += nbytes
            if self.journal is not None:
                durable = self.journal.append_line(self._seq, line)
            else:
                try:
                    self._send(line)
                except OSError as exc:
                    self._dead = f"the pipe to it broke ({exc})"
            if self.metrics is not None:
                self.metrics.log_queue_rows.set(self._rows)
            seq = self._seq
        if durable is not None:
            self.journal.make_durable(durable)
        return seq

    def flush(self, ids: Sequence[str] | None = None, *, timeout: float = 10.0) -> bool:
        """Ask the helper to write now; wait until ``ids`` (default: everything sent) are in the log."""
        deadline = time.monotonic() + timeout
        with self._cond:
            try:
                self._send_message({"flush": True})
            except OSError:
                return False
            return self._wait_written(ids, self._seq, deadline)

    def stop(self, timeout: float = 30.0) -> int:
        """Drain: the helper writes what it holds (retrying until ``timeout``); returns the rows left."""
        if self._helper is not None:
            with self._cond, contextlib.suppress(OSError):
                self._send_message({"stop": timeout})
            self._helper.close(timeout + 10, keep_reading=True)
            if self._reader is not None:
                self._reader.join(10)
            self._helper.close_reading()
        with self._cond:
            left = self._rows
            if self.journal is not None:
                self.journal.close(everything_logged=left == 0)
        if left:
            kept = f"; they are kept in {self.journal.folder} and written on the next start" if self.journal else ""
            logger.error("nbt serve: %d served prediction(s) could not be written to the log at %s%s.",
                         left, self.safe_url, kept)
        return left

    # ------------------------------------------------------------------ pipes
    def _send(self, payload: bytes) -> None:
        assert self._helper is not None
        self._helper.channel.send_encoded(payload)

    def _send_message(self, message: dict[str, Any]) -> None:
        assert self._helper is not None
        self._helper.channel.send(message)

    def _read_acks(self) -> None:
        assert self._helper is not None
        while True:
            try:
                msg = self._helper.channel.receive()
            except (EOFError, OSError, ValueError):
                break
            if "ready" in msg:
                self._ready.set()
                continue
            if "failed" in msg:
                self._dead = msg["failed"]
                self._ready.set()
                continue
            self._apply(msg)
        with self._cond:
            if self._dead is None:
                code = self._helper.proc.poll()
                self._dead = f"it exited with code {code}" if code else "it exited"
            self._ready.set()
            self._cond.notify_all()

    def _apply(self, msg: dict[str, Any]) -> None:
        m = self.metrics
        with self._cond:
            acked = msg.get("acked", self._flushed_seq)
            while self._waiting and self._waiting[0][0] <= acked:
                _, ids, nbytes = self._waiting.popleft()
                self._pending.difference_update(ids)
                self._rows -= len(ids)
                self._bytes -= nbytes
            if acked > self._flushed_seq:
                self._flushed_seq = acked
                if self.journal is not None:
                    self.journal.flushed(acked)
            self.written += msg.get("written", 0)
            self.rejected += msg.get("rejected", 0)
            if "error" in msg:
                self.last_error = msg["error"]
                self.last_error_at = time.time() if msg["error"] else self.last_error_at
            self._cond.notify_all()
            rows = self._rows
        if m is not None:
            m.log_queue_rows.set(rows)
            if msg.get("written"):
                m.log_rows_written.inc(msg["written"])
            if msg.get("rejected"):
                m.log_rows_rejected.inc(msg["rejected"])
            if msg.get("errors"):
                m.log_write_errors.inc(msg["errors"])
            for s in msg.get("seconds", ()):
                m.log_write_seconds.observe(s)


# ---------------------------------------------------------------------------------- the helper
class _Tally:
    """What the helper's LogWriter reports as metrics, summed until the next message to the server.

    The writer thread adds, the writer and status threads take: one lock, so no count is lost.
    """

    class _Count:
        def __init__(self, lock: threading.Lock) -> None:
            self.n = 0
            self._lock = lock

        def inc(self, n: int = 1) -> None:
            with self._lock:
                self.n += n

    class _Times:
        def __init__(self, lock: threading.Lock) -> None:
            self.values: list[float] = []
            self._lock = lock

        def observe(self, v: float) -> None:
            with self._lock:
                self.values.append(round(v, 6))

    class _Gauge:
        def set(self, v: float) -> None:  # the server keeps the queue's gauge itself
            pass

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.log_rows_written = self._Count(self._lock)
        self.log_rows_rejected = self._Count(self._lock)
        self.log_write_errors = self._Count(self._lock)
        self.log_write_seconds = self._Times(self._lock)
        self.log_queue_rows = self._Gauge()

    def take(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        with self._lock:
            for key, counter in (("written", self.log_rows_written), ("rejected", self.log_rows_rejected),
                                 ("errors", self.log_write_errors)):
                if counter.n:
                    out[key], counter.n = counter.n, 0
            if self.log_write_seconds.values:
                out["seconds"], self.log_write_seconds.values = self.log_write_seconds.values, []
        return out


def _helper(channel: Channel) -> int:
    """The helper process: entry frames → rows → LogWriter; acknowledgements in frames back.

    The end of the channel (the server closed it, or died mid-frame: the journal has that entry)
    drains what the writer holds.
    """
    from ..monitoring import PredictionLog
    from .journal import JournalTail, entry_rows
    from .logwriter import LogWriter

    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    def say(msg: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):  # the server is gone: written rows are in the log, the rest in its journal
            channel.send(msg)

    def frame() -> Any:
        try:
            return channel.receive()
        except EOFError:
            return None

    config = frame()
    if config is None:
        return 0
    try:
        plog = PredictionLog(config["log_url"])
        plog.existing_ids([])
    except Exception as exc:  # reported to the server, which refuses to start
        say({"failed": " ".join(str(exc).split())})
        return 2
    tally = _Tally()
    state: dict[str, str | None] = {"error": None}
    lock = threading.Lock()

    def report(seq: int | None = None) -> None:
        with lock:
            msg = tally.take()
            if seq is not None:
                msg["acked"] = seq
            if writer.last_error != state["error"]:
                state["error"] = msg["error"] = writer.last_error
            if msg:
                say(msg)

    writer = LogWriter(plog, batch_rows=int(config["batch_rows"]), linger=float(config["linger"]),
                       max_rows=sys.maxsize, max_bytes=sys.maxsize, metrics=tally, on_flushed=report)
    writer.start()
    say({"ready": True})

    def watch() -> None:  # errors and retries while nothing is acknowledged
        while writer.alive:
            time.sleep(0.25)
            report()

    threading.Thread(target=watch, name="nbt-log-status", daemon=True).start()
    stop_timeout = 30.0
    if config.get("journal") is None:  # the entries come in frames
        while (item := frame()) is not None:
            if "flush" in item:
                writer.flush(timeout=0)
                continue
            if "stop" in item:
                stop_timeout = float(item["stop"])
                break
            writer.submit(entry_rows(item["entry"]), 0, seq=item["seq"])
    else:
        stop_timeout = _ship_journal(JournalTail(**config["journal"]), writer, frame)
    left = writer.stop(stop_timeout)  # a closed channel (the server died) drains too
    report()
    return 1 if left else 0


def _ship_journal(tail: Any, writer: Any, frame: Any) -> float:
    """Hand ``writer`` each entry the server journals, until it says stop (or its channel ends,
    then everything journaled is still read); the drain timeout it gave."""
    from .journal import entry_rows

    wake = threading.Event()
    asked: dict[str, Any] = {"flush": False, "stop": None}

    def listen() -> None:  # flush / stop from the server; the end of the channel is a stop
        while (item := frame()) is not None:
            if "stop" in item:
                asked["stop"] = float(item["stop"])
                break
            asked["flush"] = asked["flush"] or "flush" in item
            wake.set()
        if asked["stop"] is None:
            asked["stop"] = 30.0
        wake.set()

    threading.Thread(target=listen, name="nbt-log-control", daemon=True).start()
    try:
        while True:
            wake.clear()
            stopping = asked["stop"] is not None  # read before the journal: its last lines are in
            flushing, asked["flush"] = asked["flush"], False
            for seq, entry in tail.read():
                writer.submit(entry_rows(entry), 0, seq=seq)
            if flushing:
                writer.flush(timeout=0)
            if stopping:
                return float(asked["stop"])
            wake.wait(POLL_S)
    finally:
        tail.close()
