"""Alerts are typed records (reports.monitoring.Alert) that still read like the dicts they were."""

from __future__ import annotations

import datetime as dt
import json

from nbtoolkit.monitoring.alerts import AlertRule, evaluate_rules
from nbtoolkit.reports.monitoring import Alert, MonitorReport

KEYS = ["window_start", "rule", "metric", "value", "message"]


def _windows() -> list[dict]:
    start = dt.datetime(2026, 3, 1)
    return [{"window_start": start + dt.timedelta(days=i), "accuracy": acc, "volume": 100}
            for i, acc in enumerate([0.95, 0.8, 0.97, 0.7])]


def test_rules_fire_typed_alerts_oldest_first():
    fired = evaluate_rules(_windows(), [AlertRule.parse("accuracy<0.9")])
    assert all(isinstance(a, Alert) for a in fired)
    assert [a.window_start.day for a in fired] == [2, 4] and [a.value for a in fired] == [0.8, 0.7]
    first = fired[0]
    assert first["rule"] == first.rule == "accuracy<0.9" and first.get("metric") == "accuracy"
    assert list(first.to_dict()) == KEYS == list(first.keys()) and dict(first.items()) == first.to_dict()
    assert first.message == "window 2026-03-02 00:00: accuracy=0.8 (accuracy<0.9)"


def test_report_json_keeps_the_alert_keys():
    fired = evaluate_rules(_windows(), [AlertRule.parse("accuracy<0.9")])
    report = MonitorReport(name="m", window="1D", windows=_windows(), alerts=fired)
    from_dicts = MonitorReport(name="m", window="1D", windows=_windows(), alerts=[a.to_dict() for a in fired])
    assert from_dicts.alerts == fired  # dicts given by old callers become records
    for payload in (report.to_dict(), report.payload()):
        alerts = json.loads(json.dumps(payload))["alerts"]
        assert [list(a) for a in alerts] == [KEYS, KEYS] and alerts[0]["window_start"] == "2026-03-02T00:00:00"
    assert list(report.to_frame()["alerts"]) == ["", "accuracy<0.9", "", "accuracy<0.9"]
    assert list(report.alerts_frame().columns) == KEYS and len(report.alerts_frame()) == 2
