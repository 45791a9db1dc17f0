"""The prediction-log table on SQLAlchemy: its columns, creation (retried), in-place upgrade of an
older table, and SQLite's write locking (WAL, busy timeout, ``BEGIN IMMEDIATE``)."""

from __future__ import annotations

from typing import Any

from ..backoff import retry

BUSY_TIMEOUT_S = 60.0


def _table(sa: Any, name: str) -> Any:
    meta = sa.MetaData()
    return sa.Table(
        name, meta,
        sa.Column("id", sa.String(191), primary_key=True),
        sa.Column("model_name", sa.String(191), primary_key=True),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("alias", sa.String(64)),
        sa.Column("ts", sa.DateTime, nullable=False),
        sa.Column("inputs", sa.Text),
        sa.Column("prediction", sa.String(255)),
        sa.Column("confidence", sa.Float),
        sa.Column("routed_to_human", sa.Boolean, nullable=False, default=False),
        sa.Column("outcome", sa.String(255)),
        sa.Column("outcome_source", sa.String(64)),
        sa.Column("outcome_ts", sa.DateTime),
        sa.Column("probabilities", sa.Text),
        # what the row broke of its version's data contract, as served: a JSON list of
        # {"column", "kind"} (serving/rowcontract.py); NULL when nothing, or not checked
        sa.Column("contract", sa.Text),
        sa.Index(f"ix_{name}_model_ts", "model_name", "ts"),
        sa.Index(f"ix_{name}_ts", "ts"),
    )


def _create(engine: Any, table: Any) -> None:
    from sqlalchemy import exc

    def race(err: BaseException) -> bool:
        # Two processes creating the table at once (e.g. PostgreSQL's catalog race): the other
        # one won; check again. Anything else (unreachable database) is re-raised. SQLite reports
        # "table ... already exists" as a plain OperationalError (generic SQLITE_ERROR code, no
        # type of its own): the one case matched by message.
        return isinstance(err, (exc.IntegrityError, exc.ProgrammingError)) or "already exists" in str(err)

    # The existence check and CREATE run in one write transaction (BEGIN IMMEDIATE on SQLite):
    # a deferred one reads first and then cannot take the write lock when another process wrote
    # meanwhile, and SQLite answers "database is locked" at once instead of waiting.
    writer = engine.execution_options(nbt_write=True)
    retry(lambda: table.metadata.create_all(writer, checkfirst=True),
          on=(exc.IntegrityError, exc.ProgrammingError, exc.OperationalError), when=race, attempts=3)


def _upgrade(engine: Any, table: Any) -> bool:
    """Add columns an older log lacks; True when ids are unique per model (the current key)."""
    import sqlalchemy as sa

    inspector = sa.inspect(engine)
    have = {c["name"] for c in inspector.get_columns(table.name)}
    missing = [c for c in table.c if c.name not in have]
    if missing:
        with engine.connect() as conn:
            for col in missing:
                try:
                    conn.execute(sa.text(f'ALTER TABLE "{table.name}" ADD COLUMN "{col.name}" '
                                         f"{col.type.compile(engine.dialect)}"))
                    conn.commit()
                except sa.exc.DBAPIError:  # another process added it first
                    conn.rollback()
    key = inspector.get_pk_constraint(table.name).get("constrained_columns") or []
    return "model_name" in key


def _sqlite_write_locking(engine: Any, event: Any) -> None:
    """WAL + busy timeout; writes take the lock at BEGIN so that writers queue, never deadlock."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get("nbt_write")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
