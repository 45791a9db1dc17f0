"""Where steps run: this process, a pool of worker processes, or a Dask distributed cluster.

An executor (the :class:`Executor` protocol) has ``slots`` (how many steps may run at once),
``submit(task) -> handle`` and ``wait(handles) -> [(handle, result)]`` returning at least one
finished step. Every executor runs :func:`nbtoolkit.pipeline.task.execute_step`; a worker that
crashes becomes a failed step.

- ``InlineExecutor`` (``--jobs 1``): runs the step in this process when waited on; papermill is
  imported once per process.
- ``ProcessExecutor`` (``--jobs N``): N spawned worker processes (papermill's working-directory
  handling is process-wide, so not threads), each importing papermill once, at start-up.
- ``DaskExecutor`` (``--executor dask``): ``--scheduler ADDR`` or, without it, a ``LocalCluster``
  on 127.0.0.1 with one single-threaded worker process per job.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Hashable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from ..errors import BadInput, StoreUnavailable
from .task import execute_step

EXECUTORS = ("local", "dask")


class Executor(Protocol):
    """The seam between the runner and where steps run (:class:`InlineExecutor`,
    :class:`ProcessExecutor`, :class:`DaskExecutor`); a new executor is a class of this shape.

    The runner calls :meth:`prepare` once before the first step it executes, keeps at most
    :attr:`slots` steps submitted, and always calls :meth:`close` (also after an interruption).
    """

    #: How many steps may run at once (known after :meth:`prepare` for a remote scheduler).
    slots: int

    def prepare(self) -> None:
        """Start the workers (papermill imported once per worker)."""
        ...

    def submit(self, task: Mapping[str, Any]) -> Hashable:
        """Start one step; ``task`` holds the keys :func:`.task.execute_step` reads. Returns a
        handle the runner keeps until :meth:`wait` gives it back."""
        ...

    def wait(self, handles: Sequence[Hashable]) -> list[tuple[Hashable, dict[str, Any]]]:
        """Block until at least one of ``handles`` finished; each finished handle with its step's
        result (a worker that died gives a failed result, never an exception)."""
        ...

    def close(self) -> None:
        """End the workers; steps still running are abandoned."""
        ...


def make_executor(kind: str = "local", *, jobs: int | None = None, scheduler: str | None = None) -> Executor:
    """Build the executor for ``--executor``/``--jobs``/``--scheduler`` (validated here)."""
    if kind not in EXECUTORS:
        raise BadInput(f"Unknown executor {kind!r}; use 'local' or 'dask'.")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise BadInput(f"--jobs must be a positive whole number, got {jobs!r}.")
    if scheduler and kind != "dask":
        raise BadInput(f"--scheduler {scheduler!r} needs --executor dask.")
    if kind == "dask":
        import importlib.util

        if importlib.util.find_spec("distributed") is None:  # refused before anything runs or is written
            raise BadInput("--executor dask needs dask.distributed; pip install 'nbtoolkit[dask]'.")
        return DaskExecutor(scheduler=scheduler, jobs=jobs)
    slots = jobs or 1
    if slots == 1:
        return InlineExecutor()
    return ProcessExecutor(slots)


def _crashed(task: Mapping[str, Any], exc: BaseException, started: float) -> dict[str, Any]:
    text = " ".join(str(exc).split())[:300] or type(exc).__name__
    return {"step": task["step"], "status": "failed", "executed_notebook": task["output"],
            "started": started, "finished": time.time(), "duration": time.time() - started,
            "error": {"cell": None, "exec_count": None, "ename": type(exc).__name__, "evalue": text,
                      "line": f"the worker running the step failed: {type(exc).__name__}: {text}"}}


class InlineExecutor:
    """Run steps one at a time in this process."""

    slots = 1

    def __init__(self) -> None:
        self._pending: dict[int, Mapping[str, Any]] = {}
        self._next = 0

    def prepare(self) -> None:
        from .task import import_papermill

        import_papermill()

    def submit(self, task: Mapping[str, Any]) -> int:
        self._next += 1
        self._pending[self._next] = task
        return self._next

    def wait(self, handles: Sequence[Any]) -> list[tuple[Any, dict[str, Any]]]:
        handle = handles[0]
        task = self._pending.pop(handle)
        return [(handle, execute_step(task))]

    def close(self) -> None:
        self._pending.clear()


@contextlib.contextmanager
def spawnable_main() -> Iterator[None]:
    """Let ``spawn`` start workers from IPython, whose ``__main__`` stand-in has no ``__spec__``.

    multiprocessing reads ``__main__.__spec__`` to re-create the main module in the child; the
    task function lives in this package, so the child needs nothing from ``__main__`` — the value
    ``None`` (what Python itself gives an interactive ``__main__``) says exactly that.
    """
    main = sys.modules.get("__main__")
    if main is None or hasattr(main, "__spec__"):
        yield
        return
    main.__spec__ = None
    try:
        yield
    finally:
        with contextlib.suppress(AttributeError):  # already gone
            del main.__spec__


def _warm_worker() -> None:
    from .task import import_papermill

    import_papermill()


class ProcessExecutor:
    """Run up to ``jobs`` steps at once, each in a worker process."""

    def __init__(self, jobs: int) -> None:
        self.slots = jobs
        self._pool: Any = None
        self._tasks: dict[Any, tuple[Mapping[str, Any], float]] = {}

    def prepare(self) -> None:
        import multiprocessing
        import threading
        from concurrent.futures import ProcessPoolExecutor

        # Forking a process that has one thread is safe, and the workers then start with papermill
        # already imported (~1-2 s each otherwise). With other threads alive (a Jupyter kernel, or
        # once MLflow logging runs) a fork could copy a held lock: spawn fresh interpreters instead.
        fork = "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
        if fork:
            from .task import import_papermill

            import_papermill()
        context = multiprocessing.get_context("fork" if fork else "spawn")
        self._pool = ProcessPoolExecutor(max_workers=self.slots, mp_context=context, initializer=_warm_worker)
        if fork:  # with fork, the pool starts all its workers at the first submit: now, still one thread
            self._pool.submit(_warm_worker)

    def submit(self, task: Mapping[str, Any]) -> Any:
        if self._pool is None:
            self.prepare()
        with spawnable_main():  # the pool starts a worker process here when none is idle
            future = self._pool.submit(execute_step, dict(task))
        self._tasks[future] = (task, time.time())
        return future

    def wait(self, handles: Sequence[Any]) -> list[tuple[Any, dict[str, Any]]]:
        from concurrent.futures import FIRST_COMPLETED, wait

        done, _ = wait(handles, return_when=FIRST_COMPLETED)
        out = []
        for future in done:
            task, started = self._tasks.pop(future)
            try:
                out.append((future, future.result()))
            except Exception as exc:  # BrokenProcessPool: a worker was killed
                out.append((future, _crashed(task, exc, started)))
        return out

    def close(self) -> None:
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        if getattr(pool, "_broken", False):
            # A worker died (BrokenProcessPool). Python 3.11's pool then terminates the workers it
            # knows and joins them all; a worker it was starting at that moment was never
            # terminated, and the join (so this shutdown) waited for it forever (seen once in
            # `make test`). Terminate whatever is left first.
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                if proc.is_alive():
                    proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """Submit steps to a Dask distributed scheduler (or a LocalCluster on 127.0.0.1)."""

    def __init__(self, *, scheduler: str | None = None, jobs: int | None = None) -> None:
        self.scheduler = scheduler
        self.jobs = jobs
        self.slots = jobs or 1
        self._client: Any = None
        self._cluster: Any = None
        self._tasks: dict[Any, tuple[Mapping[str, Any], float]] = {}

    def prepare(self) -> None:
        from distributed import Client, LocalCluster  # make_executor checked it is installed

        if self.scheduler:
            try:
                self._client = Client(self.scheduler, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise StoreUnavailable(f"Cannot reach the Dask scheduler at {self.scheduler!r} ({exc}); start it "
                                       "with `dask scheduler` or fix --scheduler.") from None
            if self.jobs is None:
                threads = sum(self._client.nthreads().values())
                self.slots = max(threads, 1)
        else:
            with spawnable_main():  # the nannies spawn their worker processes
                self._cluster = LocalCluster(n_workers=self.jobs or 1, threads_per_worker=1, processes=True,
                                             host="127.0.0.1", dashboard_address="127.0.0.1:0")
            self._client = Client(self._cluster)

    def submit(self, task: Mapping[str, Any]) -> Any:
        if self._client is None:
            self.prepare()
        future = self._client.submit(execute_step, dict(task), pure=False,
                                     key=f"nbt-{task['run_id']}-{task['step']}")
        self._tasks[future.key] = (task, time.time())
        return future

    def wait(self, handles: Sequence[Any]) -> list[tuple[Any, dict[str, Any]]]:
        from distributed import wait

        done, _ = wait(list(handles), return_when="FIRST_COMPLETED")
        out = []
        for future in done:
            task, started = self._tasks.pop(future.key)
            try:
                out.append((future, future.result()))
            except Exception as exc:  # the worker died (KilledWorker) or the task could not run
                out.append((future, _crashed(task, exc, started)))
        return out

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
