"""The reports' Jinja2 templates: shipped as package data, autoescaped, imported lazily."""

from __future__ import annotations

import fnmatch
import importlib.resources
import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd

from nbtoolkit.reports import render

ROOT = Path(__file__).resolve().parents[1]


def test_every_template_is_package_data_and_loads():
    folder = importlib.resources.files("nbtoolkit.reports") / "templates"
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".j2"))
    assert "table.html.j2" in names and "drift.html.j2" in names
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["nbtoolkit"]
    for name in names:
        assert any(fnmatch.fnmatch(f"reports/templates/{name}", g) for g in globs), name
        assert render.environment().get_template(name).name == name  # through the PackageLoader


def test_the_shared_table_escapes_names_and_values():
    frame = pd.DataFrame({"<script>x</script>": [1.0, 2.5], "b": ["<img src=x onerror=alert(1)>", "ok"]})
    html = render.frame_table(frame, tone=lambda r: "bad" if r["b"] == "ok" else "")
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert html.count('class="nbt-bad"') == 1 and ">2.5<" in html and ">1<" in html
    assert render.frame_table(frame, max_rows=1).endswith("<p>... 1 more rows</p>")


def test_jinja2_is_imported_only_when_rendering():
    code = ("import sys, nbtoolkit.reports.base, nbtoolkit.reports.drift; assert 'jinja2' not in sys.modules; "
            "from nbtoolkit.reports.render import result; result('x'); assert 'jinja2' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def _demo_run(tmp_path, steps, outputs):
    """A PipelineRun as run_pipeline returns it, with these step records and outputs."""
    from nbtoolkit.reports.pipeline import PipelineRun, StepRecord

    records = {name: StepRecord(**{**rec, "outputs": outputs.get(name, {})}) for name, rec in steps.items()}
    return PipelineRun(pipeline="support-tickets", run_id="run<2>", run_dir=str(tmp_path / "runs" / "run<2>"),
                       status="ok", steps=records, duration=3.0)


def test_demo_report_escapes_and_says_what_is_missing(tmp_path, monkeypatch):
    from nbtoolkit import demo_report as demo

    (tmp_path / "evaluation.html").write_text("<p class='evaluation'>EVAL</p>")
    notebook = tmp_path / "train <1>.ipynb"
    run = _demo_run(tmp_path, {
        "train": {"status": "ok", "duration": 1.5, "executed_notebook": str(notebook)},
        "evaluate": {"status": "failed", "error": {"line": "ValueError: <no test set>"}},
        "<b>step</b>": {"status": "skipped"},
    }, {"train": {"ref": "tickets/1"},
        "evaluate": {"ref": "tickets/1", "accuracy": 0.91234, "evaluation_html": str(tmp_path / "evaluation.html")}})
    review = _demo_run(tmp_path, {"monitor": {"status": "ok", "duration": 2.0}},
                       {"monitor": {"windows": 3, "monitoring_json": str(tmp_path / "missing.json")}})
    monkeypatch.setattr(demo, "_registry", lambda model: [("html", render.safe("<table class='versions'></table>"))])
    monkeypatch.setattr(demo, "_loop", lambda folder, model: {"days": {}, "day_runs": {}, "fired": [], "retrains": {},
                                                              "moves": []})
    page = demo.summary_html(run, tmp_path / "pipeline.yaml", review=review, wall_seconds=12.3)
    assert page.startswith("<!doctype html>") and page.endswith("</html>")
    assert "run&lt;2&gt;" in page and "; demo wall time 12 s" in page
    assert "&lt;b&gt;step&lt;/b&gt;" in page and "<b>step</b>" not in page
    assert f'href="{notebook.as_uri()}">train &lt;1&gt;.ipynb</a>' in page
    assert "<p class='evaluation'>EVAL</p>" in page and "<table class='versions'>" in page  # reports' own HTML
    assert ">0.9123<" in page and "failed: ValueError: &lt;no test set&gt;" in page  # the story says why
    assert "No day has been processed yet." in page and "No alert has started retraining yet." in page
    assert page.count("<p><i>unavailable: FileNotFoundError") == 1  # the review section, not the page


def test_demo_report_tells_the_loop_in_order_with_a_timeline_and_grouped_alerts(tmp_path, monkeypatch):
    """Sections in order (bootstrap, days, retraining, rollout, review, registry); the timeline has a
    row per day with the events marked once; alerts grouped by rule with counts and first/last
    window; wide tables scroll inside their box; a cached step links the executed notebook of the
    run that produced it."""
    from nbtoolkit import demo_report as demo
    from nbtoolkit.reports.monitoring import Alert, MonitorReport

    days = [f"2026-02-{d:02d}T00:00:00" for d in range(1, 6)]
    windows = [{"window_start": d, "versions": "1", "volume": 100, "human_share": 0.1, "mean_confidence": 0.9,
                "labeled": 40, "accuracy": 0.9 - i / 50, "macro_f1": 0.8, "drift_share": 0.5 if i >= 2 else 0.0,
                "estimated_accuracy": 0.9, "estimated_accuracy_lower": 0.85, "estimated_accuracy_upper": 0.95,
                "drifted_columns": "channel" if i >= 2 else ""} for i, d in enumerate(days)]
    alerts = [Alert(days[i], "drift_share>0.3", "drift_share", 0.5 + i / 100, f"window {i}: drift") for i in (2, 3, 4)]
    alerts.insert(0, Alert(days[1], "accuracy<0.85", "accuracy", 0.8, "window 1: accuracy"))
    saved = MonitorReport(name="tickets", window="1D", windows=windows, alerts=alerts, rules=["drift_share>0.3"])
    (tmp_path / "monitoring.json").write_text(saved.to_json())
    first = tmp_path / "runs" / "run1"
    steps = {name: {"status": "cached", "cached_from": "run1", "executed_notebook": str(first / f"{name}.ipynb")}
             for name in ("ingest", "train", "evaluate")}
    run = _demo_run(tmp_path, steps, {
        "ingest": {"n_train": 30, "n_test": 10, "categories": ["bug", "login"]},
        "train": {"ref": "tickets/1", "train_accuracy": 0.99}, "evaluate": {"ref": "tickets/1", "accuracy": 0.9}})
    review = _demo_run(tmp_path, {"monitor": {"status": "ok", "duration": 4.0}},
                       {"monitor": {"windows": 5, "alerts": 4, "alert_rules": ["accuracy<0.85", "drift_share>0.3"],
                                    "monitoring_json": str(tmp_path / "monitoring.json")}})
    start = {"action": "start", "version": "2", "stage": 0, "share": 0.25, "ts": "t1", "reason": "rollout begins"}
    advance = {"action": "advance", "version": "2", "stage": 1, "share": 0.5, "ts": "t2", "reason": "not worse"}
    day_outputs = {d[:10]: {"served": 100, "by_version": {"1": 100}, "human_share": 0.1, "outcomes": {"human": 5},
                            "champion": "1", "challenger": None, "challenger_share": 0.0, "last_move": None}
                   for d in days}
    day_outputs["2026-02-04"].update(challenger="2", challenger_share=0.25, last_move={**start, "ts": "a"},
                                     by_version={"1": 75, "2": 25})
    day_outputs["2026-02-05"].update(challenger="2", challenger_share=0.5, last_move={**advance, "ts": "b"})
    firing = {"rule": "alert drift_share>0.3 on tickets -> retrain.yaml", "run_status": "passed", "pipeline_run": "r9",
              "evidence": {"metric": "drift_share", "value": 0.5, "window_start": days[2]}}
    loop = {"days": day_outputs, "day_runs": {}, "fired": [firing], "moves": [start, advance],
            "retrains": {"r9": {"feedback": {"challenger": "tickets/2", "corrections": 120, "trained_on": 150}}}}
    monkeypatch.setattr(demo, "_loop", lambda folder, model: loop)
    monkeypatch.setattr(demo, "_monitor_windows", lambda model, review=None: windows)
    monkeypatch.setattr(demo, "_registry", lambda model: [("html", render.safe("<table class='versions'></table>"))])
    page = demo.summary_html(run, tmp_path / "pipeline.yaml", review=review)

    order = ("ingest", "train", "evaluate", "days", "retrain", "rollout", "review", "registry")
    ids = [page.index(f'<section id="{s}">') for s in order]
    assert ids == sorted(ids) and page.index('id="story"') < ids[0]
    assert [page.index(f"{n} · ") for n in range(1, 8)] == sorted(page.index(f"{n} · ") for n in range(1, 8))
    # the timeline: one row per day; the trigger and each rollout move marked on their day, once
    timeline = page.split('<section id="days">')[1].split("</section>")[0]
    assert all(f">{d[:10]}<" in timeline for d in days) and 'alt="the timeline of the days"' in timeline
    assert timeline.count("drift alert: retrained tickets/2") == 1 and timeline.count("rollout starts v2") == 1
    assert timeline.count("rollout advances v2") == 1 and "0.900 [0.850, 0.950]" in timeline
    assert "start 0.25 → advance 0.5; v2 serves a share of 0.5" in page
    # alerts grouped by rule, in the order they first fired, with counts and first / last window
    rows = page.split('class="nbt-alert-rule nbt-bad"')[1:]
    assert len(rows) == 2 and "window 2: drift" not in page  # no bullet per alert
    cells = [[c.rsplit(">", 1)[1] for c in row.split("</td>")[:4]] for row in rows]
    assert cells == [["accuracy&lt;0.85", "1", "2026-02-02", "2026-02-02"],
                     ["drift_share&gt;0.3", "3", "2026-02-03", "2026-02-05"]]
    assert "drift_share 0.52 to 0.54" in page
    # every table scrolls inside its box instead of widening the page
    assert ".nbt-box{overflow-x:auto" in page
    assert '<h3>Alerts by rule</h3><div class="nbt-box"><table' in page
    assert '<details><summary>Every window (5)</summary><div class="nbt-box"><table' in page
    # a cached step links the notebook of the run that made it; a step of this run links its own
    assert f'href="{(first / "train.ipynb").as_uri()}">train.ipynb</a>' in page
    assert "step train: cached, reused from run run1" in page and page.count(">run run1<") == 3
    assert page.count(">this run<") == 1


def test_a_cached_run_names_the_runs_whose_notebooks_it_reused(tmp_path):
    """A cached rerun's folder holds only run.json: its text and HTML views say where each cached
    step's executed notebook is (``cached_from``; the producing run's folder when the path is missing)."""
    run = _demo_run(tmp_path, {
        "ingest": {"status": "cached", "cached_from": "run1", "executed_notebook": str(tmp_path / "run1" / "ingest.ipynb")},
        "train": {"status": "cached", "cached_from": "run1"},
        "report": {"status": "ok", "executed_notebook": str(tmp_path / "runs" / "run<2>" / "report.ipynb")},
    }, {})
    assert run.notebook_of("ingest") == (str(tmp_path / "run1" / "ingest.ipynb"), "run1")
    assert run.notebook_of("train") == (str(tmp_path / "runs" / "run1" / "train.ipynb"), "run1")
    assert run.notebook_of("report")[1] == "run<2>" and run.reused() == {"run1": ["ingest", "train"]}
    assert f"  reused from run run1 (ingest, train): {tmp_path / 'runs' / 'run1'}" in str(run)
    assert f"reused from run run1 (ingest, train): <code>{tmp_path / 'runs' / 'run1'}</code>" in run._repr_html_()


def test_threshold_chart_is_drawn_once_and_the_marker_moves():
    import re

    from nbtoolkit.widgets.threshold import CurveChart, curve_svg

    xs = [i / 20 for i in range(21)]
    series = {"threshold": xs, "coverage": [1 - x for x in xs], "accuracy": [0.7 + 0.3 * x for x in xs],
              "human_share": xs}
    chart = CurveChart(series, target=0.9)
    low, high = ({"threshold": t, "coverage": 1 - t, "accuracy": float("nan")} for t in (0.2, 0.8))
    a, b = chart.at(low), chart.at(high)
    assert a == curve_svg(series, low, target=0.9) and a.startswith("<svg") and a.endswith("</svg>")
    marker = re.compile(r'<line class="nbt-marker" x1="([\d.]+)"')
    assert float(marker.search(a)[1]) < float(marker.search(b)[1])  # the marker follows the threshold
    assert a.startswith(chart.head) and b.startswith(chart.head) and b.endswith(chart.tail)  # drawn once
    assert a.count("<polyline") == 3 and "target 0.9" in a and a.count("<circle") == 1  # NaN accuracy: no dot
