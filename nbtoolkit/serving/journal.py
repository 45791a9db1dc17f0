"""The serving journal: every served row is appended to a local file before the response leaves.

The log writer batches rows in memory (in the log-writer helper process), so a killed server
(SIGKILL, out of memory) would lose the rows it had served but not yet written. Each request's rows
are therefore also appended to a journal segment (one ``write`` per request) under the same lock
that queues them: a compact :func:`entry` line (``{"seq": N, "entry": {...}}``); :func:`recover`
also reads the lines of rows (``{"seq": N, "rows": [...]}``) that servers before the helper process
wrote. A clean
shutdown deletes the journal once everything is in the prediction log; on the next start,
:func:`recover` reads what a dead server left, writes to the log the rows that are not there yet
and reports how many. Segments are rotated and dropped while the server runs, once their rows are
in the log.

What this covers by default: the process dying (the operating system still holds the written
bytes). With ``sync=True`` (``--journal-sync``) each request's line is also ``fdatasync``-ed
before its answer leaves — outside the writer's lock, on a duplicate of the descriptor, so
concurrent requests share the disk flushes — and that covers the machine losing power too. Always:
a new segment's directory entry is synced once, and a segment is synced before it is closed (at
rotation, and at shutdown when rows are kept for the next start). A torn last line is reported as
such.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..monitoring.log_store import LogSink

logger = logging.getLogger("nbtoolkit.serving")

SEGMENT_BYTES = 16 * 1024 * 1024
# The order of a row in the journal lines of servers before the helper process (read by recover()).
_FIELDS = ("id", "model_name", "model_version", "alias", "ts", "inputs", "prediction", "confidence",
           "routed_to_human", "probabilities")
# Every column a recovered row must have (one insert takes rows with the same keys): older lines lack some.
_NO_VALUES = dict.fromkeys((*_FIELDS, "contract"))


class Journal:
    """Append-only journal segments ``journal-<pid>-<n>.jsonl`` in ``folder``."""

    def __init__(self, folder: Path, *, log_url: str, segment_bytes: int = SEGMENT_BYTES, sync: bool = False) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.pid = os.getpid()
        self.log_url = log_url
        self.segment_bytes = segment_bytes
        self.sync = sync
        self.syncs = 0  # fdatasync calls that returned (requests made durable)
        self._n = 0
        self._fd: int | None = None
        self._size = 0
        self._last_seq = 0
        self._closed_segments: list[tuple[Path, int]] = []  # (path, last seq it holds)
        self._open()

    def _path(self, n: int) -> Path:
        return segment_path(self.folder, self.pid, n)

    @property
    def segment(self) -> int:
        """The number of the segment being written (1, 2, ...: rotation moves to the next)."""
        return self._n

    def _open(self) -> None:
        self._n += 1
        path = self._path(self._n)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        header = json.dumps({"journal": 1, "pid": self.pid, "log": self.log_url,
                             "started": dt.datetime.now(dt.UTC).isoformat()}) + "\n"
        os.write(self._fd, header.encode())
        self._size = len(header)
        _sync_dir(self.folder)  # the new file's name survives a power loss

    @property
    def current(self) -> Path:
        return self._path(self._n)

    def append_line(self, seq: int, data: bytes) -> int | None:
        """Append one request's line, ``{"seq": N, "entry": {...}}`` (under the shipper's lock, before
        the response is sent).

        With ``sync``, returns a duplicate descriptor for :meth:`make_durable` (outside the lock).
        """
        assert self._fd is not None
        os.write(self._fd, data + b"\n")
        self._size += len(data) + 1
        self._last_seq = seq
        return os.dup(self._fd) if self.sync else None

    def make_durable(self, fd: int | None) -> None:
        """``fdatasync`` what :meth:`append` wrote (a rotation may have closed the original descriptor)."""
        if fd is None:
            return
        try:
            os.fdatasync(fd)
            self.syncs += 1
        finally:
            os.close(fd)

    def _close_segment(self) -> None:
        assert self._fd is not None
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None

    def flushed(self, seq: int) -> None:
        """Rows up to ``seq`` are in the log: rotate a full segment, drop segments fully written."""
        if self._fd is None:  # closed by stop(): what is left stays for the next start
            return
        if self._size >= self.segment_bytes:
            self._close_segment()
            self._closed_segments.append((self.current, self._last_seq))
            self._open()
        keep = []
        for path, last in self._closed_segments:
            if last <= seq:
                path.unlink(missing_ok=True)
            else:
                keep.append((path, last))
        self._closed_segments = keep

    def close(self, *, everything_logged: bool) -> None:
        """Close; delete the segments when every row reached the log, keep them otherwise."""
        if self._fd is not None:
            if everything_logged:
                os.close(self._fd)
                self._fd = None
            else:  # kept for the next start: on the disk, not only in the page cache
                self._close_segment()
        if everything_logged:
            for path, _ in self._closed_segments:
                path.unlink(missing_ok=True)
            self.current.unlink(missing_ok=True)
            self._closed_segments = []


def segment_path(folder: Path, pid: int, n: int) -> Path:
    return Path(folder) / f"journal-{pid}-{n}.jsonl"


class JournalTail:
    """Reads a running server's journal as it grows: the entry lines, in order, across rotations.

    The log-writer helper reads what the server journals instead of receiving a second copy: the
    request's thread writes each entry once. A segment is complete once the next one exists (the
    server closes one before it opens the next); a line is taken once its newline is there.
    """

    def __init__(self, folder: Path, pid: int, segment: int = 1) -> None:
        self.folder = Path(folder)
        self.pid = pid
        self.segment = segment
        self._file: Any = None
        self._rest = b""

    def read(self) -> list[tuple[int, dict[str, Any]]]:
        """The ``(seq, entry)`` of every complete line written since the last call."""
        out: list[tuple[int, dict[str, Any]]] = []
        while True:
            if self._file is None:
                try:
                    self._file = open(segment_path(self.folder, self.pid, self.segment), "rb")  # noqa: SIM115
                except FileNotFoundError:
                    return out
            self._take(self._file.read(), out)
            if not segment_path(self.folder, self.pid, self.segment + 1).exists():
                return out
            self._take(self._file.read(), out)  # the next segment exists: this one is complete
            self._file.close()
            self._file, self._rest = None, b""
            self.segment += 1

    def _take(self, data: bytes, out: list[tuple[int, dict[str, Any]]]) -> None:
        if not data:
            return
        *lines, self._rest = (self._rest + data).split(b"\n")
        for line in lines:
            if line.startswith(b'{"seq":'):
                item = json.loads(line)
                out.append((item["seq"], item["entry"]))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _sync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - a platform without directory descriptors
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------- recovery
@dataclass
class Recovery:
    """What :func:`recover` found in the journals of servers that did not shut down cleanly."""

    files: list[str] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    served: int = 0  # rows those servers had answered
    already_logged: int = 0  # ... that were in the log
    recovered: int = 0  # ... written now
    torn_lines: int = 0  # unreadable (partly written) lines
    skipped: list[str] = field(default_factory=list)  # journals kept, with the reason

    @property
    def found(self) -> bool:
        return bool(self.files or self.skipped)

    def message(self) -> str:
        if not self.found:
            return ""
        parts = []
        if self.files:
            who = ", ".join(map(str, sorted(set(self.pids))))
            parts.append(
                f"the previous server (pid {who}) stopped without shutting down cleanly: of the "
                f"{self.served} prediction(s) its journal holds, {self.already_logged} were in the log and "
                f"{self.recovered} were written to it now")
            if self.torn_lines:
                parts.append(f"{self.torn_lines} partly written journal line(s) could not be read")
        parts.extend(self.skipped)
        return "; ".join(parts) + "."

    def to_dict(self) -> dict[str, Any]:
        return {"files": self.files, "pids": self.pids, "served": self.served,
                "already_logged": self.already_logged, "recovered": self.recovered,
                "torn_lines": self.torn_lines, "skipped": self.skipped}


def recover(folder: Path, plog: LogSink) -> Recovery:
    """Write to ``plog`` the journaled rows of dead servers that are not in it; delete their journals."""
    import os as _os

    out = Recovery()
    folder = Path(folder)
    if not folder.is_dir():
        return out
    by_pid: dict[int, list[Path]] = {}
    for path in sorted(folder.glob("journal-*-*.jsonl")):
        try:
            pid = int(path.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        by_pid.setdefault(pid, []).append(path)
    for pid, paths in by_pid.items():
        if pid != _os.getpid() and _alive(pid):
            continue  # another server serving the same model right now
        rows, torn, url = [], 0, None
        for path in sorted(paths, key=lambda p: int(p.stem.split("-")[2])):
            for line in path.read_bytes().splitlines():
                try:
                    item = json.loads(line)
                except ValueError:
                    torn += 1
                    continue
                if "journal" in item:
                    url = item.get("log", url)
                    continue
                if "entry" in item:
                    rows.extend(entry_rows(item["entry"]))
                else:
                    rows.extend({**_NO_VALUES, **dict(zip(_FIELDS, r))} for r in item.get("rows", ()))
        if url is not None and url != plog.safe_url:
            out.skipped.append(f"journal {paths[0].name} of pid {pid} belongs to the prediction log {url}, "
                               f"not {plog.safe_url}; it was kept")
            continue
        for r in rows:
            if isinstance(r["ts"], str):
                r["ts"] = dt.datetime.fromisoformat(r["ts"])
        present: set[tuple[str, str]] = set()
        for model in {r["model_name"] for r in rows}:
            present.update((model, i) for i in plog.existing_ids([r["id"] for r in rows if r["model_name"] == model],
                                                                  model=model))
        missing = [r for r in rows if (r["model_name"], r["id"]) not in present]
        for start in range(0, len(missing), 1000):
            plog.append(missing[start:start + 1000])
        out.files.extend(str(p) for p in paths)
        out.pids.append(pid)
        out.served += len(rows)
        out.already_logged += len(rows) - len(missing)
        out.recovered += len(missing)
        out.torn_lines += torn
        for path in paths:
            path.unlink(missing_ok=True)
    if out.found:
        logger.warning("nbt serve: %s", out.message())
    return out


def entry(model: str, batch: Any, *, ids: Sequence[str], versions: Sequence[str], aliases: Sequence[str],
          ts: dt.datetime, predictions: Sequence[Any], confidences: Sequence[float | None],
          humans: Sequence[bool], probabilities: Sequence[str | None],
          contract: Sequence[str | None] | None = None) -> dict[str, Any]:
    """One request's outputs and its input columns as parsed: what the server journals and sends.

    Compact (one list per field, no per-row objects) so that the request's thread only runs the C JSON
    encoder over it; :func:`entry_rows` builds the log's rows from it elsewhere. ``contract``: per row,
    what it broke of its version's data contract (JSON) or None; absent when no row broke anything
    (and in the entries of servers before the check, which read back the same).
    """
    item = {"model": model, "ids": list(ids), "versions": list(versions), "aliases": list(aliases),
            "ts": [t.isoformat() for t in batch.timestamps] if batch.timestamps else ts.isoformat(),
            "columns": batch.columns, "values": [batch.values[c] for c in batch.columns],
            "pred": [None if p is None else str(p) for p in predictions], "conf": list(confidences),
            "human": list(humans), "probs": list(probabilities)}
    if contract is not None:
        item["contract"] = list(contract)
    return item


def encode_entry(item: dict[str, Any]) -> str:
    """An :func:`entry` as JSON: one C-encoder call; NaN kept as ``NaN`` (``json.loads`` reads it back)."""
    return _ENTRY.encode(item)


_ENTRY = json.JSONEncoder(separators=(",", ":"), default=str)  # default=str: as the inputs JSON does


def entry_rows(item: dict[str, Any]) -> list[dict[str, Any]]:
    """The prediction-log rows of an :func:`entry` (after a JSON round trip)."""
    from .protocol import Batch

    ids = item["ids"]
    n = len(ids)
    columns = item["columns"]
    batch = Batch(columns=columns, values=dict(zip(columns, item["values"])), n=n, ids=None, timestamps=None)
    stamps = item["ts"]
    if isinstance(stamps, str):
        stamps = [dt.datetime.fromisoformat(stamps)] * n
    else:
        stamps = [dt.datetime.fromisoformat(t) for t in stamps]
    model = item["model"]
    flags = item.get("contract") or [None] * n
    return [{"id": i, "model_name": model, "model_version": v, "alias": a, "ts": t, "inputs": x, "prediction": p,
             "confidence": c, "routed_to_human": h, "probabilities": q, "contract": f}
            for i, v, a, t, x, p, c, h, q, f in zip(ids, item["versions"], item["aliases"], stamps,
                                                    batch.records_json(), item["pred"], item["conf"], item["human"],
                                                    item["probs"], flags)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
