"""Triggers (``on:`` in pipeline.yaml, ``nbt monitor --on-alert``): an alert or new outcomes start a pipeline.

Real components: a registered model, the prediction log, monitor() over it, papermill kernels
running the started pipeline's notebook, MLflow runs recording each firing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

import nbtoolkit as nbt
from nbtoolkit.errors import BadInput
from nbtoolkit.monitoring import PredictionLog
from nbtoolkit.pipeline.triggers import fired

pytestmark = pytest.mark.xdist_group("triggers")  # kernels: keep these on one worker


def _notebook(path: Path, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("trigger = ''\nevidence = {}")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


@pytest.fixture
def pipelines(nbt_home, tmp_path):
    """ingest.yaml (with on: rules written per test) and retrain.yaml, whose notebook writes what it got."""
    _notebook(tmp_path / "noop.ipynb", "x = 1")
    _notebook(tmp_path / "retrain.ipynb",
              "import json, pathlib\n"
              "with open('started.jsonl', 'a') as f:\n"
              "    f.write(json.dumps({'trigger': trigger, 'evidence': evidence}) + '\\n')")
    (tmp_path / "retrain.yaml").write_text("name: retrain\nsteps:\n  - name: retrain\n    notebook: retrain.ipynb\n")

    def ingest(on: str) -> Path:
        path = tmp_path / "ingest.yaml"
        path.write_text("name: ingest\nsteps:\n  - name: ingest\n    notebook: noop.ipynb\n" + textwrap.dedent(on))
        return path

    return tmp_path, ingest


def _started(folder: Path) -> list[dict]:
    path = folder / "started.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _log(n: int, *, day: str = "2026-03-02", version: str = "1", outcomes: int = 0) -> list[str]:
    plog = PredictionLog()
    ids = [f"{day}-{version}-{i}" for i in range(n)]
    stamps = pd.Timestamp(day) + pd.to_timedelta(np.linspace(0, 80000, n), unit="s")
    plog.log(f"m/{version}", [{"x": float(i)} for i in range(n)], ["a"] * n, confidence=np.full(n, 0.8),
             ids=ids, timestamps=stamps, registered=False)
    if outcomes:
        plog.record_outcomes(ids[:outcomes], [1] * outcomes)  # a class of the registered iris model
    return ids


def test_an_alert_starts_the_named_pipeline_once_per_window_with_its_evidence(pipelines):
    folder, ingest = pipelines
    _log(8)
    path = ingest("""\
        on:
          - model: m
            alert: volume>5
            window: 1D
            run: retrain.yaml
        """)  # an unquoted `on:` (YAML 1.1 reads it as true) works
    run = nbt.run_pipeline(path)
    assert [t["status"] for t in run.triggered] == ["fired"] and run.triggered[0]["run_status"] == "passed"
    started = _started(folder)
    assert len(started) == 1
    assert started[0]["trigger"] == "alert volume>5 on m -> retrain.yaml"
    assert started[0]["evidence"]["metric"] == "volume" and started[0]["evidence"]["value"] == 8
    assert started[0]["evidence"]["window_start"].startswith("2026-03-02")
    assert "trigger alert volume>5 on m -> retrain.yaml: fired, the started run passed (volume=8" in str(run)

    again = nbt.run_pipeline(path, force=True)  # same window, same evidence: not again
    assert [t["status"] for t in again.triggered] == ["already fired"] and len(_started(folder)) == 1
    _log(7, day="2026-03-03")  # a new window fires again
    nbt.run_pipeline(path, force=True)
    assert len(_started(folder)) == 2 and _started(folder)[1]["evidence"]["window_start"].startswith("2026-03-03")
    records = fired(source=str(path))
    assert [r["run_status"] for r in records] == ["passed", "passed"]
    assert records[0]["evidence"]["window_start"].startswith("2026-03-03")  # newest first


def test_a_quiet_rule_and_an_unreadable_log_start_nothing(pipelines):
    folder, ingest = pipelines
    path = ingest("""\
        "on":
          - {model: m, alert: volume>5, run: retrain.yaml}
        """)
    first = nbt.run_pipeline(path)  # nothing logged yet: reported, the run still passed
    assert first.passed and first.triggered[0]["status"] == "not checked"
    assert "m" in first.triggered[0]["reason"]
    _log(3)
    quiet = nbt.run_pipeline(path, force=True)
    assert quiet.triggered[0]["status"] == "quiet" and _started(folder) == []


def test_new_outcomes_since_the_serving_version_start_retraining(pipelines, iris, iris_model):
    folder, ingest = pipelines
    X, y = iris
    nbt.register(iris_model, "m", X=X, y=y)
    path = ingest("""\
        "on":
          - {model: m, outcomes: 5, run: retrain.yaml}
        """)
    _log(10, outcomes=4)
    assert nbt.run_pipeline(path).triggered[0]["status"] == "quiet"
    PredictionLog().record_outcomes(["2026-03-02-1-4"], [1])  # the fifth
    run = nbt.run_pipeline(path, force=True)
    assert run.triggered[0]["status"] == "fired"
    evidence = _started(folder)[0]["evidence"]
    assert evidence["outcomes"] == 5 and evidence["serving_version"] == "1"
    assert nbt.run_pipeline(path, force=True).triggered[0]["status"] == "already fired"  # once per version


def test_nbt_monitor_on_alert_starts_the_pipeline(pipelines):
    folder, _ = pipelines
    _log(8)
    nbt_cli = str(Path(sys.executable).parent / "nbt")
    proc = subprocess.run([nbt_cli, "monitor", "m", "--alert", "volume>5", "--no-drift", "--on-alert", "retrain.yaml"],
                          capture_output=True, text=True, cwd=folder)
    assert proc.returncode == 1, proc.stderr  # an alert fired
    assert "fired, the started run passed" in proc.stdout
    assert _started(folder)[0]["evidence"]["rule"] == "volume>5"
    bad = subprocess.run([nbt_cli, "monitor", "m", "--alert", "volume>5", "--on-alert", "retrian.yaml"],
                         capture_output=True, text=True, cwd=folder)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "retrian.yaml" in bad.stderr and "does not exist" in bad.stderr


@pytest.mark.parametrize("on, message", [
    ("  - {model: m, alert: volume>5, run: nowhere.yaml}\n", "runs 'nowhere.yaml', which does not exist"),
    ("  - {model: m, alert: volme>5, run: retrain.yaml}\n", "Did you mean 'volume'"),
    ("  - {model: m, alert: volume>5, outcomes: 3, run: retrain.yaml}\n", "either 'alert'.*not both"),
    ("  - {model: m, run: retrain.yaml}\n", "either 'alert'.*not neither"),
    ("  - {model: m, outcomes: 0, run: retrain.yaml}\n", "outcomes"),
    ("  - {model: m, alert: volume>5, window: 3 parsecs, run: retrain.yaml}\n", "3 parsecs"),
    ("  - {model: m, alert: volume>5, run: noop.ipynb}\n", "not a pipeline .yaml file"),
])
def test_bad_triggers_are_one_line_and_run_nothing(pipelines, on, message):
    folder, ingest = pipelines
    path = ingest('"on":\n' + on)
    with pytest.raises(BadInput, match=message) as info:
        nbt.run_pipeline(path)
    assert "\n" not in str(info.value)
    assert not (folder / "started.jsonl").exists()
    assert not (Path(folder) / "nbt-home" / "runs" / "ingest").exists() or not any(
        (Path(folder) / "nbt-home" / "runs" / "ingest").iterdir())


def test_rules_are_checked_after_each_partition_and_a_cooldown_keeps_them_quiet(pipelines):
    """A partitioned pipeline: each partition logs its day; the rule is checked after each one (so a
    later partition already runs after the pipeline it started), and ``cooldown: 2D`` keeps the next
    day's alert from starting it again."""
    folder, _ = pipelines
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("partition = ''\npartition_paths = []")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "import json, numpy as np, pandas as pd\n"
        "from nbtoolkit.monitoring import PredictionLog\n"
        "n = json.load(open(partition_paths[0]))['n']\n"
        "stamps = pd.Timestamp(partition) + pd.to_timedelta(np.linspace(0, 80000, n), unit='s')\n"
        "PredictionLog().log('m/1', [{'x': float(i)} for i in range(n)], ['a'] * n, confidence=np.full(n, 0.8),\n"
        "                    ids=[f'{partition}-{i}' for i in range(n)], timestamps=stamps, registered=False)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(folder / "day.ipynb"))
    for day, n in (("2026-03-01", 3), ("2026-03-02", 8), ("2026-03-03", 9), ("2026-03-04", 8)):
        (folder / "days" / f"date={day}").mkdir(parents=True)
        (folder / "days" / f"date={day}" / "n.json").write_text(json.dumps({"n": n}))
    path = folder / "daily.yaml"
    path.write_text(textwrap.dedent("""\
        name: daily
        partitions: {key: date, source: "days/date={date}/*.json"}
        steps:
          - {name: day, notebook: day.ipynb}
        "on":
          - {model: m, alert: volume>5, window: 1D, cooldown: 2D, run: retrain.yaml}
        """))
    run = nbt.run_pipeline(path, pending=True)
    assert run.processed == ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]
    checked = [(t["partition"], t["status"]) for t in run.triggered]
    assert checked == [("2026-03-01", "quiet"), ("2026-03-02", "fired"), ("2026-03-03", "cooling down"),
                       ("2026-03-04", "fired")]
    started = _started(folder)
    assert [s["evidence"]["window_start"][:10] for s in started] == ["2026-03-02", "2026-03-04"]
    text = str(run)
    assert "after 2026-03-02: fired" in text and "after 2026-03-03: cooling down" in text
    assert "quiet after 1 partition(s)" in text


def test_a_cooldown_on_an_outcomes_rule_or_unparsable_is_refused(pipelines):
    _, ingest = pipelines
    with pytest.raises(BadInput, match="counts outcomes, which have no 'cooldown'"):
        nbt.run_pipeline(ingest('"on":\n  - {model: m, outcomes: 5, cooldown: 2D, run: retrain.yaml}\n'))
    with pytest.raises(BadInput, match="cooldown of trigger 1") as info:
        nbt.run_pipeline(ingest('"on":\n  - {model: m, alert: volume>5, cooldown: soon, run: retrain.yaml}\n'))
    assert "\n" not in str(info.value)
