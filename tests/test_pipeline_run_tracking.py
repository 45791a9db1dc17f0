"""The MLflow records of a pipeline run, written by the background Tracker (a thread) or its helper
process (the `nbt` command): the parent run and a step's nested run with its parameters, metrics
and notebook; a store that cannot be written is a warning-sized error on the tracker, not a crash
of the run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nbtoolkit.pipeline.tracking import ProcessTracker, Tracker

BOTH = pytest.mark.parametrize("kind", [Tracker, ProcessTracker], ids=["thread", "process"])


def _record(notebook) -> dict:
    return {"status": "ok", "notebook": "step.ipynb", "key": "abc", "parameters": {"n": 3, "tag": "x"},
            "outputs": {"total": 42, "label": "done"}, "duration": 1.5, "started": 1.7e9,
            "finished": 1.7e9 + 1.5, "executed_notebook": str(notebook)}


@BOTH
def test_tracker_writes_the_parent_and_step_runs(nbt_home, tmp_path, kind):
    notebook = tmp_path / "s.ipynb"
    notebook.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    tracker = kind(pipeline="demo", run_id="r1", pipeline_file="demo.yaml", parameters={"seed": 7})
    tracker.step("s", _record(notebook))
    tracker.close("ok")
    assert tracker.error is None
    from nbtoolkit import store

    client = store.client()
    parent = client.get_run(tracker.parent_run_id)
    assert parent.info.status == "FINISHED" and parent.data.params == {"seed": "7"}
    assert parent.data.tags["nbt.pipeline_run"] == "r1"
    step = client.get_run(tracker.step_run_ids["s"])
    assert step.data.tags["mlflow.parentRunId"] == tracker.parent_run_id
    assert step.data.metrics == {"total": 42.0, "duration_s": 1.5}
    assert step.data.params == {"n": "3", "tag": "x"}
    assert [a.path for a in client.list_artifacts(step.info.run_id, "notebook")] == ["notebook/s.ipynb"]


@BOTH
def test_tracker_reports_a_store_it_cannot_open(nbt_home, tmp_path, monkeypatch, kind):
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'a-file' / 'x.db'}")
    tracker = kind(pipeline="demo", run_id="r2", pipeline_file="demo.yaml", parameters={})
    tracker.step("s", {"status": "skipped"})
    tracker.close("failed")
    assert tracker.error and tracker.error.startswith("MLflow logging failed: ")
    assert tracker.parent_run_id is None and tracker.step_run_ids == {}


def test_the_command_writes_its_records_from_a_helper_process(nbt_home, tmp_path):
    """`nbt pipeline run` (MLflow not imported in the command) records through the helper process:
    run.json names the parent and step runs, and MLflow holds them with the executed notebook."""
    nb = {"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "execution_count": None,
                     "outputs": [], "source": "n = 1"},
                    {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                     "source": "total = n * 2"}],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "s.ipynb").write_text(json.dumps(nb))
    (tmp_path / "one.yaml").write_text("name: one\nsteps:\n  - name: s\n    notebook: s.ipynb\n")
    out = subprocess.run([str(Path(sys.executable).parent / "nbt"), "pipeline", "run", "one.yaml", "-p", "n", "21"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "MLflow logging failed" not in out.stderr
    (run_json,) = (nbt_home / "runs" / "one").glob("*/run.json")
    doc = json.loads(run_json.read_text())
    from nbtoolkit import store

    client = store.client()
    parent = client.get_run(doc["mlflow_run_id"])
    assert parent.info.status == "FINISHED" and parent.data.params == {"n": "21"}
    step = client.get_run(doc["steps"]["s"]["mlflow_run_id"])
    assert step.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert step.data.params == {"n": "21"} and "duration_s" in step.data.metrics
    assert [a.path for a in client.list_artifacts(step.info.run_id, "notebook")] == ["notebook/s.ipynb"]
