"""Cache keys and the run folder: ``<home>/runs/<pipeline>/<run_id>/run.json``.

``run.json`` is rewritten atomically (write to a temporary file, then rename) after every step,
so a run killed at any moment leaves a readable file whose completed steps the next run reuses.
The cache of a step is its last successful record (``ok`` or ``cached``) among earlier runs;
it is reused when the key matches. Only the standard library is used here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .. import __version__, config
from ..errors import BadInput

DONE = ("ok", "cached")


def step_key(source_hash: str, parameters: Mapping[str, Any], upstream: Mapping[str, Any],
             secret_names: Any = (), partition: Mapping[str, Any] | None = None) -> str:
    """sha256 of a step's notebook source, resolved parameters, upstream outputs, nbtoolkit version.

    Secret values are not part of the key (they must never be written down); their names are.
    In a partitioned pipeline, the partition's key value and data hash are part of it too
    (changed data reruns the step; unchanged data is cached).
    """
    fields = {"source": source_hash, "parameters": parameters, "upstream": upstream,
              "secrets": sorted(secret_names), "nbtoolkit": __version__}
    if partition is not None:
        fields["partition"] = dict(partition)
    payload = json.dumps(fields, sort_keys=True, default=repr, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def new_run_id() -> str:
    """Sortable and unique: UTC time to the millisecond plus 6 random hex digits."""
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"{int(now % 1 * 1000):03d}"
    return f"{stamp}-{os.urandom(3).hex()}"


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON next to ``path`` and rename it into place (readers never see half a file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # one writer per run folder (its orchestrator)
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, default=str, ensure_ascii=False)
        # rename is atomic: a killed process leaves the old or the new file, never half of one
        # (no fsync: it protects against power loss, not SIGKILL, and costs ~10 ms per step change)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_run(path: Path) -> dict[str, Any] | None:
    """A ``run.json`` as a dict, or None when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("steps"), dict) else None


def past_runs(pipeline: str) -> Iterator[dict[str, Any]]:
    """Earlier runs of ``pipeline``, newest first."""
    root = config.runs_dir(pipeline)
    if not root.is_dir():
        return
    # run ids start with their UTC start time (see new_run_id): name order is time order, so
    # files are read lazily, newest first, only as far back as the caller needs
    for folder in sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name, reverse=True):
        run = read_run(folder / "run.json")
        if run:
            yield run


def last_success(pipeline: str, steps: Any, partition: str | None = None) -> dict[str, dict[str, Any]]:
    """For each step name, its newest ``ok``/``cached`` record (with ``run_id`` added); with
    ``partition``, its newest one of that partition."""
    wanted = set(steps)
    found: dict[str, dict[str, Any]] = {}
    for run in past_runs(pipeline):
        if partition is not None and (run.get("partition") or {}).get("value") != partition:
            continue
        for name in wanted - set(found):
            rec = run["steps"].get(name)
            if isinstance(rec, dict) and rec.get("status") in DONE and rec.get("key"):
                found[name] = {**rec, "run_id": rec.get("cached_from") or run.get("run_id")}
        if len(found) == len(wanted):
            break
    return found


def last_records(pipeline: str, steps: Any) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """For each step name, ``(run, record)`` of the newest run that included it."""
    wanted = set(steps)
    found: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for run in past_runs(pipeline):
        for name in wanted - set(found):
            rec = run["steps"].get(name)
            if isinstance(rec, dict):
                found[name] = (run, rec)
        if len(found) == len(wanted):
            break
    return found


def pid_alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError):
        return False
    return True


def runs_folder(name: str) -> Path:
    """``<home>/runs/<name>``, refused unless it is a folder directly inside ``runs/``."""
    runs = config.home() / "runs"
    folder = config.runs_dir(name)
    if os.path.normpath(folder.parent) != os.path.normpath(runs) or folder.name in ("", ".", ".."):
        raise BadInput(f"The pipeline name {name!r} would put its runs outside {str(runs)!r}; "
                       "give the pipeline a name: of letters, digits, '_', '.', '-'.")
    return folder
