"""The support-ticket example end to end (small sizes): notebooks/pipeline.yaml through
run_pipeline on real papermill kernels, then the demo's HTML report and ``nbt monitor``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_support_ticket_pipeline_end_to_end(example_run, monkeypatch):
    from nbtoolkit import registry
    from nbtoolkit.monitoring import PredictionLog

    monkeypatch.setenv("NBT_HOME", str(example_run.home))  # the store the run wrote to
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "NBT_PREDICTIONS_URL"):
        monkeypatch.delenv(var, raising=False)
    report, out = example_run.report, example_run.out
    assert example_run.code == 0, out
    assert f"HTML report:        {report}" in out and "Executed notebooks:" in out

    steps = example_run.run["steps"]
    assert [s["status"] for s in steps.values()] == ["ok"] * 5
    assert all(Path(s["executed_notebook"]).exists() for s in steps.values())

    ev, mon, fb = steps["evaluate"]["outputs"], steps["monitor"]["outputs"], steps["feedback"]["outputs"]
    assert ev["accuracy"] > 0.8 and ev["suite_passed"] is True and 0 < ev["threshold"] < 1
    v1 = registry.resolve("tickets/1")
    assert float(v1.tags[registry.TAG_THRESHOLD]) == pytest.approx(ev["threshold"])
    # the drift in the second week is seen and alerted on
    assert mon["alerts"] > 0 and "drift_share>0.3" in mon["alert_rules"]
    assert 0 < mon["human_share"] < 0.6
    # feedback: corrections fed back, a challenger, a verdict acted upon
    assert fb["corrections"] > 50 and fb["challenger"] == "tickets/2"
    assert fb["recommendation"] in {"promote", "keep", "rollback"}
    expected_champion = "tickets/2" if fb["recommendation"] == "promote" else "tickets/1"
    assert fb["champion_after"] == expected_champion
    assert str(registry.resolve("tickets@champion").version) == expected_champion.split("/")[1]

    logged = PredictionLog().frame("tickets")
    assert set(logged["model_version"]) == {"1", "2"} and logged["routed_to_human"].any()
    assert logged["outcome"].notna().sum() > 100

    html = report.read_text()
    for section in ("Pipeline steps", "Model versions", "Evaluation", "Monitoring: drift", "A/B",
                    "data:image/png;base64"):
        assert section in html, section
    assert "unavailable:" not in html

    # the same log from a terminal: alerts → exit code 1
    cli = subprocess.run([sys.executable, "-m", "nbtoolkit.cli", "monitor", "tickets", "--version", "1",
                          "--alert", "drift_share>0.3", "--window", "1D"], capture_output=True, text=True)
    assert cli.returncode == 1, cli.stderr
    assert "ALERT" in cli.stdout
