"""The partitions of a pipeline's input data: their key values, files and data content hashes.

A pipeline file with ``partitions: {key: date, source: data/date={date}/*.parquet}`` runs once per
value of the key. The values come from the files the pattern matches (``{date}`` is one path piece
or part of one; ``*`` and ``?`` are globs within a path piece) or, with ``sql: {url, table, column}``,
from the distinct values of a column read through SQLAlchemy. A partition's data hash is the sha256
of its files' names and bytes (or of its rows), so changed data is seen as changed.

Values are strings, sorted as strings; a key named ``date`` takes ISO dates (``YYYY-MM-DD``) only,
so string order is date order. Only the standard library is imported for file sources.
"""

from __future__ import annotations

import datetime as _dt
import glob
import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BadInput
from .definition import Partitions, Pipeline

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Partition:
    """One partition: its key value, its files (relative to the pipeline folder), its data hash."""

    value: str
    paths: tuple[str, ...] | dict[str, Any] = ()  # files; for SQL the query bounds
    data_hash: str = ""
    rows: int | None = None  # SQL only
    stats: list[list[Any]] = field(default_factory=list)  # files: [name, size, mtime_ns] each

    def parameters(self) -> dict[str, Any]:
        """What each step receives: ``partition`` and ``partition_paths``."""
        paths = list(self.paths) if isinstance(self.paths, tuple) else dict(self.paths)
        return {"partition": self.value, "partition_paths": paths}


def check_value(spec: Partitions, value: Any, what: str = "partition") -> str:
    """A key value as given by a user or found in the data: a string; an ISO date for ``date``."""
    if not isinstance(value, str) or not value.strip() or "/" in value or "\0" in value:
        raise BadInput(f"The {what} {value!r} is not a value of the key {spec.key!r}; give a non-empty "
                       "string without '/'.")
    if spec.key == "date":
        try:
            ok = len(value) == 10 and _dt.date.fromisoformat(value).isoformat() == value
        except ValueError:
            ok = False
        if not ok:
            raise BadInput(f"The {what} {value!r} is not an ISO date; the key 'date' takes values such as "
                           "2024-01-31 (YYYY-MM-DD).")
    return value


def parse_backfill(spec: Partitions, text: Any) -> tuple[str, str]:
    """``FROM..TO`` (both ends included) as two checked key values, FROM <= TO."""
    if not isinstance(text, str) or text.count("..") != 1:
        raise BadInput(f"--backfill takes FROM..TO (both ends included), e.g. 2024-01-01..2024-01-07, got {text!r}.")
    low, high = (part.strip() for part in text.split(".."))
    check_value(spec, low, "start of --backfill")
    check_value(spec, high, "end of --backfill")
    if low > high:
        raise BadInput(f"--backfill {text!r} is reversed: {low!r} comes after {high!r}; write FROM..TO.")
    return low, high


def discover(pipeline: Pipeline, known: Mapping[str, Mapping[str, Any]] | None = None) -> list[Partition]:
    """Every partition the source holds now, in key order, with its data hash.

    ``known`` (the watermark's entries): a partition whose files have the names, sizes and
    modification times recorded there keeps its recorded hash without its files being read again
    (as make and ploomber judge files); pass None to read every file.
    """
    spec = pipeline.partitions
    assert spec is not None
    if spec.sql is not None:
        return _sql_partitions(spec)
    return _file_partitions(spec, pipeline.path.parent, known or {})


# ------------------------------------------------------------------------------------ files
def _pattern_regex(pattern: str, key: str) -> re.Pattern[str]:
    """The source pattern as a regex over relative POSIX paths, capturing the key value."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("{" + key + "}", i):
            out.append(f"(?P<{key}>[^/]+?)")
            i += len(key) + 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _file_partitions(spec: Partitions, root: Path, known: Mapping[str, Mapping[str, Any]]) -> list[Partition]:
    assert spec.source is not None
    pattern = spec.source.replace(os.sep, "/")
    regex = _pattern_regex(pattern, spec.key)
    found: dict[str, list[str]] = {}
    for path in glob.glob(glob.escape(str(root)) + "/" + pattern.replace("{" + spec.key + "}", "*")):
        if not os.path.isfile(path):
            continue
        rel = Path(path).relative_to(root).as_posix()
        m = regex.match(rel)
        if m:
            found.setdefault(m.group(spec.key), []).append(rel)
    out = []
    for value in sorted(found):
        check_value(spec, value, f"partition found in {spec.source!r} (from {sorted(found[value])[0]!r})")
        files = tuple(sorted(found[value]))
        stats = []
        for rel in files:
            st = os.stat(root / rel)
            stats.append([rel, st.st_size, st.st_mtime_ns])
        entry = known.get(value) or {}
        same = entry.get("stats") == stats and isinstance(entry.get("data_hash"), str)
        digest = entry["data_hash"] if same else files_hash(root, files)
        out.append(Partition(value=value, paths=files, data_hash=digest, stats=stats))
    return out


def files_hash(root: Path, files: Iterable[str]) -> str:
    """sha256 over each file's relative name and bytes, in name order."""
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(rel.encode() + b"\0")
        with open(root / rel, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


# ------------------------------------------------------------------------------------ SQL
def _sql_partitions(spec: Partitions) -> list[Partition]:
    """Distinct values of the column; per value its rows' hash and the bounds of its query."""
    assert spec.sql is not None
    try:
        import sqlalchemy as sa
    except ImportError:  # pragma: no cover - sqlalchemy is a base dependency
        raise BadInput("A sql: partition source needs SQLAlchemy; pip install sqlalchemy.") from None
    url, table, column = spec.sql["url"], spec.sql["table"], spec.sql["column"]
    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, ImportError, ValueError) as exc:
        raise BadInput(f"'url' of the sql: partition source is {url!r}, which SQLAlchemy cannot open "
                       f"({exc}).") from None
    try:
        with engine.connect() as conn:
            meta = sa.MetaData()
            schema, _, name = table.rpartition(".")
            try:
                tab = sa.Table(name, meta, autoload_with=conn, schema=schema or None)
            except sa.exc.NoSuchTableError:
                raise BadInput(f"No table {table!r} in the sql: partition source {url!r}.") from None
            if column not in tab.c:
                raise BadInput(f"Table {table!r} has no column {column!r}; columns: {', '.join(tab.c.keys())}.")
            col = tab.c[column]
            rows = conn.execute(sa.select(*tab.c).order_by(col)).all()
    except sa.exc.OperationalError as exc:
        why = " ".join(str(exc.orig).split())[:200]
        raise BadInput(f"Cannot read the sql: partition source {url!r} ({why}).") from None
    finally:
        engine.dispose()
    index = list(tab.c.keys()).index(column)
    # what a step receives to query its rows; a password is never written into a notebook
    shown_url = engine.url.render_as_string(hide_password=True)
    by_value: dict[str, list[str]] = {}
    for row in rows:
        raw = row[index]
        if raw is None:
            continue
        value = raw.isoformat() if isinstance(raw, (_dt.date, _dt.datetime)) else str(raw)
        by_value.setdefault(value, []).append(repr(tuple(row)))
    out = []
    for value in sorted(by_value):
        check_value(spec, value, f"partition found in column {column!r} of {table!r}")
        lines = sorted(by_value[value])
        digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
        bounds = {"url": shown_url, "table": table, "column": column, "value": value}
        out.append(Partition(value=value, paths=bounds, data_hash=digest, rows=len(lines)))
    return out
