"""The store boundary recognises an unreachable store by the exception's type, not its message."""

from __future__ import annotations

import socket

import pytest

from nbtoolkit import store
from nbtoolkit.errors import StoreUnavailable


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _chain(exc: BaseException) -> list[BaseException]:
    out = []
    while exc is not None and exc not in out:
        out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out


def test_a_refused_connection_inside_mlflow_is_found_by_type():
    from mlflow import MlflowClient

    uri = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(StoreUnavailable) as info, store.translate_errors():
        MlflowClient(tracking_uri=uri, registry_uri=uri).search_registered_models()
    cause = info.value.__cause__
    assert type(cause).__name__ == "MlflowException"  # MLflow wraps the transport error ...
    assert any(store._unreachable(link) for link in _chain(cause)[1:])  # ... and keeps it in the chain


def test_sqlite_that_cannot_be_opened_is_unreachable_and_other_database_errors_are_not(tmp_path):
    import sqlalchemy as sa

    missing = sa.create_engine(f"sqlite:///{tmp_path}/no/such/folder/x.db")
    with pytest.raises(sa.exc.OperationalError) as cannot_open:
        missing.connect()
    assert store.is_connection_error(cannot_open.value)
    with pytest.raises(sa.exc.OperationalError) as no_table, sa.create_engine("sqlite://").connect() as conn:
        conn.execute(sa.text("select * from nowhere"))
    assert not store.is_connection_error(no_table.value)


def test_a_message_alone_does_not_make_a_connection_error():
    assert not store.is_connection_error(ValueError("Connection refused"))
    assert store.is_connection_error(ConnectionRefusedError(111, "refused"))


def test_postgresql_that_refuses_the_connection_is_unreachable():
    pytest.importorskip("psycopg2")
    import sqlalchemy as sa

    engine = sa.create_engine(f"postgresql+psycopg2://nobody@127.0.0.1:{_closed_port()}/none",
                              connect_args={"connect_timeout": 5})
    with pytest.raises(sa.exc.OperationalError) as refused:
        engine.connect()
    assert refused.value.orig.pgcode is None  # a failed connect carries no SQLSTATE
    assert store.is_connection_error(refused.value)


def test_mlflow_error_codes_decide_too():
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, TEMPORARILY_UNAVAILABLE

    assert store.is_connection_error(MlflowException("busy", error_code=TEMPORARILY_UNAVAILABLE))
    assert not store.is_connection_error(MlflowException("no such model", error_code=RESOURCE_DOES_NOT_EXIST))
