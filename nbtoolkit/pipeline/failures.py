"""What a failed pipeline run says: which step failed, where and why, and what it skipped."""

from __future__ import annotations

from pathlib import Path

from ..errors import StepFailed
from ..reports.pipeline import PipelineRun
from .progress import FAILED, SKIPPED


def step_failed(result: PipelineRun, prefix: str = "", suffix: str = "") -> StepFailed:
    """The :class:`StepFailed` of a failed run (``exc.run`` is the run)."""
    exc = StepFailed(prefix + failure_message(result) + suffix)
    exc.run = result  # type: ignore[attr-defined]
    return exc


def failure_message(result: PipelineRun) -> str:
    """Which step failed, where and why, with the executed notebook; what was skipped because of it."""
    parts = []
    for name, rec in result.steps.items():
        if rec.status != FAILED:
            continue
        err = rec.error or {}
        where = f" at cell {err['cell']}" if err.get("cell") else ""
        count = f" (In [{err['exec_count']}])" if err.get("exec_count") else ""
        notebook = rec.executed_notebook or str(Path(result.run_dir) / (name + ".ipynb"))
        parts.append(f"Step {name!r} failed{where}{count}: {err.get('line', 'unknown error')}; executed "
                     f"notebook: {notebook}.")
    skipped = [n for n, r in result.steps.items() if r.status == SKIPPED]
    if skipped:
        parts.append(f"Skipped because of it: {', '.join(skipped)}.")
    parts.append("Fix it and run again: completed steps are reused.")
    return " ".join(parts)
