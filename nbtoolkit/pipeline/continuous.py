"""A partitioned pipeline run by partition: ``--pending``, ``--partition KEY``, ``--backfill FROM..TO``.

:func:`run_partitions` reads the watermark (:mod:`.watermark`) and the partitions the source holds
now (:mod:`.partitions`), chooses which to run, and runs them one at a time in key order under
the watermark's lock, each as one pipeline run whose steps receive ``partition`` and
``partition_paths``. A partition is ``done`` when every step passed; the first failed partition
stops the run (the later ones stay pending) and the next ``--pending`` retries it.
:func:`partition_rows` is the partition table of ``nbt pipeline status``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from typing import Any, Protocol

from ..errors import BadInput, did_you_mean
from ..reports.pipeline import PartitionedRun, PipelineRun
from .definition import Pipeline
from .partitions import Partition, check_value, discover, parse_backfill
from .watermark import DONE, FAILED, RUNNING, Watermark, check_owner, identity, open_watermark


class PartitionExecute(Protocol):
    """Runs one partition (knowing the one after it, whose kernel may start ahead); ``close`` at the end."""

    def __call__(self, part: Partition, upcoming: Partition | None) -> PipelineRun: ...

    def close(self) -> None: ...


def run_partitions(pipeline: Pipeline, execute: PartitionExecute, *, pending: bool = False,
                   partition: str | None = None, backfill: str | None = None, force: bool = False,
                   raise_on_failure: bool = True) -> PartitionedRun:
    """Run the chosen partitions of ``pipeline`` with ``execute`` (one pipeline run each)."""
    t0 = time.time()
    spec = _check_choice(pipeline, pending, partition, backfill)
    value = check_value(spec, partition) if partition is not None else None
    bounds = parse_backfill(spec, backfill) if backfill is not None else None
    mark = open_watermark(pipeline)
    # Everything that can be refused is refused before the lock file or any record is written.
    entries = mark.read()
    check_owner(entries, pipeline, mark.where)
    found = discover(pipeline, known=None if force else entries)
    by_value = {p.value: p for p in found}
    if value is not None:
        chosen = [_one(pipeline, value, by_value, entries)]
    elif bounds is not None:
        chosen = [p for p in found if bounds[0] <= p.value <= bounds[1]]
        if not chosen:
            raise BadInput(f"No partition of {pipeline.name!r} lies in --backfill {backfill!r}"
                           + (f"; the partitions are {found[0].value!r} .. {found[-1].value!r}." if found
                              else f"; {_source(pipeline)} holds none."))
    else:
        chosen = list(found)
    with mark.lock():
        entries = mark.read()  # again: what a run that held the lock before us recorded
        check_owner(entries, pipeline, mark.where)
        missing = sorted(v for v, e in entries.items() if v not in by_value and e.get("status") == DONE)
        todo = [p for p in chosen if force or _state(p, entries.get(p.value))[0] != DONE]
        up_to_date = [p.value for p in chosen if p not in todo]
        if missing:
            warnings.warn(f"{len(missing)} processed partition(s) of {pipeline.name!r} are gone from the source "
                          f"(their files were deleted): {', '.join(missing[:5])}"
                          + (" ..." if len(missing) > 5 else "") + "; their records stay.", stacklevel=3)
        if len(todo) > 1:
            _warm_tracking()
        runs: dict[str, PipelineRun] = {}
        failed: str | None = None
        try:
            for i, part in enumerate(todo):
                mark.write(part.value, _entry(pipeline, part, RUNNING, None, entries.get(part.value)))
                try:
                    run = execute(part, todo[i + 1] if i + 1 < len(todo) else None)
                except BaseException:
                    mark.write(part.value, _entry(pipeline, part, FAILED, None, entries.get(part.value),
                                                  error="interrupted"))
                    raise
                runs[part.value] = run
                mark.write(part.value, _entry(pipeline, part, DONE if run.passed else FAILED, run,
                                              entries.get(part.value)))
                if not run.passed:
                    failed = part.value
                    break
        finally:
            execute.close()
    waiting = [p.value for p in todo if p.value not in runs]
    result = PartitionedRun(pipeline=pipeline.name, key=spec.key, runs=runs, up_to_date=up_to_date,
                            waiting=waiting, missing=missing, status="failed" if failed else "ok",
                            duration=time.time() - t0, watermark=mark.where)
    if failed is not None and raise_on_failure:
        from .failures import step_failed

        later = f" {len(waiting)} later partition(s) wait." if waiting else ""
        raise_run = step_failed(runs[failed], prefix=f"Partition {failed!r}: ",
                                suffix=f"{later} The next --pending retries it.")
        raise_run.partitioned = result  # type: ignore[attr-defined]
        raise raise_run
    return result


def _warm_tracking() -> None:
    """Import MLflow on a thread while the first partition runs, so every partition logs in this process.

    Without it each partition's run starts its own tracking helper process, which imports MLflow
    (seconds of CPU) once per partition; with it the import is paid once, beside the first kernel.
    """
    import sys
    import threading

    if "mlflow" in sys.modules:
        return

    def work() -> None:
        from .. import store

        store.mlflow_module()

    threading.Thread(target=work, name="nbt-mlflow-import", daemon=True).start()


def _check_choice(pipeline: Pipeline, pending: Any, partition: Any, backfill: Any) -> Any:
    if not isinstance(pending, bool):
        raise BadInput(f"pending must be True or False, got {pending!r}.")
    for name, given in (("partition", partition), ("backfill", backfill)):
        if given is not None and not isinstance(given, str):
            raise BadInput(f"{name} must be a string (a key value), got {type(given).__name__} {given!r}.")
    spec = pipeline.partitions
    chosen = [flag for flag, on in (("--pending", pending), ("--partition", partition is not None),
                                    ("--backfill", backfill is not None)) if on]
    if spec is None:
        raise BadInput(f"{chosen[0]} needs a partitioned pipeline, and {pipeline.path.name} has no 'partitions:' "
                       "key; add partitions: {key: date, source: data/date={date}/*.csv} or drop the option.")
    if len(chosen) != 1:
        raise BadInput(f"Pipeline {pipeline.name!r} is partitioned by {spec.key!r}: "
                       + ("pass one of --pending, --partition KEY, --backfill FROM..TO." if not chosen
                          else f"give one of {', '.join(chosen)}, not several."))
    return spec


def _one(pipeline: Pipeline, value: str, by_value: Mapping[str, Partition],
         entries: Mapping[str, Mapping[str, Any]]) -> Partition:
    if value in by_value:
        return by_value[value]
    entry = entries.get(value)
    if entry is not None:
        raise BadInput(f"Partition {value!r} of {pipeline.name!r} was processed (run {entry.get('run_id')}) but its "
                       f"data is gone from {_source(pipeline)}; restore its files to rerun it.")
    raise BadInput(f"No partition {value!r} in {_source(pipeline)}."
                   + did_you_mean(value, list(by_value), what="Partitions"))


def _source(pipeline: Pipeline) -> str:
    spec = pipeline.partitions
    assert spec is not None
    if spec.sql is not None:
        return f"column {spec.sql['column']!r} of table {spec.sql['table']!r}"
    return repr(spec.source)


def _state(part: Partition, entry: Mapping[str, Any] | None) -> tuple[str, str]:
    """(``done`` / ``pending`` / ``failed``, why) of a partition the source holds."""
    if entry is None:
        return "pending", "new"
    status = entry.get("status")
    if status == DONE:
        if entry.get("data_hash") != part.data_hash:
            return "pending", "its data changed since it was processed"
        return DONE, ""
    if status == FAILED:
        return FAILED, f"run {entry.get('run_id')} failed; the next --pending retries it"
    return "pending", "its last run did not finish; the next --pending runs it"


def _entry(pipeline: Pipeline, part: Partition, status: str, run: PipelineRun | None,
           before: Mapping[str, Any] | None, error: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {**identity(pipeline), "status": status, "data_hash": part.data_hash,
                             "paths": part.parameters()["partition_paths"], "stats": part.stats,
                             "updated": time.time(),
                             "run_id": run.run_id if run is not None else None,
                             "mlflow_run_id": run.mlflow_run_id if run is not None else None}
    if run is not None and not run.passed:
        entry["failed_steps"] = run.failed_steps
    if error:
        entry["error"] = error
    if status != DONE and before and before.get("status") == DONE:  # the last good processing, kept for status
        entry["done_run_id"], entry["done_hash"] = before.get("run_id"), before.get("data_hash")
    return entry


def partition_rows(pipeline: Pipeline, mark: Watermark | None = None) -> list[dict[str, Any]]:
    """One row per partition (present or processed): partition, status, last_run, updated, reason."""
    mark = mark or open_watermark(pipeline)
    entries = mark.read()
    check_owner(entries, pipeline, mark.where)
    found = {p.value: p for p in discover(pipeline, known=entries)}
    rows = []
    for value in sorted(set(found) | set(entries)):
        entry = entries.get(value)
        if value in found:
            status, reason = _state(found[value], entry)
        else:
            status, reason = "missing", "processed, but its data is gone from the source"
        if status == "pending" and entry is not None and entry.get("status") == RUNNING:
            status = RUNNING if mark.held() else status
        updated = entry.get("updated") if entry else None
        rows.append({"partition": value, "status": status, "last_run": (entry or {}).get("run_id"),
                     "updated": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(updated)) if updated else None,
                     "reason": reason})
    return rows

