"""The tracking server goes away mid-session and comes back: clear errors, retried reads, resume.

The session's MLflow server is really stopped (its process group killed) and started again on
the same port; the test process is never restarted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid

import pytest

pytestmark = pytest.mark.integration


def test_server_stopped_mid_session_then_back(server_home, mlflow_server, iris, iris_model, monkeypatch):
    import nbtoolkit as nbt
    from nbtoolkit import store
    from nbtoolkit.errors import StoreUnavailable

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setattr(store, "READ_RETRIES", 2)
    monkeypatch.setattr(store, "READ_BACKOFF_S", 0.05)
    name = f"faults-{uuid.uuid4().hex[:8]}"
    nbt.register(iris_model, name, metrics={"accuracy": 0.9})

    failures = []
    real_unavailable = store.unavailable
    monkeypatch.setattr(store, "unavailable", lambda exc: failures.append(exc) or real_unavailable(exc))

    mlflow_server.stop()
    restarter = None
    try:
        # An idempotent read retries (READ_RETRIES times), then names the URI in one sentence.
        with pytest.raises(StoreUnavailable) as err:
            nbt.versions(name)
        assert mlflow_server.uri in str(err.value) and "Start the server" in str(err.value)
        assert len(failures) == 3  # first try + 2 retries

        # A write is not retried (not idempotent) and fails with the same clear error.
        failures.clear()
        with pytest.raises(StoreUnavailable, match=mlflow_server.uri):
            nbt.promote(name, 1, alias="champion")

        # The CLI says the same in one line and exits 2.
        env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server.uri, "NBT_READ_RETRIES": "0"}
        cli = subprocess.run([sys.executable, "-m", "nbtoolkit.cli", "versions", name],
                             env=env, capture_output=True, text=True, timeout=120)
        assert cli.returncode == 2
        assert mlflow_server.uri in cli.stderr and "Traceback" not in cli.stderr

        # A read issued while the server is down succeeds once it is back (back-off, no restart).
        monkeypatch.setattr(store, "READ_RETRIES", 60)
        monkeypatch.setattr(store, "READ_BACKOFF_S", 0.2)
        monkeypatch.setattr(store, "READ_BACKOFF_MAX_S", 2.0)
        failures.clear()
        restarter = threading.Thread(target=mlflow_server.start)
        restarter.start()
        table = nbt.versions(name)
        assert [r["version"] for r in table.rows] == ["1"]
        assert failures, "the read should have failed at least once while the server was starting"
    finally:
        if restarter is not None:
            restarter.join()
        if not mlflow_server.healthy():
            mlflow_server.start()

    # Work resumes in this same process: writes and reads against the restarted server.
    v2 = nbt.register(iris_model, name, metrics={"accuracy": 0.95})
    assert v2.version == "2"
    result = nbt.promote(name, 2, alias="champion", require=["accuracy>=0.9"])
    assert result.version == "2"
    X = iris[0].head(5)
    assert (nbt.load(f"{name}@champion").predict(X) == iris_model.predict(X)).all()
