"""``nbt status``: the last run of every step, and whether its result is still current.

A step is ``ok`` / ``cached`` when its last run succeeded and its cache key (notebook source,
parameters, upstream outputs) is unchanged, ``stale`` when something changed since (or a step it
needs is stale), ``failed`` / ``skipped`` as last run, ``running`` while a live run executes it,
``killed`` when that run's process is gone, and ``never run``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from ..reports.pipeline import PipelineStatus
from .cache import DONE, last_records, last_success, pid_alive, step_key
from .spec import load_pipeline, resolve_parameters


def pipeline_status(path: str | os.PathLike[str], *, parameters: Mapping[str, Any] | None = None) -> PipelineStatus:
    """Status of each step of the pipeline file at ``path`` (SPEC §5 ``nbt status``)."""
    pipeline = load_pipeline(path)
    resolved = resolve_parameters(pipeline, parameters)
    latest = last_records(pipeline.name, pipeline.steps)
    success = last_success(pipeline.name, pipeline.steps)
    status: dict[str, str] = {}
    rows = []
    for name, step in pipeline.steps.items():
        row: dict[str, Any] = {"step": name, "status": "never run", "last_run": None, "finished": None,
                               "duration_s": None, "executed_notebook": None, "reason": ""}
        if name in latest:
            run, rec = latest[name]
            row.update(last_run=run.get("run_id"), executed_notebook=rec.get("executed_notebook"),
                       duration_s=round(rec["duration"], 2) if rec.get("duration") is not None else None,
                       finished=_when(rec.get("finished")))
            row["status"], row["reason"] = _judge(rec, run, step, resolved[name], status, success)
        status[name] = row["status"]
        rows.append(row)
    return PipelineStatus(pipeline=pipeline.name, steps=rows)


def _judge(rec: Mapping[str, Any], run: Mapping[str, Any], step: Any, resolved: Any,
           status: Mapping[str, str], success: Mapping[str, Mapping[str, Any]]) -> tuple[str, str]:
    state = rec.get("status")
    if state in ("running", "pending"):
        alive = run.get("host") == os.uname().nodename and pid_alive(run.get("pid"))
        if alive and run.get("status") == "running":
            return "running", f"run {run.get('run_id')} is executing it"
        return "killed", "its run stopped before the step finished; the next run executes it"
    if state == "failed":
        return "failed", (rec.get("error") or {}).get("line", "")
    if state == "skipped":
        return "skipped", (rec.get("error") or {}).get("line", "")
    if state not in DONE:
        return str(state), ""
    stale_needs = [n for n in step.needs if status.get(n) not in DONE]
    if stale_needs:
        return "stale", f"needs {', '.join(stale_needs)}, which is not up to date"
    if rec.get("source_hash") and rec["source_hash"] != step.source_hash:
        return "stale", "the notebook changed"
    upstream = {n: (success.get(n) or {}).get("outputs") or {} for n in step.needs}
    # which secrets a run is given is up to that run: judge with the names the last run had
    key = step_key(step.source_hash, resolved.parameters, upstream, rec.get("secret_parameters") or ())
    if key != rec.get("key"):
        if rec.get("parameters") != resolved.parameters:
            return "stale", "the parameters changed"
        return "stale", "upstream outputs or nbtoolkit changed"
    return str(state), ""


def _when(ts: Any) -> str | None:
    if not isinstance(ts, (int, float)):
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
