"""The settings of one ``nbt serve`` (checked before anything starts; passed to worker processes)."""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadInput

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)[bB]?\s*$")
ENV = "NBT_SERVE_SETTINGS"


@dataclass
class ServeSettings:
    """Everything ``nbt serve`` takes (see :func:`nbtoolkit.serving.serve` for the meaning)."""

    name: str
    host: str = "127.0.0.1"
    port: int = 8080
    traffic: float = 0.1
    threshold: float | None = None
    predictions_url: str | None = None
    workers: int = 1
    champion: str = "champion"
    challenger: str = "challenger"
    poll_interval: float = 5.0
    max_body: int = 5 * 1024 * 1024
    max_rows: int = 100_000
    alerts: list[str] = field(default_factory=list)
    webhook: str | None = None
    window: str = "1h"
    monitor_interval: float = 30.0
    log_batch: int = 1000
    log_queue_rows: int = 50_000
    log_queue_bytes: int = 64 * 1024 * 1024
    log_linger: float = 0.05
    drain_timeout: float = 30.0
    journal_dir: str | None = None
    journal_sync: bool = False
    access_log: bool = False
    require_signature: bool = False

    def check(self) -> ServeSettings:
        """Validate every field; :class:`BadInput` with one sentence on the first bad one."""
        from ..refs import check_alias, check_name

        check_name(self.name)
        check_alias(self.champion)
        check_alias(self.challenger)
        self.traffic = _number(self.traffic, "--traffic", 0.0, 1.0, "a share between 0 and 1, e.g. 0.1")
        if self.threshold is not None:
            self.threshold = _number(self.threshold, "--threshold", 0.0, 1.0, "a confidence between 0 and 1")
        self.port = int(_number(self.port, "--port", 0, 65535, "a port number (0 picks a free one)"))
        self.workers = int(_number(self.workers, "--workers", 1, 64, "a number of processes from 1 to 64"))
        self.poll_interval = _number(self.poll_interval, "--poll", 0.05, 86400, "seconds, e.g. 5")
        self.monitor_interval = _number(self.monitor_interval, "--monitor-interval", 0.05, 86400, "seconds")
        self.max_body = parse_size(self.max_body, "--max-body")
        self.log_batch = int(_number(self.log_batch, "--log-batch", 1, 1_000_000, "rows per transaction"))
        self.log_queue_rows = int(_number(self.log_queue_rows, "--log-queue", 1, 100_000_000, "rows"))
        self.log_linger = _number(self.log_linger, "--log-linger", 0.0, 86400, "seconds")
        if not isinstance(self.journal_sync, bool):
            raise BadInput(f"journal_sync must be True or False, got {self.journal_sync!r}.")
        if not isinstance(self.require_signature, bool):
            raise BadInput(f"require_signature must be True or False, got {self.require_signature!r}.")
        if self.journal_dir is not None:
            self.journal_dir = _journal_dir(self.journal_dir)
        if not isinstance(self.host, str) or not self.host.strip():
            raise BadInput(f"--host must be an address such as 127.0.0.1, got {self.host!r}.")
        if self.webhook is not None and not re.match(r"^https?://", str(self.webhook)):
            raise BadInput(f"The webhook must be an http(s) URL, got {self.webhook!r}.")
        from ..monitoring import AlertRule, parse_window

        for rule in self.alerts:
            AlertRule.parse(rule)
        parse_window(self.window)
        return self

    def to_env(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_env(cls, text: str) -> ServeSettings:
        return cls(**json.loads(text))


def _number(value: Any, flag: str, low: float, high: float, what: str) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise BadInput(f"{flag} must be {what}, got {value!r}.") from None
    if not low <= f <= high:
        raise BadInput(f"{flag} must be {what}, got {value!r}.")
    return f


def _journal_dir(value: Any) -> str:
    """``--journal-dir`` as a string once it is a folder, or can be made one, that this process can write."""
    import os
    import tempfile
    from pathlib import Path

    what = "a folder this server can write (it is created if missing)"
    if not isinstance(value, (str, os.PathLike)) or not str(value).strip() or "\0" in str(value):
        raise BadInput(f"--journal-dir must be {what}, got {value!r}.")
    path = Path(value).expanduser()
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        where = "is a file" if existing == path else f"is below the file {str(existing)!r}"
        raise BadInput(f"--journal-dir {str(value)!r} {where}; give {what}.")
    try:  # an unnamed file (O_TMPFILE where the system has it): nothing is left behind
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as exc:
        raise BadInput(f"--journal-dir {str(value)!r} cannot be written ({exc.strerror or exc}); "
                       f"give {what}.") from None
    return str(path)


def parse_size(value: Any, flag: str = "--max-body") -> int:
    """``5MB``, ``512k``, ``1048576`` → bytes."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    m = _SIZE.match(str(value))
    if not m or float(m[1]) <= 0:
        raise BadInput(f"{flag} must be a size such as 5MB, 512kB or 1048576, got {value!r}.")
    scale = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}[m[2].lower()]
    return int(float(m[1]) * scale)
