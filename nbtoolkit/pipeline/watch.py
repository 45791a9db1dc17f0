"""``nbt pipeline watch``: the scheduler of one machine — ``--pending`` every interval, in the foreground.

Each tick is an ordinary ``run_pipeline(pending=True)`` (a pipeline without ``partitions:`` is run
whole, its cached steps reused): the same watermark lock as any other ``--pending`` run, so a watch
loop and a scheduled or manual run never process the same partition. A failed tick is reported and
the loop goes on (the failed partition is retried by the next tick). Ctrl-C ends the loop between
or during ticks: a partition interrupted mid-run is not marked done, and the lock is released.
For anything beyond one machine, export the pipeline to a real scheduler (:mod:`.export`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from ..errors import BadInput, NbtError


def watch(pipeline: str | os.PathLike[str], *, every: Any = "10m", ticks: int | None = None,
          on_tick: Callable[[Any], None] | None = None, stop: threading.Event | None = None,
          **run_options: Any) -> int:
    """Run ``pipeline``'s pending partitions now and then every ``every`` until stopped.

    Parameters
    ----------
    pipeline : the pipeline file.
    every : the interval between the starts of two ticks (``10m``, ``1h``; at least one second).
    ticks : stop after this many ticks (default: until Ctrl-C or ``stop`` is set).
    on_tick : called with each tick's result (a ``PartitionedRun`` / ``PipelineRun``) or the
        :class:`~nbtoolkit.errors.NbtError` that ended the tick.
    stop : an event that ends the loop when set (another thread's Ctrl-C).
    run_options : passed to :func:`~nbtoolkit.pipeline.run_pipeline` (``parameters=``, ``jobs=`` ...).

    Returns
    -------
    The number of ticks whose run failed.
    """
    from ..validation import count, duration
    from .runner import run_pipeline
    from .spec import load_pipeline

    seconds = duration(every, "every").total_seconds()
    if seconds < 1:
        raise BadInput(f"every={every!r} is shorter than a second; give an interval such as 10m or 1h.")
    if ticks is not None:
        ticks = count(ticks, "ticks")
    loaded = load_pipeline(pipeline)  # one line now, not at the first tick
    stop = stop or threading.Event()
    failed = done = 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            result: Any = run_pipeline(pipeline, pending=loaded.partitions is not None, raise_on_failure=False,
                                       **run_options)
            failed += not result.passed
        except NbtError as exc:  # the store unreachable, a partition source unreadable: try again next tick
            result = exc
            failed += 1
        if on_tick is not None:
            on_tick(result)
        done += 1
        if ticks is not None and done >= ticks:
            break
        stop.wait(max(0.0, seconds - (time.monotonic() - started)))
    return failed
