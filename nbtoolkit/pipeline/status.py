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
from dataclasses import asdict, dataclass
from typing import Any

from ..reports.pipeline import PipelineStatus
from .cache import DONE, last_records, last_success, pid_alive, step_key
from .spec import load_pipeline, resolve_parameters


@dataclass
class StatusRow:
    """One step's line of ``nbt status`` (its JSON form is :func:`dataclasses.asdict`)."""

    step: str
    status: str = "never run"
    last_run: str | None = None
    finished: str | None = None
    duration_s: float | None = None
    executed_notebook: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class LastRun:
    """What ``run.json`` says about a step's last run: the fields the status judges by."""

    run_id: str | None
    run_status: str | None           # the whole run's status (running while it executes)
    host: str | None
    pid: int | None
    status: str | None               # the step's
    key: str | None
    source_hash: str | None
    parameters: Any
    secret_parameters: tuple[str, ...]
    error_line: str
    duration: float | None
    finished: float | None
    executed_notebook: str | None

    @classmethod
    def of(cls, run: Mapping[str, Any], rec: Mapping[str, Any]) -> LastRun:
        duration, finished = rec.get("duration"), rec.get("finished")
        return cls(run_id=run.get("run_id"), run_status=run.get("status"), host=run.get("host"), pid=run.get("pid"),
                   status=rec.get("status"), key=rec.get("key"), source_hash=rec.get("source_hash"),
                   parameters=rec.get("parameters"), secret_parameters=tuple(rec.get("secret_parameters") or ()),
                   error_line=(rec.get("error") or {}).get("line", ""),
                   duration=duration if isinstance(duration, (int, float)) else None,
                   finished=finished if isinstance(finished, (int, float)) else None,
                   executed_notebook=rec.get("executed_notebook"))


def pipeline_status(path: str | os.PathLike[str], *, parameters: Mapping[str, Any] | None = None) -> PipelineStatus:
    """Status of each step of the pipeline file at ``path`` (SPEC §5 ``nbt status``)."""
    pipeline = load_pipeline(path)
    resolved = resolve_parameters(pipeline, parameters)
    latest = last_records(pipeline.name, pipeline.steps)
    success = last_success(pipeline.name, pipeline.steps)
    status: dict[str, str] = {}
    rows = []
    for name, step in pipeline.steps.items():
        row = StatusRow(step=name)
        if name in latest:
            last = LastRun.of(*latest[name])
            row.last_run, row.executed_notebook, row.finished = last.run_id, last.executed_notebook, _when(last.finished)
            row.duration_s = round(last.duration, 2) if last.duration is not None else None
            row.status, row.reason = _judge(last, step, resolved[name], status, success)
        status[name] = row.status
        rows.append(asdict(row))
    return PipelineStatus(pipeline=pipeline.name, steps=rows)


def _judge(last: LastRun, step: Any, resolved: Any, status: Mapping[str, str],
           success: Mapping[str, Mapping[str, Any]]) -> tuple[str, str]:
    state = last.status
    if state in ("running", "pending"):
        alive = last.host == os.uname().nodename and pid_alive(last.pid)
        if alive and last.run_status == "running":
            return "running", f"run {last.run_id} is executing it"
        return "killed", "its run stopped before the step finished; the next run executes it"
    if state in ("failed", "skipped"):
        return state, last.error_line
    if state not in DONE:
        return str(state), ""
    stale_needs = [n for n in step.needs if status.get(n) not in DONE]
    if stale_needs:
        return "stale", f"needs {', '.join(stale_needs)}, which is not up to date"
    if last.source_hash and last.source_hash != step.source_hash:
        return "stale", "the notebook changed"
    upstream = {n: (success.get(n) or {}).get("outputs") or {} for n in step.needs}
    # which secrets a run is given is up to that run: judge with the names the last run had
    key = step_key(step.source_hash, resolved.parameters, upstream, last.secret_parameters)
    if key != last.key:
        if last.parameters != resolved.parameters:
            return "stale", "the parameters changed"
        return "stale", "upstream outputs or nbtoolkit changed"
    return str(state), ""


def _when(ts: Any) -> str | None:
    if not isinstance(ts, (int, float)):
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
