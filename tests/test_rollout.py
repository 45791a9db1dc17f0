"""``nbt serve NAME --rollout``: a real server moves the challenger's share on real outcomes.

A challenger as good as the champion moves 0.3 → 1.0 and is promoted; a worse one is rolled back.
Requests and outcomes go over HTTP; the stage, the alias moves and their history are read back
from the registry, the share from ``/metrics`` and from the aliases the server answers with.
"""

from __future__ import annotations

import os
import shutil

import pytest
import requests

from tests.test_serve import AUTH, TOKEN, Server, split, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("rollout")]


@pytest.fixture(scope="module")
def home(tmp_path_factory, _empty_mlflow_db, iris):
    """iris v1 @champion and v2, the same model, @challenger."""
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("rollout")
    h = root / "home"
    h.mkdir()
    shutil.copy(_empty_mlflow_db, h / "mlflow.db")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NBT_HOME", str(h))
        for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "NBT_PREDICTIONS_URL", "NBT_EXPERIMENT"):
            mp.delenv(var, raising=False)
        mp.chdir(root)
        import nbtoolkit as nbt

        X, y = iris
        model = LogisticRegression(max_iter=500).fit(X, y)
        nbt.register(model, "iris", X=X, y=y, alias="champion")
        nbt.register(model, "iris", X=X, y=y, alias="challenger")
        yield h


@pytest.fixture(scope="module")
def server(home):
    env = dict(os.environ, NBT_HOME=str(home), NBT_SERVE_TOKEN=TOKEN)
    srv = Server(["iris", "--rollout", "0.3,1.0", "--rollout-min-samples", "40", "--rollout-margin", "0.05",
                  "--poll", "0.2", "--monitor-interval", "0.3"], env, home.parent / "server.log").wait_ready()
    srv.session = requests.Session()
    srv.session.headers.update(AUTH)
    yield srv
    assert srv.stop() == 0, srv.output()


def _traffic(srv, iris, start: int, n: int) -> list[str]:
    """``n`` predictions with ids, then their true labels as outcomes; returns the alias of each."""
    X, y = iris
    rows = [i % len(X) for i in range(start, start + n)]
    ids = [f"r{i}" for i in range(start, start + n)]
    answer = srv.session.post(f"{srv.url}/invocations", json=split(X.iloc[rows], ids), timeout=30)
    assert answer.status_code == 200, answer.text
    done = srv.session.post(f"{srv.url}/outcomes", json={"ids": ids, "labels": [int(y.iloc[r]) for r in rows],
                                                         "source": "human"}, timeout=30)
    assert done.status_code == 200, done.text
    return [p["alias"] for p in answer.json()["predictions"]]


def _history(home):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NBT_HOME", str(home))
        from nbtoolkit.serving.rollout import history

        return [m["action"] for m in history("iris")]


def _alias(home, alias: str) -> str:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NBT_HOME", str(home))
        from nbtoolkit.registry import resolve

        return str(resolve(f"iris@{alias}").version)


def test_a_challenger_as_good_moves_through_the_stages_and_is_promoted(server, home, iris):
    wait_for(lambda: _history(home)[:1] == ["start"], "the rollout to start", 60)
    first = _traffic(server, iris, 0, 400)
    assert 0.2 < first.count("challenger") / len(first) < 0.4  # the first stage's share of ids
    wait_for(lambda: "advance" in _history(home), "the challenger to move to the next stage", 90)
    wait_for(lambda: "nbt_rollout_share 1.0" in server.session.get(f"{server.url}/metrics").text,
             "the share in /metrics", 30)
    wait_for(lambda: set(_traffic(server, iris, 400, 20)) == {"challenger"}, "every id to reach the challenger", 30)
    _traffic(server, iris, 1000, 80)
    wait_for(lambda: "promote" in _history(home), "the promotion at the last stage", 90)
    assert _alias(home, "champion") == "2"
    metrics = server.session.get(f"{server.url}/metrics").text
    assert 'nbt_rollout_moves_total{action="advance"} 1.0' in metrics
    assert 'nbt_rollout_moves_total{action="promote"} 1.0' in metrics


def test_a_worse_challenger_is_rolled_back(server, home, iris):
    import nbtoolkit as nbt
    from sklearn.dummy import DummyClassifier

    X, y = iris
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NBT_HOME", str(home))
        nbt.register(DummyClassifier(strategy="constant", constant=0).fit(X, y), "iris", X=X, y=y,
                     alias="challenger")  # v3: right on a third of the iris rows
    wait_for(lambda: _history(home)[-1:] == ["start"], "the new rollout to start", 60)
    X, _ = iris

    probes = iter(range(10_000))

    def serves_v3() -> bool:
        attempt = next(probes)  # ids are unique per model: each probe sends new ones
        body = split(X.iloc[:20], [f"probe{attempt}-{i}" for i in range(20)])
        answer = server.session.post(f"{server.url}/invocations", json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        return any(p["model_version"] == "3" for p in answer.json()["predictions"])

    wait_for(serves_v3, "the server to load v3 as the challenger", 60, every=0.5)
    _traffic(server, iris, 2000, 400)
    wait_for(lambda: _history(home)[-1:] == ["rollback"], "the rollback", 90)
    assert _alias(home, "challenger") == _alias(home, "champion") == "2"  # the canary went back


@pytest.mark.parametrize("value, message", [
    ("0.5,0.2", "must increase"), ("0,0.5", r"in \(0, 1\]"), ("0.2,1.5", r"in \(0, 1\]"), ("a,b", "separated by commas"),
])
def test_bad_rollout_stages_are_one_line(value, message):
    from nbtoolkit.errors import BadInput
    from nbtoolkit.serving.settings import ServeSettings

    with pytest.raises(BadInput, match=message) as info:
        ServeSettings.checked(name="iris", rollout=value)
    assert "\n" not in str(info.value)
