"""The watermark of a partitioned pipeline: which partitions were processed, with what data, by which run.

One entry per partition value: ``status`` (``done``, ``failed`` or ``running``), ``data_hash``
(the data it was processed with), ``run_id`` (the pipeline run, ``<home>/runs/<pipeline>/<run_id>``)
and ``mlflow_run_id`` (that run's MLflow parent run, tagged ``nbt.partition``). Every entry also
names the pipeline file (relative to the project root) and key that wrote it, so a watermark
written by another pipeline of the same name is refused instead of being trusted.

Where it lives:

- embedded (the default SQLite store): ``<home>/runs/<pipeline>/partitions.json`` beside the runs'
  ``run.json`` files, rewritten atomically; the lock is an ``fcntl`` lock on ``partitions.lock`` in
  the same folder (the kernel releases it when its process dies). Reading it imports nothing but
  ``json``: ``--pending`` with nothing new is a file read.
- team mode (a shared SQL database: the tracking URI when it is one, else the prediction log's URL
  when it is not SQLite): the table ``nbt_partitions`` in that database, through SQLAlchemy; on
  PostgreSQL the lock is a session-level advisory lock (``pg_advisory_lock``), which the server
  releases when the holder's connection goes away. On another database the lock stays the file
  lock in the home (not shared between machines).

The lock covers a whole ``--pending`` / ``--partition`` / ``--backfill`` run: a second run waits,
then reads what the first one recorded, so two runs never process the same partition.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from .. import config
from ..errors import BadInput, StoreUnavailable
from .cache import write_json_atomic

TABLE = "nbt_partitions"
DONE, FAILED, RUNNING = "done", "failed", "running"


class Watermark(Protocol):
    """Read and write the entries of one pipeline; hold its lock."""

    where: str

    def read(self) -> dict[str, dict[str, Any]]: ...

    def write(self, value: str, entry: Mapping[str, Any]) -> None: ...

    def lock(self) -> contextlib.AbstractContextManager[None]: ...

    def held(self) -> bool: ...


def identity(pipeline: Any) -> dict[str, str]:
    """What a watermark entry says about the pipeline that wrote it."""
    path = Path(pipeline.path)
    root = config.project_root(path.parent)
    # relative to the project (the same on every machine of a team), else the absolute path
    marked = (root / "pyproject.toml").exists() or (root / ".git").exists()
    file = path.relative_to(root).as_posix() if marked and path.is_relative_to(root) else path.as_posix()
    return {"pipeline": pipeline.name, "file": file, "key": pipeline.partitions.key}


def check_owner(entries: Mapping[str, Mapping[str, Any]], pipeline: Any, where: str) -> None:
    """Refuse a watermark that another pipeline (another file or key, same name) wrote."""
    mine = identity(pipeline)
    for value, entry in entries.items():
        other = {k: entry.get(k) for k in ("file", "key")}
        if other != {"file": mine["file"], "key": mine["key"]}:
            raise BadInput(f"The watermark of pipeline {pipeline.name!r} ({where}) was written by {other['file']!r} "
                           f"with key {other['key']!r} (partition {value!r}), not by {mine['file']!r} with key "
                           f"{mine['key']!r}; give this pipeline its own name:, or delete that watermark.")


def shared_url() -> str | None:
    """The shared SQL database of team mode, or None in the embedded default."""
    for url in (config.tracking_uri(), config.predictions_url()):
        scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
        if scheme in ("postgresql", "postgres", "mysql", "mariadb", "mssql", "oracle"):
            return url
    return None


def open_watermark(pipeline: Any) -> Watermark:
    """The pipeline's watermark in the store (a file in the home, or a table in team mode)."""
    from .cache import runs_folder

    folder = runs_folder(pipeline.name)
    url = shared_url()
    if url is not None:
        return SqlWatermark(url, pipeline.name, folder)
    return FileWatermark(folder)


class FileWatermark:
    """``partitions.json`` in the pipeline's runs folder, with an ``fcntl`` lock beside it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "partitions.json"
        self.where = str(self.path)

    def read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StoreUnavailable(f"Cannot read the watermark {self.where!r} ({exc}); move it away to start "
                                   "afresh (every partition is then pending).") from None
        entries = data.get("partitions") if isinstance(data, dict) else None
        return {str(k): dict(v) for k, v in entries.items() if isinstance(v, dict)} if isinstance(entries, dict) else {}

    def write(self, value: str, entry: Mapping[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        entries = self.read()
        entries[value] = dict(entry)
        write_json_atomic(self.path, {"partitions": dict(sorted(entries.items()))})

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with file_lock(self.folder / "partitions.lock"):
            yield

    def held(self) -> bool:
        """Whether a run holds the lock now (so a ``running`` entry is live, not left by a crash)."""
        import fcntl

        try:
            fd = os.open(self.folder / "partitions.lock", os.O_RDWR)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)  # closing releases a lock this probe got
        return False


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` for the block (waits for the holder)."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class SqlWatermark:
    """The table ``nbt_partitions`` in the team's database; a PostgreSQL advisory lock."""

    def __init__(self, url: str, pipeline: str, folder: Path) -> None:
        import sqlalchemy as sa

        self.pipeline = pipeline
        self.folder = folder
        self.engine = sa.create_engine(url, pool_pre_ping=True)
        self.where = f"table {TABLE} in {self.engine.url.render_as_string(hide_password=True)}"
        meta = sa.MetaData()
        self.table = sa.Table(
            TABLE, meta,
            sa.Column("pipeline", sa.String(200), primary_key=True),
            sa.Column("partition", sa.String(200), primary_key=True),
            sa.Column("entry", sa.Text, nullable=False),  # the JSON entry, as in partitions.json
            sa.Column("updated", sa.Float, nullable=False))
        try:
            meta.create_all(self.engine, checkfirst=True)
        except sa.exc.IntegrityError:  # another process created it at the same moment
            pass
        except sa.exc.OperationalError as exc:
            raise StoreUnavailable(f"Cannot reach the watermark database ({self.where}): "
                                   f"{' '.join(str(exc.orig).split())[:200]}.") from None

    def read(self) -> dict[str, dict[str, Any]]:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(self.table.c.partition, self.table.c.entry)
                                .where(self.table.c.pipeline == self.pipeline)).all()
        return {str(p): json.loads(e) for p, e in rows}

    def write(self, value: str, entry: Mapping[str, Any]) -> None:
        import sqlalchemy as sa

        t = self.table
        with self.engine.begin() as conn:
            conn.execute(sa.delete(t).where(t.c.pipeline == self.pipeline, t.c.partition == value))
            conn.execute(sa.insert(t).values(pipeline=self.pipeline, partition=value,
                                             entry=json.dumps(dict(entry), default=str), updated=time.time()))

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        import sqlalchemy as sa

        if self.engine.dialect.name != "postgresql":
            with FileWatermark(self.folder).lock():
                yield
            return
        key = self._key()
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()

    def held(self) -> bool:
        import sqlalchemy as sa

        if self.engine.dialect.name != "postgresql":
            return FileWatermark(self.folder).held()
        with self.engine.connect() as conn:
            got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key()}).scalar()
            if got:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": self._key()})
            conn.commit()
        return not got

    def _key(self) -> int:
        """The advisory lock's number: 64 bits of the pipeline name's hash."""
        return int.from_bytes(hashlib.sha256(f"nbt-partitions:{self.pipeline}".encode()).digest()[:8], "big",
                              signed=True)
