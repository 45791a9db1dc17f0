"""The MLflow records of a pipeline run, written by the background Tracker: the parent run and a
step's nested run with its parameters, metrics and notebook; a store that cannot be written is a
warning-sized error on the tracker, not a crash of the run."""

from __future__ import annotations

import json

from nbtoolkit.pipeline.tracking import Tracker


def _record(notebook) -> dict:
    return {"status": "ok", "notebook": "step.ipynb", "key": "abc", "parameters": {"n": 3, "tag": "x"},
            "outputs": {"total": 42, "label": "done"}, "duration": 1.5, "started": 1.7e9,
            "finished": 1.7e9 + 1.5, "executed_notebook": str(notebook)}


def test_tracker_writes_the_parent_and_step_runs(nbt_home, tmp_path):
    notebook = tmp_path / "s.ipynb"
    notebook.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    tracker = Tracker(pipeline="demo", run_id="r1", pipeline_file="demo.yaml", parameters={"seed": 7})
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


def test_tracker_reports_a_store_it_cannot_open(nbt_home, tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'a-file' / 'x.db'}")
    tracker = Tracker(pipeline="demo", run_id="r2", pipeline_file="demo.yaml", parameters={})
    tracker.step("s", {"status": "skipped"})
    tracker.close("failed")
    assert tracker.error and tracker.error.startswith("MLflow logging failed: ")
    assert tracker.parent_run_id is None and tracker.step_run_ids == {}
