"""``nbt serve`` with the PostgreSQL prediction log, two worker processes and an anomaly rule (issue 16).

One server for the module: ``--workers 2`` on a fresh PostgreSQL database of the session's cluster
(``tests/services.py``), alias polling every 0.2 s, ``anomaly:volume:20`` evaluated every second and
sent to a webhook on 127.0.0.1. The module has no xdist group of its own, so the ``postgres``
fixture puts it in the "postgres" group (the cluster starts once per worker). The last test stops
that cluster for real and starts it again; the other users of the cluster reconnect (their pools
ping before use). The helpers and the ``home`` / ``hook`` fixtures are ``test_serve``'s.
"""

from __future__ import annotations

import os
import re
import signal
import uuid

import pytest

from tests.test_serve import Hook, Server, hook, home, split_rows, wait_for  # noqa: F401  (fixtures)

requests = pytest.importorskip("requests")
pytestmark = pytest.mark.integration

RULE = "anomaly:volume:20"


@pytest.fixture(scope="module")
def pg_log(postgres):
    return postgres.create_database(f"serve_{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def pg_server(home, hook, pg_log):  # noqa: F811
    env = dict(os.environ, NBT_HOME=str(home))
    env.pop("NBT_SERVE_TOKEN", None)
    srv = Server(["iris", "--predictions-url", pg_log, "--workers", "2", "--traffic", "0", "--poll", "0.2",
                  "--alert", RULE, "--monitor-interval", "1", "--window", "1h", "--webhook", hook,
                  "--journal-dir", str(home.parent / "journal-pg")],
                 env, home.parent / "pg-server.log").wait_ready(timeout=180)
    yield srv
    code = srv.stop()
    assert code == 0, srv.output()


def fresh(method: str, url: str, **kw):
    """A request on a new connection (so the kernel may hand it to either worker)."""
    with requests.Session() as s:
        s.headers["Connection"] = "close"
        return s.request(method, url, timeout=30, **kw)


def pg_count(url: str, ids=None) -> int:
    from nbtoolkit.monitoring import PredictionLog

    plog = PredictionLog(url)
    try:
        return plog.count("iris") if ids is None else len(plog.existing_ids(list(ids), model="iris"))
    finally:
        plog.dispose()


def window_volume(srv) -> float | None:
    """``nbt_window_volume`` of the worker that evaluates the rules (None when the other one answered)."""
    text = fresh("GET", f"{srv.url}/metrics").text
    if f'nbt_alert_active{{rule="{RULE}"}}' not in text:  # that worker does not evaluate
        return None
    m = re.search(r"^nbt_window_volume (\S+)$", text, re.M)
    return float(m[1]) if m else None


def test_anomaly_rule_fires_inside_the_server_to_the_webhook_and_metrics(pg_server, pg_log):
    """Volume rises by one row per evaluation (well within 20 rolling sd), then jumps by 1,000 rows."""
    base = pg_count(pg_log)
    for step in range(1, 4):  # one row, then wait until the evaluator has seen it: history varies
        r = fresh("POST", f"{pg_server.url}/invocations", json={**split_rows(1), "params": {"ids": [f"ramp-{step}"]}})
        assert r.status_code == 200, r.text
        wait_for(lambda s=step: window_volume(pg_server) == base + s, f"the window volume to reach {base + step}")
    assert not any(a["rule"] == RULE for body in Hook.received for a in body["alerts"])  # the ramp is normal
    burst = split_rows(150)
    burst["dataframe_split"]["data"] *= 7  # 1,050 rows in one request: one evaluation sees the jump
    assert fresh("POST", f"{pg_server.url}/invocations", json=burst).status_code == 200
    wait_for(lambda: any(a["rule"] == RULE for body in Hook.received for a in body["alerts"]),
             "the anomaly alert at the webhook", timeout=60)
    body = next(b for b in Hook.received if any(a["rule"] == RULE for a in b["alerts"]))
    alert = next(a for a in body["alerts"] if a["rule"] == RULE)
    assert body["source"] == "nbt serve" and body["model"] == "iris"
    assert alert["metric"] == "volume" and alert["value"] >= base + 1000 and "sd from its rolling mean" in alert["message"]

    def evaluator_metrics():
        text = fresh("GET", f"{pg_server.url}/metrics").text
        return text if f'nbt_alert_active{{rule="{RULE}"}}' in text else None

    text = wait_for(evaluator_metrics, "the evaluating worker's /metrics")
    assert f'nbt_alerts_fired_total{{rule="{RULE}"}} 1.0' in text


def test_two_workers_both_answer_log_every_row_and_follow_an_alias_move(pg_server, pg_log):
    import nbtoolkit as nbt

    pids: set[int] = set()
    served: list[str] = []

    def both_answered():
        k = len(served)
        ids = [f"w-{k}-{j}" for j in range(3)]
        r = fresh("POST", f"{pg_server.url}/invocations", json={**split_rows(3, start=k % 140), "params": {"ids": ids}})
        assert r.status_code == 200, r.text
        assert [p["model_version"] for p in r.json()["predictions"]] == ["1"] * 3
        served.extend(ids)
        pids.add(fresh("GET", f"{pg_server.url}/version").json()["pid"])
        return len(pids) == 2

    wait_for(both_answered, "both workers to answer")
    wait_for(lambda: pg_count(pg_log, served) == len(served), "every served row in the PostgreSQL log")

    nbt.promote("iris", 2, alias="champion")
    try:
        moved: set[int] = set()

        def both_moved():
            v = fresh("GET", f"{pg_server.url}/version").json()
            if v["serving"]["champion"]["version"] == "2":
                moved.add(v["pid"])
            return moved == pids

        wait_for(both_moved, "both workers to serve version 2")
        for k in range(10):  # whichever worker answers now serves the new champion
            ids = [f"after-{k}"]
            r = fresh("POST", f"{pg_server.url}/invocations", json={**split_rows(1, start=k), "params": {"ids": ids}})
            assert r.json()["predictions"][0]["model_version"] == "2"
            served.extend(ids)
    finally:
        nbt.rollback("iris", alias="champion")
    wait_for(lambda: pg_count(pg_log, served) == len(served), "the rows served after the move in the log")
    frame = nbt.PredictionLog(pg_log).frame("iris")
    assert set(frame.loc[frame["id"].str.startswith("after-"), "model_version"]) == {"2"}


def test_health_is_503_naming_the_log_while_postgres_is_down_and_200_when_back(pg_server, pg_log, postgres):
    assert fresh("GET", f"{pg_server.url}/health").status_code == 200
    postgres.stop()

    def unavailable():
        r = fresh("GET", f"{pg_server.url}/health")
        return r.json() if r.status_code == 503 else None  # (a 503 Response is falsy)

    try:
        body = wait_for(unavailable, "/health to answer 503")
        assert body["status"] == "unavailable" and body["log"]["reachable"] is False
        assert any("prediction log" in p and str(postgres.port) in p for p in body["problems"]), body["problems"]
        assert fresh("GET", f"{pg_server.url}/ping").status_code == 200  # alive, just not healthy
    finally:
        postgres.start()
    for _ in range(4):  # each worker reconnects by itself: ask a few times, on new connections
        back = wait_for(lambda: (r := fresh("GET", f"{pg_server.url}/health")).status_code == 200 and r.json(),
                        "/health to answer 200 again")
        assert back["log"]["reachable"] is True
    r = fresh("POST", f"{pg_server.url}/invocations", json={**split_rows(1), "params": {"ids": ["after-restart"]}})
    assert r.status_code == 200
    assert pg_server.stop(signal.SIGTERM) == 0  # drains to the restarted database
    assert pg_count(pg_log, ["after-restart"]) == 1
