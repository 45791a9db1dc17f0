"""The registry and the magics against a shared MLflow tracking server backed by PostgreSQL.

The session's server (``tests/services.py``) stores runs and the registry in PostgreSQL and
serves artefacts itself (``--artifacts-destination``); nothing may land in the local home.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

pytestmark = pytest.mark.integration


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _pg_rows(postgres, sql: str, *params):
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=postgres.port, user="postgres", dbname="mlflow")
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def test_register_load_promote_rollback_on_the_server(server_home, mlflow_server, postgres, iris, iris_model):
    import nbtoolkit as nbt

    X, y = iris
    name = _name("iris")
    v1 = nbt.register(iris_model, name, X=X, y=y, metrics={"accuracy": 0.97}, alias="champion")
    v2 = nbt.register(iris_model, name, X=X, y=y, metrics={"accuracy": 0.98})
    assert (v1.version, v2.version) == ("1", "2")

    # The registry lives in PostgreSQL, not in a local SQLite file.
    rows = _pg_rows(postgres, "SELECT version FROM model_versions WHERE name = %s ORDER BY version", name)
    assert [r[0] for r in rows] == [1, 2]
    assert not (server_home / "mlflow.db").exists()

    # Artefacts were uploaded to the server's destination and come back intact (sha256 checked).
    model = nbt.load(f"{name}/2")
    assert (model.predict(X) == iris_model.predict(X)).all()
    assert any(p.name == "MLmodel" for p in mlflow_server.artifacts.rglob("MLmodel"))
    assert not (server_home / "artifacts").exists() or not any((server_home / "artifacts").rglob("MLmodel"))

    result = nbt.promote(name, 2, alias="champion", require=["accuracy>=0.975"])
    assert (result.version, result.previous) == ("2", "1")
    back = nbt.rollback(name, alias="champion")
    assert (back.version, back.previous) == ("1", "2")

    lineage = nbt.lineage(f"{name}@champion")
    assert lineage.version == "1" and lineage.metrics["accuracy"] == pytest.approx(0.97)
    assert lineage.schema is not None

    # Plain MLflow sees the same model through the server.
    import mlflow.pyfunc

    mlflow.set_tracking_uri(mlflow_server.uri)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    assert list(pyfunc.predict(X.head(3))) == list(iris_model.predict(X.head(3)))


def test_magics_with_config_tracking_uri(ip, mlflow_server, postgres, iris, iris_model):
    """``%config Nbt.tracking_uri = ...`` points the same magics at the shared server."""
    X, y = iris
    name = _name("magic")
    ip.user_ns.update(model=iris_model, X=X, y=y)
    ip.run_line_magic("config", f"Nbt.tracking_uri = {mlflow_server.uri!r}")

    mv = ip.run_line_magic("nbt", f"register model --name {name} --data X y --metric accuracy=0.9")
    assert mv.version == "1"
    table = ip.run_line_magic("nbt", "models")
    assert name in {r["name"] for r in table.rows}
    ip.run_line_magic("nbt", f"promote {name} 1 --alias champion --require accuracy>=0.8")
    versions = ip.run_line_magic("nbt", f"versions {name}")
    assert versions.rows[0]["aliases"] == ["champion"]
    ip.run_line_magic("nbt", f"load {name}@champion --as loaded")
    assert (ip.user_ns["loaded"].predict(X) == iris_model.predict(X)).all()

    # The version went to the server's PostgreSQL store.
    assert _pg_rows(postgres, "SELECT version FROM model_versions WHERE name = %s", name) == [(1,)]


def test_unknown_model_on_server_is_one_clear_line(ip, mlflow_server):
    from IPython.core.error import UsageError

    ip.run_line_magic("config", f"Nbt.tracking_uri = {mlflow_server.uri!r}")
    with pytest.raises(UsageError, match=r"No model named 'no-such-model-x1'"):
        ip.run_line_magic("nbt", "versions no-such-model-x1")


def test_cli_against_the_server(server_home, mlflow_server, iris, iris_model):
    import nbtoolkit as nbt

    X, y = iris
    name = _name("cli")
    nbt.register(iris_model, name, X=X, y=y, metrics={"accuracy": 0.5})
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server.uri}
    nbt_cmd = [sys.executable, "-m", "nbtoolkit.cli"]

    out = subprocess.run([*nbt_cmd, "versions", name, "--json"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert [r["version"] for r in json.loads(out.stdout)["versions"]] == ["1"]

    gate = subprocess.run([*nbt_cmd, "promote", name, "1", "--alias", "champion", "--require", "accuracy>=0.9"],
                          env=env, capture_output=True, text=True)
    assert gate.returncode == 1
    assert "gate failed" in gate.stderr and "accuracy>=0.9" in gate.stderr
