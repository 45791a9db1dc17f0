"""``run_pipeline``: validate, decide what is cached, execute the rest in dependency order.

Read it top to bottom: :func:`run_pipeline` orchestrates; :class:`_Run` holds one run's state
and writes ``run.json`` (atomically) after every change of a step; executors run the notebooks;
a :class:`~nbtoolkit.pipeline.tracking.Tracker` writes MLflow in the background once something
actually executes (a fully cached rerun imports neither papermill nor MLflow).
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, overload

from .. import __version__, config
from ..errors import BadInput, did_you_mean
from ..validation import mapping, sequence
import dataclasses

from ..reports.pipeline import PartitionedRun, PipelineRun, StepRecord
from .cache import DONE, last_success, new_run_id, runs_folder, step_key, write_json_atomic
from .failures import step_failed
from .partitions import Partition
from . import tracking
from .executors import Executor, make_executor
from .task import WarmKernel
from .progress import CACHED, FAILED, OK, PENDING, RUNNING, SKIPPED, PipelineEvent
from .spec import Pipeline, Resolved, load_pipeline, resolve_parameters


@overload
def run_pipeline(
    path: str | os.PathLike[str], *,
    parameters: Mapping[str, Any] | None = None, steps: Iterable[str] | None = None, force: bool = False,
    jobs: int | None = None, executor: str = "local", scheduler: str | None = None,
    secrets: Mapping[str, Any] | None = None,
    progress: Callable[[PipelineEvent], Any] | Sequence[Callable[[PipelineEvent], Any]] | None = None,
    raise_on_failure: bool = True, kernel: str | None = None,
    pending: Literal[False] = False, partition: None = None, backfill: None = None,
) -> PipelineRun: ...
@overload
def run_pipeline(
    path: str | os.PathLike[str], *,
    parameters: Mapping[str, Any] | None = None, steps: Iterable[str] | None = None, force: bool = False,
    jobs: int | None = None, executor: str = "local", scheduler: str | None = None,
    secrets: Mapping[str, Any] | None = None,
    progress: Callable[[PipelineEvent], Any] | Sequence[Callable[[PipelineEvent], Any]] | None = None,
    raise_on_failure: bool = True, kernel: str | None = None,
    pending: bool = False, partition: str | None = None, backfill: str | None = None,
) -> PipelineRun | PartitionedRun: ...
def run_pipeline(
    path: str | os.PathLike[str],
    *,
    parameters: Mapping[str, Any] | None = None,
    steps: Iterable[str] | None = None,
    force: bool = False,
    jobs: int | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    secrets: Mapping[str, Any] | None = None,
    progress: Callable[[PipelineEvent], Any] | Sequence[Callable[[PipelineEvent], Any]] | None = None,
    raise_on_failure: bool = True,
    kernel: str | None = None,
    pending: bool = False,
    partition: str | None = None,
    backfill: str | None = None,
) -> PipelineRun | PartitionedRun:
    """Run the pipeline file at ``path`` (SPEC §6); return its :class:`PipelineRun`.

    Parameters
    ----------
    path : the pipeline .yaml file; notebooks are relative to it.
    parameters : overrides of the pipeline-wide and step parameters (``-p k=v``); ``"STEP.k"``
        targets one step.
    steps : run only these steps and the steps that depend on them (``--step``); the steps they
        need are reused from the cache (or run, when they have no usable result).
    force : rerun steps even when their cache key is unchanged.
    jobs : how many steps may run at once (default 1; with Dask and a scheduler: its threads).
    executor : ``"local"`` (this process / worker processes) or ``"dask"``.
    scheduler : address of a Dask scheduler (``tcp://host:8786``); without it, a LocalCluster.
    secrets : parameters given to the kernels through the environment, never written into the
        executed notebooks, ``run.json`` or MLflow.
    progress : a callable (or several) receiving a :class:`PipelineEvent` for every change.
    raise_on_failure : raise :class:`~nbtoolkit.errors.StepFailed` when a step failed (after the
        run is recorded); otherwise return the run with ``passed == False``.
    kernel : run every step's notebook with this Jupyter kernel (papermill's ``-k``); default: the
        step's ``kernel:`` key, else the notebook's own kernelspec.

    pending : for a pipeline with ``partitions:``, run every partition that is new or whose data
        changed since it was processed, in key order, each recorded in the watermark; a failed
        partition stops the run (later partitions wait) and is retried by the next ``pending`` run.
    partition : run this one partition (its key value); a done one again only with ``force``.
    backfill : ``"FROM..TO"``, the partitions with key values in that range (both ends included)
        that are not done (all of them with ``force``).

    A partitioned pipeline returns a :class:`~nbtoolkit.reports.pipeline.PartitionedRun` (one
    :class:`PipelineRun` per partition processed); each step receives the parameters
    ``partition`` (the key value) and ``partition_paths`` (its files, relative to the pipeline
    file; for ``sql:`` the query bounds), and the partition's data hash joins its cache key.

    Each step's kernel runs in the notebook's folder (so relative paths in a notebook work from
    wherever ``nbt`` is called), or in the step's ``cwd:`` (relative to the pipeline file).

    Raises
    ------
    BadInput : the pipeline file, a parameter or an option is wrong (nothing was written).
    StepFailed : a step failed; the message names the step, cell, exception and executed notebook.
    """
    t0 = time.time()
    pipeline = load_pipeline(path)
    runs_folder(pipeline.name)
    if kernel is not None:
        pipeline = _with_kernel(pipeline, kernel)
    resolved = resolve_parameters(pipeline, parameters, mapping(secrets, "secrets"))
    forced, included = _selection(pipeline, sequence(steps, "steps"), force)
    _check_kernels(pipeline, included)
    callbacks = [progress] if callable(progress) else progress or []
    if not isinstance(callbacks, (list, tuple)) or not all(callable(c) for c in callbacks):
        raise BadInput(f"progress must be a callable or a list of callables, got {type(progress).__name__}.")
    make_executor(executor, jobs=jobs, scheduler=scheduler)  # checks the options before anything is written
    callbacks = list(callbacks)
    overrides = dict(parameters or {})

    def make() -> Any:
        return make_executor(executor, jobs=jobs, scheduler=scheduler)

    if pipeline.partitions is not None or pending is not False or partition is not None or backfill is not None:
        from .continuous import run_partitions

        # one step at a time in this process: the next partition's first kernel can start ahead
        inline = executor == "local" and (jobs or 1) == 1
        runs = _PartitionRuns(pipeline, resolved, forced, included, overrides, callbacks, make, warm_ahead=inline)
        partitioned = run_partitions(pipeline, runs, pending=pending, partition=partition, backfill=backfill,
                                     force=force, raise_on_failure=raise_on_failure)
        if pipeline.triggers and partitioned.passed:
            partitioned.triggered = _check_triggers(pipeline)
        return partitioned
    result = _execute(pipeline, resolved, forced, included, overrides, callbacks, make(), None)
    if pipeline.triggers and result.passed:
        result.triggered = _check_triggers(pipeline)
    result.duration = time.time() - t0  # the whole run, the final MLflow write included
    if raise_on_failure and not result.passed:
        raise step_failed(result)
    return result


def _check_triggers(pipeline: Pipeline) -> list[dict[str, Any]]:
    """The ``on:`` rules, checked after a run that passed (a rule may start another pipeline)."""
    from .triggers import check_triggers

    return check_triggers(pipeline.triggers, source=str(pipeline.path), run=run_pipeline)


class _PartitionRuns:
    """Run partitions one after another; while one runs, the next one's first kernel starts (warm ahead).

    The next partition's run id is decided when its kernel is started, so the kernel is launched
    with exactly the environment its step will have; a kernel serves one notebook and is shut down.
    """

    def __init__(self, pipeline: Pipeline, resolved: Mapping[str, Resolved], forced: set[str], included: set[str],
                 overrides: Mapping[str, Any], callbacks: list[Callable[[PipelineEvent], Any]],
                 make: Callable[[], Any], *, warm_ahead: bool) -> None:
        self.pipeline, self.resolved = pipeline, resolved
        self.args = (pipeline, resolved, forced, included, overrides, callbacks)
        self.make = make
        first = [n for n, s in pipeline.steps.items() if n in included and not s.needs]
        self.first = first[0] if warm_ahead and first else None
        self._next: tuple[str, WarmKernel | None] | None = None

    def __call__(self, part: Partition, upcoming: Partition | None) -> PipelineRun:
        run_id, warm = self._next or (new_run_id(), None)
        self._next = None
        if upcoming is not None and self.first is not None:
            next_id = new_run_id()
            while next_id[:18] <= run_id[:18]:  # run ids sort by their time stamp: the next one sorts after
                time.sleep(0.001)
                next_id = new_run_id()
            self._next = (next_id, WarmKernel(launch(self.pipeline, self.resolved, next_id, self.first)))
        try:
            return _execute(*self.args, self.make(), part, run_id=run_id,
                            warm=(self.first, warm) if warm is not None and self.first else None)
        finally:
            if warm is not None:
                warm.discard()  # nothing left to do when its step used it

    def close(self) -> None:
        """Shut down a kernel started for a partition that will not run now (an earlier one failed)."""
        if self._next is not None and self._next[1] is not None:
            self._next[1].discard()
        self._next = None


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


def _execute(pipeline: Pipeline, resolved: Mapping[str, Resolved], forced: set[str], included: set[str],
             overrides: Mapping[str, Any], callbacks: list[Callable[[PipelineEvent], Any]], exe: Executor,
             part: Partition | None, *, run_id: str | None = None,
             warm: tuple[str, WarmKernel] | None = None) -> PipelineRun:
    """One run of the steps (of one partition, when ``part`` is given); never raises for a failed step."""
    history = last_success(pipeline.name, included, partition=part.value if part is not None else None)
    run = _Run(pipeline, included, resolved, overrides, callbacks, part, run_id=run_id, warm=warm)
    pending = [name for name in pipeline.steps if name in included]
    running: dict[Any, str] = {}
    prepared = False
    try:
        while pending or running:
            progressed = True
            while progressed:  # settle everything that can be settled without waiting
                progressed = False
                for name in list(pending):
                    verdict = run.readiness(name, history, forced)
                    if verdict in (CACHED, SKIPPED):
                        pending.remove(name)
                        progressed = True
                    elif verdict == "execute":
                        if not prepared:
                            # A tracking helper process starts first: it imports MLflow while papermill
                            # is imported here. A tracking thread starts after the executor forks its
                            # --jobs workers (a fork must happen while this process has one thread).
                            if tracking.in_process():
                                exe.prepare()
                                run.start_tracking()
                            else:
                                run.start_tracking()
                                exe.prepare()
                            prepared = True
                        if len(running) >= exe.slots:
                            continue
                        running[exe.submit(run.task(name))] = name
                        run.set(name, RUNNING, started=time.time())
                        pending.remove(name)
                        progressed = True
            if not running:
                break
            for handle, result in exe.wait(list(running)):
                run.finish(running.pop(handle), result)
    except BaseException as exc:
        exe.close()
        for name in running.values():
            run.finish(name, {"status": FAILED, "error": {"line": f"interrupted ({type(exc).__name__})"}})
        run.close(interrupted=True)
        raise
    exe.close()
    return run.close()


def _with_kernel(pipeline: Pipeline, kernel: str) -> Pipeline:
    import dataclasses

    if not isinstance(kernel, str) or not kernel.strip():
        raise BadInput(f"kernel must be a Jupyter kernel name such as 'python3', got {kernel!r}.")
    from .notebooks import jupyter_kernel

    steps = {n: dataclasses.replace(s, kernel_name=jupyter_kernel(kernel)) for n, s in pipeline.steps.items()}
    return dataclasses.replace(pipeline, steps=steps)


def _check_kernels(pipeline: Pipeline, included: set[str]) -> None:
    """Refuse up front (exit 2, nothing written) a step with no kernel or an uninstalled one."""
    names = set()
    for name in included:
        step = pipeline.steps[name]
        if not step.kernel_name:
            raise BadInput(f"Notebook {step.notebook_text!r} of step {name!r} names no kernel (no "
                           "kernelspec in its metadata); pass -k python3 or set 'kernel:' on the step.")
        names.add(step.kernel_name)
    names.discard("python3")  # ipykernel's, always there; others cost a kernelspec lookup
    if not names:
        return
    from jupyter_client.kernelspec import KernelSpecManager

    installed = set(KernelSpecManager().find_kernel_specs()) | {"python3"}
    for kernel in sorted(names - installed):
        raise BadInput(f"No Jupyter kernel named {kernel!r} is installed."
                       + did_you_mean(kernel, installed, what="Kernels"))


def _selection(pipeline: Pipeline, steps: Iterable[str] | None, force: bool) -> tuple[set[str], set[str]]:
    """(steps to rerun regardless of the cache, steps included in this run)."""
    if not steps:
        every = set(pipeline.steps)
        return (set(every) if force else set()), every
    chosen = list(steps)
    for name in chosen:
        if name not in pipeline.steps:
            raise BadInput(f"No step named {name!r} in {pipeline.path.name}."
                           + did_you_mean(name, pipeline.steps, what="Steps"))
    forced = pipeline.dependants(chosen)
    included = forced | pipeline.ancestors(forced)
    return (set(included) if force else forced), included


class _Run:
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
