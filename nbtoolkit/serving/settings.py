"""The settings of one ``nbt serve``, described once: each field declares its default, its flag and help.

::

    ServeSettings          the fields (a frozen dataclass); ``field(metadata=Option(...))`` per field
    ServeSettings.checked  values from the API or the parsed flags → settings, validated once
    add_arguments          the ``nbt serve`` / ``%nbt serve`` argparse options, generated from the fields
    from_namespace         parsed options → keyword values for :meth:`ServeSettings.checked`
    to_json / from_json    how a background server and ``--workers N`` processes receive the settings
                           (``NBT_SERVE_SETTINGS``): every field, nothing re-parsed, nothing re-checked
    public                 the settings as ``GET /version`` reports them (URLs that may hold a secret
                           as a fingerprint)

A field added here reaches the parser, the background child and the workers without another edit;
``tests/test_serve_settings.py`` starts a real background server and compares every field it reports.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, get_type_hints

from ..errors import BadInput, NbtError

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)[bB]?\s*$")
ENV = "NBT_SERVE_SETTINGS"


@dataclass(frozen=True)
class Option:
    """How one setting is spelt on the command line (``flag=None``: an API-only tuning value; a flag
    without dashes: a positional argument).

    ``cli_default`` is what argparse holds when the flag is absent, when it is not the field's own
    default (``--max-body`` shows ``5MB``; the field holds bytes); ``old`` are hidden spellings that
    are still accepted; ``shared`` means the command layer adds the flag (``--require-signature`` is
    one option for every command that reads a version); ``secret`` means ``/version`` shows a
    fingerprint, never the value.
    """

    flag: str | None = None
    help: str = ""
    metavar: str | None = None
    old: tuple[str, ...] = ()
    cli_default: Any = None
    shared: bool = False
    secret: bool = False


def _setting(default: Any, flag: str | None = None, help: str = "", **option: Any) -> Any:
    return field(default=default, metadata={"option": Option(flag, help, **option)})


@dataclass(frozen=True)
class ServeSettings:
    """Everything ``nbt serve`` takes (see :func:`nbtoolkit.serving.serve` for the meaning).

    Build it with :meth:`checked` (validates and normalises once); a process that receives it
    (:meth:`from_json`) trusts it.
    """

    name: str = field(metadata={"option": Option("name", "registered model name (NAME@champion is served)",
                                                 metavar="NAME")})
    host: str = _setting("127.0.0.1", "--host", "address to listen on (default 127.0.0.1)")
    port: int = _setting(8080, "--port", "port (default 8080; 0 picks a free one)")
    traffic: float = _setting(0.1, "--traffic", "share of ids routed to NAME@challenger when it exists "
                              "(default 0.1)", metavar="SHARE")
    threshold: float | None = _setting(None, "--threshold", "hand predictions under this confidence to a "
                                       "human (default: the serving version's saved threshold)",
                                       metavar="CONFIDENCE")
    predictions_url: str | None = _setting(None, "--predictions-url", "prediction-log SQLAlchemy URL "
                                           "(default: NBT_PREDICTIONS_URL or <home>/predictions.db)",
                                           metavar="URL", old=("--log-url",), secret=True)
    workers: int = _setting(1, "--workers", "worker processes (default 1)")
    champion: str = _setting("champion", "--champion", "champion alias (default champion)", metavar="ALIAS")
    challenger: str = _setting("challenger", "--challenger", "challenger alias (default challenger)",
                               metavar="ALIAS")
    poll_interval: float = _setting(5.0, "--poll", "how often aliases are re-read: a promote/rollback takes "
                                    "effect within it (default 5)", metavar="SECONDS")
    alerts: tuple[str, ...] = _setting((), "--alert", "live alert rule over the rolling window, as nbt "
                                       "monitor: 'human_share>0.4', 'anomaly:volume' (repeatable)",
                                       metavar="RULE")
    webhook: str | None = _setting(None, "--webhook", "POST fired alerts here (JSON)", metavar="URL",
                                   secret=True)
    window: str = _setting("1h", "--window", "rolling monitoring window (default 1h)")
    monitor_interval: float = _setting(30.0, "--monitor-interval", "how often the window is evaluated "
                                       "(default 30)", metavar="SECONDS")
    max_body: int = _setting(5 * 1024 * 1024, "--max-body", "request body limit (default 5MB)", metavar="SIZE",
                             cli_default="5MB")
    max_rows: int = _setting(100_000)
    log_batch: int = _setting(1000, "--log-batch", "rows per log transaction (1000)", metavar="ROWS")
    log_queue_rows: int = _setting(50_000, "--log-queue", "rows waiting for the log before requests get 503 "
                                   "(default 50000)", metavar="ROWS")
    log_queue_bytes: int = _setting(64 * 1024 * 1024)
    log_linger: float = _setting(0.05, "--log-linger", "wait this long for more rows before writing a small "
                                 "batch (default 0.05)", metavar="SECONDS")
    drain_timeout: float = _setting(30.0)
    journal_dir: str | None = _setting(None, "--journal-dir", "where served rows are journaled until logged "
                                       "(default <home>/serve/NAME)", metavar="DIR")
    journal_sync: bool = _setting(False, "--journal-sync", "fdatasync each request's journal line before "
                                  "answering (an answered prediction survives a power loss; one disk flush "
                                  "per request)")
    access_log: bool = _setting(False, "--access-log", "log every request (uvicorn access log)")
    rollout: tuple[float, ...] | None = _setting(
        None, "--rollout", "staged rollout of NAME@challenger: its share of ids moves through these stages "
        "(e.g. 0.05,0.25,0.5,1.0) when its outcomes show it not worse, back on an alert or a significant loss; "
        "at the last stage it is promoted (replaces --traffic)", metavar="SHARES")
    rollout_margin: float = _setting(0.01, "--rollout-margin", "how much lower the challenger's accuracy may be "
                                     "and still count as not worse (default 0.01)", metavar="ACCURACY")
    rollout_min_samples: int = _setting(200, "--rollout-min-samples", "outcomes each arm needs at a stage "
                                        "before it moves (default 200)", metavar="N")
    rollout_alpha: float = _setting(0.05, "--rollout-alpha", "significance level of the comparison (default 0.05)",
                                    metavar="ALPHA")
    require_signature: bool = _setting(False, "--require-signature", shared=True)

    # ------------------------------------------------------------------ build, once
    @classmethod
    def checked(cls, **values: Any) -> ServeSettings:
        """Settings from keyword values (the API's, or :func:`from_namespace`'s), validated and
        normalised; :class:`BadInput` with one sentence on the first bad one."""
        known = {f.name for f in dataclasses.fields(cls)}
        for key in values:
            if key not in known:
                from ..errors import did_you_mean

                raise BadInput(f"serve() got an unknown argument {key!r}." + did_you_mean(key, known))
        return cls(**values)._check()

    def _check(self) -> ServeSettings:
        from ..refs import check_alias, check_name
        from ..validation import sequence

        check_name(self.name)
        check_alias(self.champion)
        check_alias(self.challenger)
        alerts = tuple(sequence(self.alerts, "alerts"))
        out: dict[str, Any] = {"alerts": alerts}
        out["traffic"] = _number(self.traffic, "--traffic", 0.0, 1.0, "a share between 0 and 1, e.g. 0.1")
        if self.threshold is not None:
            out["threshold"] = _number(self.threshold, "--threshold", 0.0, 1.0, "a confidence between 0 and 1")
        out["port"] = int(_number(self.port, "--port", 0, 65535, "a port number (0 picks a free one)"))
        out["workers"] = int(_number(self.workers, "--workers", 1, 64, "a number of processes from 1 to 64"))
        out["poll_interval"] = _number(self.poll_interval, "--poll", 0.05, 86400, "seconds, e.g. 5")
        out["monitor_interval"] = _number(self.monitor_interval, "--monitor-interval", 0.05, 86400, "seconds")
        out["max_body"] = parse_size(self.max_body, "--max-body")
        out["max_rows"] = int(_number(self.max_rows, "max_rows", 1, 100_000_000, "a number of rows per request"))
        out["log_batch"] = int(_number(self.log_batch, "--log-batch", 1, 1_000_000, "rows per transaction"))
        out["log_queue_rows"] = int(_number(self.log_queue_rows, "--log-queue", 1, 100_000_000, "rows"))
        out["log_queue_bytes"] = parse_size(self.log_queue_bytes, "log_queue_bytes")
        out["log_linger"] = _number(self.log_linger, "--log-linger", 0.0, 86400, "seconds")
        out["drain_timeout"] = _number(self.drain_timeout, "drain_timeout", 0.0, 86400, "seconds, e.g. 30")
        for flag in ("journal_sync", "access_log", "require_signature"):
            if not isinstance(getattr(self, flag), bool):
                raise BadInput(f"{flag} must be True or False, got {getattr(self, flag)!r}.")
        if self.journal_dir is not None:
            out["journal_dir"] = _journal_dir(self.journal_dir)
        if self.rollout is not None:
            out["rollout"] = parse_stages(self.rollout)
        out["rollout_margin"] = _number(self.rollout_margin, "--rollout-margin", 0.0, 1.0, "an accuracy difference")
        out["rollout_min_samples"] = int(_number(self.rollout_min_samples, "--rollout-min-samples", 1, 10**9,
                                                 "a number of outcomes"))
        out["rollout_alpha"] = _number(self.rollout_alpha, "--rollout-alpha", 1e-9, 0.5, "a significance level")
        if not isinstance(self.host, str) or not self.host.strip():
            raise BadInput(f"--host must be an address such as 127.0.0.1, got {self.host!r}.")
        if self.predictions_url is not None and not isinstance(self.predictions_url, str):
            raise BadInput(f"--predictions-url must be a SQLAlchemy URL, got {self.predictions_url!r}.")
        if self.webhook is not None and not (isinstance(self.webhook, str) and re.match(r"^https?://", self.webhook)):
            raise BadInput(f"The webhook must be an http(s) URL, got {self.webhook!r}.")
        from ..monitoring import AlertRule, parse_window

        for rule in alerts:
            AlertRule.parse(rule)
        window = parse_window(self.window)
        if not isinstance(self.window, str):  # a pandas.Timedelta: in words pandas reads back
            out["window"] = str(window)
        return dataclasses.replace(self, **out)

    # ------------------------------------------------------------------ handed to another process
    def as_dict(self) -> dict[str, Any]:
        """Every field, JSON-able (``alerts`` as a list)."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
                for f in dataclasses.fields(self)}

    def to_json(self) -> str:
        return json.dumps(self.as_dict())

    @classmethod
    def from_json(cls, text: str) -> ServeSettings:
        """The settings a parent checked (no second check: the same values, the same result)."""
        try:
            values = json.loads(text)
        except ValueError:
            values = None
        names = [f.name for f in dataclasses.fields(cls)]
        if not isinstance(values, dict) or sorted(values) != sorted(names):
            got = sorted(values) if isinstance(values, dict) else type(values).__name__
            raise NbtError(f"The serve settings handed to this process do not match its fields (got {got}, "
                           f"expected {sorted(names)}); the parent runs another nbtoolkit version.")
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**fields)

    def public(self) -> dict[str, Any]:
        """:meth:`as_dict` with values that may hold a secret (a password in the log URL, a
        webhook token) replaced by a fingerprint: ``GET /version`` shows what a process runs with."""
        out = self.as_dict()
        for f in dataclasses.fields(self):
            if _option(f).secret and out[f.name] is not None:
                out[f.name] = fingerprint(out[f.name])
        return out


def parse_stages(value: Any) -> tuple[float, ...]:
    """``"0.05,0.25,0.5,1.0"`` (or a sequence) → increasing shares in (0, 1], else one BadInput line."""
    items = value.split(",") if isinstance(value, str) else value
    try:
        stages = tuple(float(s) for s in items)
    except (TypeError, ValueError):
        raise BadInput(f"--rollout must be increasing shares separated by commas, such as 0.05,0.25,0.5,1.0; "
                       f"got {value!r}.") from None
    if not stages:
        raise BadInput("--rollout needs at least one share, such as 0.05,0.25,0.5,1.0.")
    bad = [s for s in stages if not (0 < s <= 1) or math.isnan(s)]
    if bad:
        raise BadInput(f"--rollout shares must lie in (0, 1]; {bad[0]!r} does not (got {value!r}).")
    if any(b <= a for a, b in itertools.pairwise(stages)):
        raise BadInput(f"--rollout shares must increase from stage to stage, got {value!r}; e.g. 0.05,0.25,0.5,1.0.")
    return stages


def fingerprint(value: str) -> str:
    """``sha256:`` and the first 16 hex digits of ``value``'s digest."""
    return "sha256:" + hashlib.sha256(str(value).encode()).hexdigest()[:16]


def _option(f: dataclasses.Field[Any]) -> Option:
    return f.metadata["option"]


def _flagged() -> Iterator[tuple[dataclasses.Field[Any], str, Option, Any]]:
    """(field, flag, option, type) of each field that has a flag, in field order."""
    hints = get_type_hints(ServeSettings)
    for f in dataclasses.fields(ServeSettings):
        option = _option(f)
        if option.flag is not None:
            yield f, option.flag, option, hints[f.name]


# ---------------------------------------------------------------------------------- the parser
def add_arguments(parser: argparse.ArgumentParser,
                  shared: Mapping[str, Callable[[argparse.ArgumentParser], None]]) -> None:
    """The ``nbt serve`` options, one per flagged field, in field order; ``dest`` is the field name.

    ``shared`` adds the options the command layer owns, by flag (``--require-signature``).
    """
    for f, flag, option, hint in _flagged():
        if not flag.startswith("-"):
            parser.add_argument(flag, metavar=option.metavar, help=option.help)
            continue
        if option.shared:
            shared[flag](parser)
            continue
        kwargs: dict[str, Any] = {"dest": f.name, "help": option.help}
        default = f.default if option.cli_default is None else option.cli_default
        if hint is bool:
            kwargs["action"] = "store_true"
        elif hint == tuple[str, ...]:
            assert isinstance(default, tuple), f.name  # a tuple field's default is a tuple
            kwargs.update(action="append", default=list(default))
        else:
            kwargs["default"] = default
            scalar = next((t for t in (int, float) if hint in (t, t | None)), None)
            if scalar is not None and not isinstance(default, str):
                kwargs["type"] = scalar
        if option.metavar:
            kwargs["metavar"] = option.metavar
        parser.add_argument(flag, **kwargs)
        for old in option.old:  # older spellings: accepted, not shown
            parser.add_argument(old, **{**kwargs, "help": argparse.SUPPRESS, "metavar": None})


def from_namespace(args: argparse.Namespace) -> dict[str, Any]:
    """Parsed ``nbt serve`` options → keyword values for :meth:`ServeSettings.checked` (and ``serve()``)."""
    return {f.name: getattr(args, f.name) for f, _, _, _ in _flagged()}


def _number(value: Any, flag: str, low: float, high: float, what: str) -> float:
    if isinstance(value, bool):
        raise BadInput(f"{flag} must be {what}, got {value!r}.")
    try:
        f = float(value)
    except (TypeError, ValueError, OverflowError):
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
    try:
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
    except OSError as exc:  # a name longer than the system allows
        raise BadInput(f"--journal-dir {str(value)!r} cannot be a folder ({exc.strerror or exc}); "
                       f"give {what}.") from None
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
