"""The state of one pipeline run: its step records, ``run.json``, progress events and MLflow tracker
(``RunState``), and how a step's kernel is launched (``launch``). :mod:`.runner` decides what runs."""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from .. import __version__, config
from ..reports.pipeline import PipelineRun, StepRecord
from . import tracking
from .cache import DONE, new_run_id, runs_folder, step_key, write_json_atomic
from .partitions import Partition
from .progress import CACHED, FAILED, OK, PENDING, RUNNING, SKIPPED, PipelineEvent
from .spec import Pipeline, Resolved
from .task import WarmKernel


def launch(pipeline: Pipeline, resolved: Mapping[str, Resolved], run_id: str, name: str) -> dict[str, Any]:
    """How step ``name`` of run ``run_id`` launches its kernel: kernel name, folder, environment, secrets.

    The environment is what a step's kernel must see to write into the same store as this process.
    """
    step = pipeline.steps[name]
    env = {
        "NBT_PIPELINE_RUN_ID": run_id, "NBT_PIPELINE": pipeline.name, "NBT_STEP": name,
        "NBT_NOTEBOOK_PATH": str(step.notebook), "NBT_HOME": str(config.home()),
        "MLFLOW_TRACKING_URI": config.tracking_uri(), "MLFLOW_REGISTRY_URI": config.registry_uri(),
        "NBT_EXPERIMENT": config.experiment_name(), "NBT_PREDICTIONS_URL": config.predictions_url(),
    }
    return {"step": name, "run_id": run_id, "kernel_name": step.kernel_name,
            "cwd": str(step.cwd or step.notebook.parent), "secrets": dict(resolved[name].secrets), "env": env}


class RunState:
    """The state of one run: step records, ``run.json``, events, the MLflow tracker."""

    def __init__(self, pipeline: Pipeline, included: set[str], resolved: Mapping[str, Resolved],
                 overrides: Mapping[str, Any], callbacks: list[Callable[[PipelineEvent], Any]],
                 part: Partition | None = None, *, run_id: str | None = None,
                 warm: tuple[str, WarmKernel] | None = None) -> None:
        self.pipeline = pipeline
        self.part = part
        self.warm = warm  # (step, kernel started ahead for it)
        # what a step of a partition run records and hashes: the key value and the data's hash
        self.partition = {"value": part.value, "data_hash": part.data_hash} if part is not None else None
        self.resolved = resolved
        self.callbacks = callbacks
        self.run_id = run_id or new_run_id()
        self.dir = runs_folder(pipeline.name) / self.run_id
        self.dir.mkdir(parents=True, exist_ok=False)
        self.started = time.time()
        self.tracker: Any = None
        self.warnings: list[str] = []
        self.steps: dict[str, StepRecord] = {
            name: StepRecord(status=PENDING, notebook=str(pipeline.steps[name].notebook),
                             parameters=dict(resolved[name].parameters),
                             secret_parameters=sorted(resolved[name].secrets), partition=self.partition)
            for name in pipeline.steps if name in included}
        self.doc: dict[str, Any] = {
            "pipeline": pipeline.name, "pipeline_file": str(pipeline.path), "run_id": self.run_id,
            "status": RUNNING, "started_ts": self.started, "started": _iso(self.started), "finished": None,
            "pid": os.getpid(), "host": os.uname().nodename, "nbtoolkit_version": __version__,
            "parameters": dict(overrides), "mlflow_run_id": None,
            **({"partition": self.partition} if self.partition is not None else {})}
        self.write()
        self.emit(None, "started")

    # ------------------------------------------------------------------ decisions
    def readiness(self, name: str, history: Mapping[str, Mapping[str, Any]], forced: set[str]) -> str:
        """``cached`` / ``skipped`` (settled here), ``execute``, or ``wait`` for needs to finish."""
        step = self.pipeline.steps[name]
        needs = [self.steps[n].status for n in step.needs]
        if any(s in (FAILED, SKIPPED) for s in needs):
            bad = [n for n in step.needs if self.steps[n].status in (FAILED, SKIPPED)]
            self.set(name, SKIPPED, duration=0.0, error={"line": f"needs {', '.join(bad)}, which did not succeed"})
            return SKIPPED
        if not all(s in DONE for s in needs):
            return "wait"
        rec = self.steps[name]
        rec.upstream = {n: self.steps[n].outputs or {} for n in step.needs}
        rec.source_hash = step.source_hash
        rec.key = step_key(step.source_hash, rec.parameters, rec.upstream, self.resolved[name].secrets,
                           partition=self.partition)
        hit = history.get(name)
        if name not in forced and hit and hit.get("key") == rec.key:
            self.set(name, CACHED, duration=0.0, outputs=hit.get("outputs") or {},
                     executed_notebook=hit.get("executed_notebook"), cached_from=hit.get("run_id"))
            return CACHED
        return "execute"

    def task(self, name: str) -> dict[str, Any]:
        step = self.pipeline.steps[name]
        rec, res = self.steps[name], self.resolved[name]
        parameters = dict(res.parameters)
        if self.part is not None:
            parameters.update(self.part.parameters())
        if step.needs:
            parameters["upstream"] = rec.upstream
        task = {**launch(self.pipeline, self.resolved, self.run_id, name), "notebook": str(step.notebook),
                "output": str(self.dir / f"{name}.ipynb"), "parameters": parameters, "timeout": step.timeout}
        if self.warm is not None and self.warm[0] == name:
            task["warm_kernel"] = self.warm[1]
        return task

    # ------------------------------------------------------------------ changes
    def set(self, name: str, status: str, **fields: Any) -> None:
        rec = self.steps[name]
        for key, value in fields.items():
            setattr(rec, key, value)
        rec.status = status
        if status not in (PENDING, RUNNING):
            if rec.finished is None:
                rec.finished = time.time()
            if self.tracker is not None:
                self.tracker.step(name, rec)
        self.write()
        err = (rec.error or {}).get("line") if status in (FAILED, SKIPPED) else None
        self.emit(name, status, duration=rec.duration if status not in (PENDING, RUNNING) else None,
                  executed_notebook=rec.executed_notebook, error=err)

    def finish(self, name: str, result: Mapping[str, Any]) -> None:
        status = OK if result.get("status") == "ok" else FAILED
        fields = {k: result[k] for k in ("executed_notebook", "started", "finished", "duration") if k in result}
        fields.setdefault("duration", time.time() - (self.steps[name].started or time.time()))
        self.set(name, status, outputs=dict(result.get("outputs") or {}), error=result.get("error"), **fields)

    def start_tracking(self) -> None:
        tags = {"nbt.partition": self.partition["value"]} if self.partition is not None else {}
        self.tracker = tracking.start(pipeline=self.pipeline.name, run_id=self.run_id,
                                      pipeline_file=str(self.pipeline.path), parameters=self.doc["parameters"],
                                      tags=tags)
        for name, rec in self.steps.items():  # steps settled (cached, skipped) before anything ran
            if rec.status not in (PENDING, RUNNING):
                self.tracker.step(name, rec)

    def close(self, *, interrupted: bool = False) -> PipelineRun:
        statuses = [r.status for r in self.steps.values()]
        status = "ok" if all(s in DONE for s in statuses) and not interrupted else "failed"
        finished = time.time()
        self.doc.update(status=status, finished=_iso(finished), finished_ts=finished)
        self.write()
        if self.tracker is not None:
            self.tracker.close(status)
            self.doc["mlflow_run_id"] = self.tracker.parent_run_id
            for name, run_id in self.tracker.step_run_ids.items():
                self.steps[name].mlflow_run_id = run_id
            if self.tracker.error:
                self.warnings.append(self.tracker.error)
                warnings.warn(self.tracker.error, stacklevel=3)
            self.write()
        self.emit(None, status)
        return PipelineRun(pipeline=self.pipeline.name, run_id=self.run_id, run_dir=str(self.dir), status=status,
                           steps={n: dataclasses.replace(r) for n, r in self.steps.items()},
                           duration=finished - self.started,
                           mlflow_run_id=self.doc["mlflow_run_id"], warnings=list(self.warnings))

    def write(self) -> None:
        write_json_atomic(self.dir / "run.json",
                          {**self.doc, "steps": {n: r.to_dict() for n, r in self.steps.items()}})

    def emit(self, step: str | None, status: str, **fields: Any) -> None:
        if not self.callbacks:
            return
        event = PipelineEvent(pipeline=self.pipeline.name, run_id=self.run_id, step=step, status=status,
                              states={n: r.status for n, r in self.steps.items()},
                              elapsed=time.time() - self.started, **fields)
        for callback in self.callbacks:
            try:
                callback(event)
            except Exception as exc:  # a broken progress display must not break the run
                warnings.warn(f"Progress callback {callback!r} failed: {exc}", stacklevel=2)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(ts)) + f".{int(ts % 1 * 1000):03d}"
