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
