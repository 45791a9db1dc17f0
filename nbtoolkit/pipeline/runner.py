"""``run_pipeline``: validate, decide what is cached, execute the rest in dependency order.

Read it top to bottom: :func:`run_pipeline` orchestrates; :class:`~.run_state.RunState` holds one run's state
and writes ``run.json`` (atomically) after every change of a step; executors run the notebooks;
a :class:`~nbtoolkit.pipeline.tracking.Tracker` writes MLflow in the background once something
actually executes (a fully cached rerun imports neither papermill nor MLflow).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, overload

from ..errors import BadInput, did_you_mean
from ..validation import mapping, sequence
import dataclasses

from ..reports.pipeline import PartitionedRun, PipelineRun
from .cache import last_success, new_run_id, runs_folder
from .failures import step_failed
from .partitions import Partition
from . import tracking
from .executors import Executor, make_executor
from .task import WarmKernel
from .run_state import RunState, launch
from .progress import CACHED, FAILED, RUNNING, SKIPPED, PipelineEvent
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
        # the on: rules were checked after each partition that passed (its data may fire a rule the
        # next partition's run should already see: a retrained model, a moved rollout)
        partitioned.triggered = [row for r in partitioned.runs.values() for row in r.triggered]
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
            run = _execute(*self.args, self.make(), part, run_id=run_id,
                           warm=(self.first, warm) if warm is not None and self.first else None)
        finally:
            if warm is not None:
                warm.discard()  # nothing left to do when its step used it
        if self.pipeline.triggers and run.passed:
            run.triggered = [dict(row, partition=part.value) for row in _check_triggers(self.pipeline)]
        return run

    def close(self) -> None:
        """Shut down a kernel started for a partition that will not run now (an earlier one failed)."""
        if self._next is not None and self._next[1] is not None:
            self._next[1].discard()
        self._next = None


def _execute(pipeline: Pipeline, resolved: Mapping[str, Resolved], forced: set[str], included: set[str],
             overrides: Mapping[str, Any], callbacks: list[Callable[[PipelineEvent], Any]], exe: Executor,
             part: Partition | None, *, run_id: str | None = None,
             warm: tuple[str, WarmKernel] | None = None) -> PipelineRun:
    """One run of the steps (of one partition, when ``part`` is given); never raises for a failed step."""
    history = last_success(pipeline.name, included, partition=part.value if part is not None else None)
    run = RunState(pipeline, included, resolved, overrides, callbacks, part, run_id=run_id, warm=warm)
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
