"""Progress events of a pipeline run, and the terminal progress bar that consumes them.

``run_pipeline(..., progress=callback)`` calls ``callback(event)`` from the orchestrating thread
for every change: once when the run starts (``step is None, status == "started"``), whenever a
step becomes ``running``, ``ok``, ``cached``, ``failed`` or ``skipped``, and once at the end
(``step is None``, ``status`` is the run's final status). A callback may be any callable: the
tqdm bar below, a Jupyter widget (``nbtoolkit.widgets``), a test collecting events.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

PENDING, RUNNING, OK, CACHED, FAILED, SKIPPED = "pending", "running", "ok", "cached", "failed", "skipped"


@dataclass(frozen=True)
class PipelineEvent:
    """One change in a run.

    Attributes
    ----------
    pipeline, run_id : which run
    step : the step that changed, or None for the run itself ("started" / final status)
    status : pending / running / ok / cached / failed / skipped (a step), or started / ok / failed
    duration : seconds the step ran (None until it finished; 0 for cached and skipped)
    executed_notebook : path of the executed notebook (for cached steps: the one reused)
    error : the exception line of a failed step, e.g. ``"ValueError: boom"``
    states : status of every step of the run after this change
    elapsed : seconds since the run started
    """

    pipeline: str
    run_id: str
    step: str | None
    status: str
    duration: float | None = None
    executed_notebook: str | None = None
    error: str | None = None
    states: Mapping[str, str] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def done(self) -> int:
        return sum(1 for s in self.states.values() if s in (OK, CACHED, FAILED, SKIPPED))

    @property
    def total(self) -> int:
        return len(self.states)

    @property
    def running(self) -> list[str]:
        return [n for n, s in self.states.items() if s == RUNNING]


ProgressCallback = Callable[[PipelineEvent], Any]


class TqdmProgress:
    """A tqdm bar per run: steps done / total, the running step(s), elapsed time."""

    def __init__(self, *, file: Any = None, notebook: bool = False) -> None:
        self.file = file if file is not None else sys.stderr
        self.notebook = notebook
        self.bar: Any = None

    def __call__(self, event: PipelineEvent) -> None:
        finished_step = event.step is not None and event.status in (OK, CACHED, FAILED, SKIPPED)
        if self.bar is None and event.status == RUNNING:
            self._open(event)  # only once something executes: a cached rerun never imports tqdm
        if self.bar is None:
            if finished_step:
                print(self._line(event), file=self.file, flush=True)
            elif event.step is None and event.status != "started":
                print(f"{event.pipeline}: {event.status} ({event.done}/{event.total} steps) in {event.elapsed:.1f} s",
                      file=self.file, flush=True)
            return
        self.bar.n = event.done
        running = event.running
        self.bar.set_postfix_str(("running " + ", ".join(running)) if running else event.status, refresh=False)
        if finished_step:
            self.bar.write(self._line(event), file=self.file)
        self.bar.refresh()
        if event.step is None:
            self.bar.close()
            self.bar = None

    def _open(self, event: PipelineEvent) -> None:
        if self.notebook:
            from tqdm.auto import tqdm
        else:
            from tqdm import tqdm

        class Bar(tqdm):
            monitor_interval = 0  # no monitor thread: lets the process pool fork (see executors)

        self.bar = Bar(total=event.total, initial=event.done, desc=event.pipeline, unit="step", file=self.file,
                       dynamic_ncols=True, leave=True)

    @staticmethod
    def _line(event: PipelineEvent) -> str:
        dur = f" in {event.duration:.1f} s" if event.duration else ""
        note = f": {event.error}" if event.error else ""
        return f"  {event.step}: {event.status}{dur}{note}"
