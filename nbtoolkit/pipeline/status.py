"""``nbt status``: the last run of every step, and whether its result is still current.

A step is ``ok`` / ``cached`` when its last run succeeded and its cache key (notebook source,
parameters, upstream outputs) is unchanged, ``stale`` when something changed since (or a step it
needs is stale), ``failed`` / ``skipped`` as last run, ``running`` while a live run executes it,
``killed`` when that run's process is gone, and ``never run``. Each step is judged with the
parameters its last run was given (``-p`` included) unless other parameters are asked for.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import NbtError
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
    partition: Mapping[str, Any] | None  # {"value", "data_hash"} of a partitioned pipeline's run
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
                   partition=rec.get("partition") if isinstance(rec.get("partition"), Mapping) else None,
                   error_line=(rec.get("error") or {}).get("line", ""),
                   duration=duration if isinstance(duration, (int, float)) else None,
                   finished=finished if isinstance(finished, (int, float)) else None,
                   executed_notebook=rec.get("executed_notebook"))


def pipeline_status(path: str | os.PathLike[str], *, parameters: Mapping[str, Any] | None = None) -> PipelineStatus:
    """Status of each step of the pipeline file at ``path`` (SPEC §5 ``nbt status``).

    Parameters
    ----------
    path : the pipeline file
    parameters : the overrides (``-p``) to judge staleness against. ``None`` (the default) judges
        each step with the overrides its last run was given, so a step just run or reused with
        ``-p n=1`` is ``ok`` / ``cached``, not stale; ``{}`` judges against the file's defaults.
    """
    pipeline = load_pipeline(path)
    given = resolve_parameters(pipeline, parameters) if parameters is not None else None
    latest = last_records(pipeline.name, pipeline.steps)
    success = last_success(pipeline.name, pipeline.steps)
    by_run: dict[str, Mapping[str, Any]] = {}
    status: dict[str, str] = {}
    rows = []
    for name, step in pipeline.steps.items():
        row = StatusRow(step=name)
        if name in latest:
            run, rec = latest[name]
            last = LastRun.of(run, rec)
            row.last_run, row.executed_notebook = last.run_id, last.executed_notebook
            row.finished = _when(last.finished)
            row.duration_s = round(last.duration, 2) if last.duration is not None else None
            resolved = given if given is not None else _as_run(pipeline, run, by_run)
            row.status, row.reason = _judge(last, step, resolved[name], status, success)
        status[name] = row.status
        rows.append(asdict(row))
    partitions = None
    if pipeline.partitions is not None:
        from .continuous import partition_rows

        partitions = partition_rows(pipeline)
    return PipelineStatus(pipeline=pipeline.name, steps=rows, partitions=partitions)


def _as_run(pipeline: Any, run: Mapping[str, Any], cache: dict[str, Mapping[str, Any]]) -> Mapping[str, Any]:
    """The file's parameters resolved with the overrides ``run`` was given (``run.json``)."""
    run_id = str(run.get("run_id"))
    if run_id not in cache:
        overrides = run.get("parameters")
        with warnings.catch_warnings():  # the run already warned about keys no step takes
            warnings.simplefilter("ignore")
            try:
                cache[run_id] = resolve_parameters(pipeline, overrides if isinstance(overrides, Mapping) else {})
            except NbtError:  # the file changed since (a step it targeted is gone): judge by the file
                cache[run_id] = resolve_parameters(pipeline, {})
    return cache[run_id]


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
    key = step_key(step.source_hash, resolved.parameters, upstream, last.secret_parameters, partition=last.partition)
    if key != last.key:
        if last.parameters != resolved.parameters:
            return "stale", "the parameters changed"
        return "stale", "upstream outputs or nbtoolkit changed"
    return str(state), ""


def _when(ts: Any) -> str | None:
    if not isinstance(ts, (int, float)):
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
