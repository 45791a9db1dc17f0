"""A staged rollout on replayed traffic: days of past event times sent through a real ``nbt serve
--rollout``, outcomes a day later, each day synchronised by :meth:`ServeClient.settle`.

The server decides when outcomes arrive (its monitoring interval is an hour here), dates each stage
on the traffic's own clock (the newest logged event time), and ``settle`` returns once the decision
is made and served — so each day's routing follows from the day before without any waiting by hand.
"""

from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest

from tests.test_serve import TOKEN, Server

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("rollout")]


@pytest.fixture(scope="module")
def served(tmp_path_factory, _empty_mlflow_db, iris):
    """iris v1 @champion and v2, the same model, @challenger; a server deciding only on outcomes."""
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("replay")
    home = root / "home"
    home.mkdir()
    shutil.copy(_empty_mlflow_db, home / "mlflow.db")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NBT_HOME", str(home))
        for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "NBT_PREDICTIONS_URL", "NBT_EXPERIMENT"):
            mp.delenv(var, raising=False)
        import nbtoolkit as nbt

        X, y = iris
        model = LogisticRegression(max_iter=500).fit(X, y)
        nbt.register(model, "iris", X=X, y=y, alias="champion")
        nbt.register(model, "iris", X=X, y=y, alias="challenger")
        env = dict(os.environ, NBT_HOME=str(home), NBT_SERVE_TOKEN=TOKEN)
        srv = Server(["iris", "--rollout", "0.3,1.0", "--rollout-min-samples", "40", "--rollout-margin", "0.1",
                      "--poll", "0.2", "--monitor-interval", "3600"], env, root / "server.log").wait_ready()
        yield srv, home, mp
        assert srv.stop() == 0, srv.output()


def _day(client, iris, day: str, n: int = 400):
    """``n`` predictions stamped within ``day`` (ids unique to the day); returns them and the labels."""
    X, y = iris
    rows = [i % len(X) for i in range(n)]
    ids = [f"{day}-{i}" for i in range(n)]
    stamps = pd.Timestamp(day) + pd.to_timedelta([i * 60 for i in range(n)], unit="s")
    out = client.predict(X.iloc[rows].reset_index(drop=True), ids=ids, timestamps=stamps)
    return out, ids, [int(y.iloc[r]) for r in rows]


def test_past_days_move_the_rollout_on_their_own_clock(served, iris):
    from nbtoolkit.registry import resolve
    from nbtoolkit.serving.client import ServeClient
    from nbtoolkit.serving.rollout import history, stage_of

    srv, home, mp = served
    mp.setenv("NBT_HOME", str(home))
    client = ServeClient(srv.url, token=TOKEN)
    health = client.health()
    assert health["rollout"]["stages"] == [0.3, 1.0] and health["rollout"]["outcome_batches"] == 0

    # day 1: served at the first stage's share; its outcomes start the rollout (stage 0 from now on)
    out, ids, labels = _day(client, iris, "2025-03-01")
    assert 0.2 < (out["alias"] == "challenger").mean() < 0.4
    assert client.record_outcomes(ids, labels, source="human") == len(ids)
    health = client.settle()
    assert [m["action"] for m in history("iris")] == ["start"]
    assert health["rollout"]["decided"] == 1 and health["serving"]["challenger"]["share"] == 0.3
    _, began, _ = stage_of(resolve("iris@challenger"), [0.3, 1.0])
    assert began == pd.Timestamp("2025-03-01 06:39:00.001").timestamp()  # day 1's last event, not the wall clock

    # day 2 (a year and more in the past): counted at stage 0 — the same model (within the margin): it advances
    out, ids, labels = _day(client, iris, "2025-03-02")
    client.record_outcomes(ids, labels)
    health = client.settle()
    assert [m["action"] for m in history("iris")] == ["start", "advance"]
    assert health["serving"]["challenger"]["share"] == 1.0

    # day 3: every id meets the challenger, whose outcomes promote it
    out, ids, labels = _day(client, iris, "2025-03-03")
    assert set(out["alias"]) == {"challenger"}
    client.record_outcomes(ids, labels)
    health = client.settle()
    assert [m["action"] for m in history("iris")] == ["start", "advance", "promote"]
    assert str(resolve("iris@champion").version) == "2" and health["serving"]["champion"]["version"] == "2"


def test_settle_names_what_did_not_happen_and_bad_urls_are_one_line(served):
    from nbtoolkit.errors import BadInput, NbtError
    from nbtoolkit.serving.client import ServeClient

    with pytest.raises(BadInput, match="must start with http") as info:
        ServeClient("127.0.0.1:8080")
    assert "\n" not in str(info.value)
    with pytest.raises(NbtError, match="did not answer /health"):
        ServeClient("http://127.0.0.1:9", timeout=2).health()
    srv, _, _ = served
    with pytest.raises(NbtError, match="answered /outcomes with 400") as info:
        ServeClient(srv.url, token=TOKEN).record_outcomes(["never-served"], ["a"])
    assert "\n" not in str(info.value)
