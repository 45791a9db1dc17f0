"""The support-ticket example end to end (small sizes): notebooks/pipeline.yaml through
run_pipeline on real papermill kernels, then the demo's HTML report and ``nbt monitor``."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_SIZES, ROOT


@pytest.mark.slow
def test_support_ticket_pipeline_end_to_end(example_run, monkeypatch):
    from nbtoolkit import demo, registry
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
    assert "unavailable:" not in html and "data:image/png;base64" in html
    # the story: what happened, the steps, then one section per step in pipeline order, the registry
    order = ['id="story"', 'id="steps"'] + [f'<section id="{s}">' for s in
                                             ("ingest", "train", "evaluate", "monitor", "feedback", "registry")]
    assert [html.index(x) for x in order] == sorted(html.index(x) for x in order)
    # one monitoring view: the monitor step's own windows and alerts (not the whole log re-read)
    saved = json.loads(Path(mon["monitoring_json"]).read_text())
    days = len(saved["windows"])
    assert days == 14 and f"{days} window(s) of 1D" in html and len(saved["alerts"]) == mon["alerts"]
    # alerts grouped by rule: one row per rule that fired, counts adding up to the alerts
    rows = html.split('class="nbt-alert-rule nbt-bad"')[1:]
    assert len(rows) == len(mon["alert_rules"]) and "<li>window " not in html
    counts = [int(r.split("</td>")[1].rsplit(">", 1)[1]) for r in rows]
    assert sum(counts) == mon["alerts"]
    assert '<h3>Alerts by rule</h3><div class="nbt-box"><table' in html and ".nbt-box{overflow-x:auto" in html
    # the champion's metrics are shown: every version has the test.* columns filled
    versions = registry.versions("tickets").to_frame()
    assert {"test.accuracy", "test.f1_macro"} <= set(versions.columns)
    assert versions[["test.accuracy", "test.f1_macro"]].notna().all().all(), versions
    champion = str(registry.resolve("tickets@champion").version)
    assert f">@champion</td><td style=\"padding:2px 8px;font-weight:bold\">tickets/{champion}<" in html
    shown = html.split('class="nbt-table nbt-champion-metrics"')[1].split("</table>")[0]
    test_row = shown.split('>test</td>')[1].split("</tr>")[0]
    assert test_row.count("<td") >= 5 and '8px"></td>' not in test_row  # every test metric has a value

    # a cached rerun: every step reused, its report links the notebooks of the run that made them
    again = example_run.home.parent / "again.html"
    argv = ["--pipeline", str(ROOT / "notebooks" / "pipeline.yaml"), "--output", str(again)]
    for key, value in EXAMPLE_SIZES.items():
        argv += ["-p", f"{key}={value}"]
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert demo.main(argv) == 0
    text, first = buffer.getvalue(), example_run.run["run_id"]
    assert "(5 cached)" in text and f"reused from run {first} (ingest, train, evaluate, monitor, feedback)" in text
    page = again.read_text()
    for name, step in steps.items():
        assert f'href="{Path(step["executed_notebook"]).as_uri()}">{name}.ipynb</a>' in page
        assert f"step {name}: cached, reused from run {first}" in page
    assert page.count(f">run {first}<") == 5 and "unavailable:" not in page

    # the same log from a terminal: alerts → exit code 1
    cli = subprocess.run([sys.executable, "-m", "nbtoolkit.cli", "monitor", "tickets", "--version", "1",
                          "--alert", "drift_share>0.3", "--window", "1D"], capture_output=True, text=True)
    assert cli.returncode == 1, cli.stderr
    assert "ALERT" in cli.stdout
