"""The prediction log's connection: the engine, the table (created or upgraded on first use), the
one-time migration to per-model ids, and how a failed write is reported.

The base of :class:`~nbtoolkit.monitoring.log.PredictionLog` (reads in :mod:`.log_reads`, writes in
:mod:`.log`); the table itself and SQLite's write locking are :mod:`.log_schema`.
"""

from __future__ import annotations

from typing import Any

from .. import config
from ..errors import BadInput, StoreUnavailable
from .log_schema import BUSY_TIMEOUT_S, _create, _sqlite_write_locking, _table, _upgrade

TABLE = "nbt_predictions"


class LogConnection:
    """A prediction log's database connection (opened on first use; :meth:`dispose` closes it)."""

    def __init__(self, url: str | None = None, *, table: str = TABLE) -> None:
        self.url = str(url) if url else config.predictions_url()
        self.table_name = table
        self._engine: Any = None
        self._table: Any = None
        self._per_model = True

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden (for messages)."""
        try:
            from sqlalchemy.engine import make_url

            return make_url(self.url).render_as_string(hide_password=True)
        except Exception:
            return "<unparseable URL>"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.safe_url!r})"

    def _connect(self) -> tuple[Any, Any]:
        if self._engine is not None:
            return self._engine, self._table
        import sqlalchemy as sa
        from sqlalchemy import event, exc

        try:
            url = sa.engine.make_url(self.url)
        except exc.ArgumentError:
            raise BadInput(
                f"Cannot parse the prediction-log URL {self.url!r}; use a SQLAlchemy URL such as "
                "'sqlite:///predictions.db' or 'postgresql+psycopg2://user@host/db'."
            ) from None
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if url.get_backend_name() == "postgresql" and url.get_driver_name() in ("psycopg2", "psycopg"):
            kwargs["connect_args"] = {"connect_timeout": 10}  # an unreachable host fails, not hangs
        sqlite = url.get_backend_name() == "sqlite"
        if sqlite:
            kwargs = {"connect_args": {"timeout": BUSY_TIMEOUT_S}}
        try:
            engine = sa.create_engine(url, **kwargs)
        except (exc.NoSuchModuleError, ImportError) as err:
            how = ("install the extra: pip install 'nbtoolkit[postgres]'" if url.get_backend_name() == "postgresql"
                   else "install its driver")
            raise BadInput(
                f"No database driver for the prediction-log URL {self.safe_url!r} ({err}); {how}, "
                "or use a sqlite:/// URL."
            ) from None
        if sqlite:
            _sqlite_write_locking(engine, event)
        table = _table(sa, self.table_name)
        try:
            _create(engine, table)
            self._per_model = _upgrade(engine, table)
        except exc.OperationalError as err:
            engine.dispose()
            raise StoreUnavailable(
                f"Cannot reach the prediction log at {self.safe_url!r} "
                f"({str(err.orig).splitlines()[0] if err.orig else type(err).__name__}); start the "
                "database or fix NBT_PREDICTIONS_URL / %config Nbt.predictions_url."
            ) from None
        self._engine, self._table = engine, table
        return engine, table

    def migrate(self) -> bool:
        """Rebuild a log created when ids were unique across models with the per-model key
        ``(model_name, id)``, in one transaction; returns True when it rebuilt the table.

        Stop writers first (a writer that logs meanwhile waits for the lock on SQLite, or fails
        and can retry). Nothing changes for a table that already has the per-model key.
        """
        import sqlalchemy as sa

        _, table = self._connect()
        if self._per_model:
            return False
        # Copy the rows aside (a plain table: no key, no index whose name would clash), drop the
        # old table with its key and indexes, create the current schema, copy the rows back.
        copy = f"{self.table_name}_migrating"
        names = ", ".join(f'"{c.name}"' for c in table.c)
        with self._writer().begin() as conn:
            conn.execute(sa.text(f'CREATE TABLE "{copy}" AS SELECT {names} FROM "{self.table_name}"'))
            conn.execute(sa.text(f'DROP TABLE "{self.table_name}"'))
            table.metadata.create_all(conn, checkfirst=False)
            conn.execute(sa.text(f'INSERT INTO "{self.table_name}" ({names}) SELECT {names} FROM "{copy}"'))
            conn.execute(sa.text(f'DROP TABLE "{copy}"'))
        self._per_model = True
        return True

    def dispose(self) -> None:
        """Close pooled connections (a new call reconnects)."""
        if self._engine is not None:
            self._engine.dispose()
        self._engine = self._table = None

    def _writer(self) -> Any:
        engine, _ = self._connect()
        return engine.execution_options(nbt_write=True)

    def _unavailable(self, err: Any) -> StoreUnavailable:
        reason = str(getattr(err, "orig", err)).splitlines()[0]
        return StoreUnavailable(f"The prediction log at {self.safe_url!r} failed ({reason}); nothing was written.")
