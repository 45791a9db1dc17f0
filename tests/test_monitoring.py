"""monitor(): windows, label-free accuracy estimate, alert rules, webhook sink, CLI exit codes."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest

from nbtoolkit.cli import main as nbt_main
from nbtoolkit.errors import BadInput
from nbtoolkit.monitoring import AlertRule, PredictionLog, monitor, parse_window


def _log_day(plog, day, n, accuracy, human=0.1, *, version="1", seed=0, conf=None, labeled=1.0, prefix=""):
    rng = np.random.default_rng(seed)
    correct = rng.random(n) < accuracy
    ids = [f"{prefix}{day}-{i}" for i in range(n)]
    ts = pd.Timestamp(day) + pd.to_timedelta(rng.uniform(0, 86399, n), unit="s")
    plog.log(f"m/{version}", [{"x": float(i)} for i in range(n)], ["a"] * n,
             confidence=conf if conf is not None else np.full(n, 0.8), ids=ids,
             routed_to_human=rng.random(n) < human, timestamps=ts, registered=False)
    keep = rng.random(n) < labeled
    plog.record_outcomes([i for i, k in zip(ids, keep) if k], ["a" if c else "b" for c, k in zip(correct, keep) if k])
    return ids


def test_windows_metrics_and_threshold_alerts(nbt_home):
    plog = PredictionLog()
    _log_day(plog, "2026-03-01", 400, accuracy=0.97, human=0.1, seed=1)
    _log_day(plog, "2026-03-02", 400, accuracy=0.70, human=0.6, seed=2)
    report = monitor("m", window="1D", alerts=["accuracy<0.9", "human_share>0.4"], drift=False)
    frame = report.to_frame()
    assert len(frame) == 2 and list(frame["volume"]) == [400, 400]
    assert frame["accuracy"].iloc[0] > 0.94 and frame["accuracy"].iloc[1] < 0.76
    assert frame["human_share"].iloc[1] > 0.5
    assert list(frame["contract"]) == [0.0, 0.0]  # no row was flagged outside a data contract
    assert report.alerted and not report.passed
    fired = {(a["window_start"].day, a["rule"]) for a in report.alerts}
    assert fired == {(2, "accuracy<0.9"), (2, "human_share>0.4")}
    assert set(report.windows[0]["f1"]) == {"a", "b"}
    hourly = monitor("m", window="6h", drift=False)
    assert len(hourly.windows) == 8 and sum(w["volume"] for w in hourly.windows) == 800
    assert "2 alert(s) fired" in str(report) and "Alerts" in report._repr_html_()
    assert report.summary().endswith("2 alert(s) fired — accuracy<0.9 in 1 window, human_share>0.4 in 1 window")
    json.dumps(report.to_dict())  # JSON-safe


def test_label_free_estimate_tracks_true_accuracy_on_calibrated_data(nbt_home):
    plog = PredictionLog()
    rng = np.random.default_rng(7)
    for day, (lo, hi) in zip(["2026-04-01", "2026-04-02", "2026-04-03"], [(0.8, 1.0), (0.5, 0.9), (0.3, 0.7)]):
        n = 2000
        conf = rng.uniform(lo, hi, n)
        ids = [f"{day}-{i}" for i in range(n)]
        plog.log("m/1", [{"x": 1}] * n, ["a"] * n, confidence=conf, ids=ids,
                 timestamps=[pd.Timestamp(day) + pd.Timedelta(minutes=i % 1400) for i in range(n)],
                 registered=False)
        correct = rng.random(n) < conf  # calibrated: P(correct) = confidence
        plog.record_outcomes(ids, np.where(correct, "a", "b"))
    report = monitor("m", window="1D", drift=False)
    for w in report.windows:
        assert abs(w["estimated_accuracy"] - w["accuracy"]) < 0.05, w
    # the accuracy actually moved, so the estimate follows a real change
    assert report.windows[0]["accuracy"] - report.windows[2]["accuracy"] > 0.3


def test_anomaly_rule_fires_on_a_volume_spike(nbt_home):
    plog = PredictionLog()
    for k, n in enumerate([100, 104, 97, 101, 99, 300]):
        _log_day(plog, f"2026-05-0{k + 1}", n, accuracy=0.9, seed=k)
    report = monitor("m", alerts=["anomaly:volume"], drift=False)
    assert [a["window_start"].day for a in report.alerts] == [6]
    assert "sd from its rolling mean" in report.alerts[0]["message"]


def test_bad_window_and_rules(nbt_home):
    with pytest.raises(BadInput, match="Cannot parse the window 'fortnightish'"):
        monitor("m", window="fortnightish")
    with pytest.raises(BadInput, match="unknown metric 'acuracy'. Did you mean 'accuracy'"):
        AlertRule.parse("acuracy<0.9")
    with pytest.raises(BadInput, match="Malformed alert rule 'accuracy is low'"):
        AlertRule.parse("accuracy is low")
    with pytest.raises(BadInput, match="webhook must be an http"):
        monitor("m", webhook="ftp://x")
    assert parse_window("1h") == pd.Timedelta(hours=1)
    assert AlertRule.parse("anomaly:mean_confidence:2.5").value == 2.5
    assert AlertRule.parse("f1.billing<0.8").metric == "f1.billing"


def test_unknown_model_is_named(nbt_home):
    from nbtoolkit.errors import NotFound

    with pytest.raises(NotFound, match="Nothing is logged yet"):
        monitor("tickets")
    _log_day(PredictionLog(), "2026-03-01", 10, accuracy=0.9)
    with pytest.raises(NotFound, match="No predictions of 'n' .* Logged models: m\."):
        monitor("n", drift=False)
    assert monitor("m", start="2027-01-01", drift=False).windows == []


class _Hook(BaseHTTPRequestHandler):
    received: list = []
    release = threading.Event()

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/slow":
            self.release.wait(10)
        type(self).received.append((self.path, json.loads(body)))
        status = 500 if self.path == "/fail" else 204
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def hook_server():
    _Hook.received = []
    _Hook.release = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Hook
    _Hook.release.set()
    server.shutdown()
    server.server_close()


def test_webhook_receives_the_alert_payload(nbt_home, hook_server):
    url, hook = hook_server
    plog = PredictionLog()
    _log_day(plog, "2026-03-02", 300, accuracy=0.6, seed=3)
    report = monitor("m", alerts=["accuracy<0.9"], webhook=f"{url}/alerts", drift=False)
    assert report.webhook_delivered is True and report.sink_errors == []
    path, payload = hook.received[0]
    assert path == "/alerts" and payload["model"] == "m" and payload["source"] == "nbtoolkit"
    assert payload["alerts"][0]["rule"] == "accuracy<0.9" and payload["alerts"][0]["value"] < 0.9
    assert payload["latest_window"]["volume"] == 300
    # no alert, no POST
    monitor("m", alerts=["accuracy<0.1"], webhook=f"{url}/alerts", drift=False)
    assert len(hook.received) == 1


def test_webhook_failures_are_reported_not_raised(nbt_home, hook_server, caplog):
    url, hook = hook_server
    plog = PredictionLog()
    _log_day(plog, "2026-03-02", 100, accuracy=0.5, seed=4)
    report = monitor("m", alerts=["accuracy<0.9"], webhook=f"{url}/fail", drift=False, webhook_retries=2)
    assert report.alerted and report.webhook_delivered is False
    assert "HTTP 500" in report.sink_errors[0] and "3 attempt(s)" in report.sink_errors[0]
    assert len([p for p, _ in hook.received if p == "/fail"]) == 3
    slow = monitor("m", alerts=["accuracy<0.9"], webhook=f"{url}/slow", drift=False,
                   webhook_timeout=0.3, webhook_retries=0)
    assert "no answer within 0.3 s" in slow.sink_errors[0]
    assert any("nbtoolkit alert on m" in r.getMessage() for r in caplog.records)


def test_cli_exit_codes(nbt_home, capsys):
    plog = PredictionLog()
    _log_day(plog, "2026-03-01", 200, accuracy=0.95, seed=5)
    assert nbt_main(["monitor", "m", "--alert", "accuracy<0.9", "--no-drift"]) == 0
    _log_day(plog, "2026-03-02", 200, accuracy=0.5, seed=6)
    assert nbt_main(["monitor", "m", "--alert", "accuracy<0.9", "--no-drift"]) == 1
    out = capsys.readouterr()
    assert "ALERT window 2026-03-02" in out.out and "1 alert(s) fired" in out.err
    assert nbt_main(["monitor", "m", "--window", "soon"]) == 2
    assert "Cannot parse the window 'soon'" in capsys.readouterr().err
    assert nbt_main(["monitor", "m", "--alert", "speed>3"]) == 2
    assert nbt_main(["monitor", "m", "--no-drift", "--json", "--since", "2026-03-02"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["windows"]) == 1


def test_magic_returns_the_report(ip):
    plog = PredictionLog()
    _log_day(plog, "2026-03-01", 50, accuracy=0.5, seed=8)
    report = ip.run_line_magic("nbt", 'monitor m --alert "accuracy<0.9" --no-drift --window 12h')
    assert report.alerted and report.window == "12h"
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="unknown metric"):
        ip.run_line_magic("nbt", 'monitor m --alert "bogus<1"')


def test_accuracy_is_post_stratified_by_routing(nbt_home):
    """Agents label every routed ticket, resolutions only a sample of the others: no bias."""
    plog = PredictionLog()
    n = 1000
    rng = np.random.default_rng(11)
    routed = np.arange(n) < 200                      # 20 % go to humans, they are hard
    correct = np.where(routed, rng.random(n) < 0.5, rng.random(n) < 0.95)
    ids = [f"s{i}" for i in range(n)]
    plog.log("m/1", [{"x": 1}] * n, ["a"] * n, confidence=[0.8] * n, ids=ids, routed_to_human=routed,
             timestamps=["2026-07-01 10:00"] * n, registered=False)
    truth = np.where(correct, "a", "b")
    sample = routed | (rng.random(n) < 0.1)          # all routed, 10 % of the rest
    plog.record_outcomes([i for i, s in zip(ids, sample) if s], truth[sample])
    window = monitor("m", drift=False).windows[0]
    assert abs(window["accuracy"] - correct.mean()) < 0.04  # naive mean over outcomes would be ~0.68
    # the auto-handled stratum without outcomes: accuracy unknown, the estimate remains
    plog.log("m/1", [{"x": 1}] * 10, ["a"] * 10, confidence=[0.7] * 10, ids=[f"late{i}" for i in range(10)],
             routed_to_human=[True] * 5 + [False] * 5, timestamps=["2026-07-02 10:00"] * 10, registered=False)
    plog.record_outcomes([f"late{i}" for i in range(5)], ["a"] * 5)
    late = monitor("m", drift=False).windows[1]
    assert np.isnan(late["accuracy"]) and late["estimated_accuracy"] == pytest.approx(0.7)
