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


def test_demo_report_escapes_and_says_what_is_missing(tmp_path, monkeypatch):
    from nbtoolkit import demo

    (tmp_path / "evaluation.html").write_text("<p class='evaluation'>EVAL</p>")
    notebook = tmp_path / "train <1>.ipynb"

    class Run:  # the parts of a PipelineRun the report reads
        run_id = "run<1>"
        steps = {"train": {"status": "ok", "duration": 1.5, "executed_notebook": str(notebook)},
                 "<b>step</b>": {"status": "failed", "duration": None}}
        outputs = {"evaluate": {"ref": "tickets/1", "accuracy": 0.91234,
                                "evaluation_html": str(tmp_path / "evaluation.html")},
                   "monitor": {"served": 10, "monitoring_png": str(tmp_path / "missing.png"),
                               "monitoring_json": str(tmp_path / "missing.json")}}

        def summary(self) -> str:
            return "Pipeline <x>: ok"

    monkeypatch.setattr(demo, "_versions", lambda model: "<table class='versions'></table>")
    page = demo.summary_html(Run(), wall_seconds=12.3)
    assert page.startswith("<!doctype html>") and page.endswith("</html>")
    assert "run&lt;1&gt;" in page and "Pipeline &lt;x&gt;: ok; demo wall time 12 s" in page
    assert "&lt;b&gt;step&lt;/b&gt;" in page and "<b>step</b>" not in page
    assert f'href="{notebook.as_uri()}">train &lt;1&gt;.ipynb</a>' in page
    assert "<p class='evaluation'>EVAL</p>" in page and "<table class='versions'>" in page  # reports' own HTML
    assert ">0.9123<" in page and page.count("<p><i>unavailable: FileNotFoundError") == 2


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
