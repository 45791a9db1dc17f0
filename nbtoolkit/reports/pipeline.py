"""Result objects of pipelines: a recorded output, a pipeline run, the status of a pipeline."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .base import Record, Result, html_table

# a step's status -> its tone in the tables (render.TONES)
_TONES = {"ok": "good", "cached": "info", "failed": "bad", "skipped": "muted", "stale": "warn",
          "killed": "bad", "running": "warn"}


def _short(value: Any, width: int = 60) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= width else text[: width - 3] + "..."


def _tone(row: Any) -> str:
    return _TONES.get(str(row.get("status")), "")


@dataclass(eq=False)
class StepRecord(Record):
    """One step of a pipeline run: ``run.steps[name]``, and the step's entry in ``run.json``.

    The runner fills it in as the step goes (pending, running, then ok / cached / failed /
    skipped). ``to_dict()`` is what ``run.json`` stores; ``rec["status"]`` and
    ``rec.get("outputs")`` still read it as the dict it used to be.
    """

    status: str = "pending"
    notebook: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    secret_parameters: list[str] = field(default_factory=list)
    upstream: dict[str, Any] | None = None  # the outputs of the steps it needs, as it was given them
    source_hash: str | None = None
    key: str | None = None  # cache key: source, parameters, upstream outputs, secrets
    started: float | None = None
    finished: float | None = None
    duration: float | None = None
    outputs: dict[str, Any] | None = None
    error: dict[str, Any] | None = None  # {"line", "cell", "exec_count", ...} of a failed step
    executed_notebook: str | None = None
    cached_from: str | None = None  # the run whose outputs a cached step reused
    mlflow_run_id: str | None = None


@dataclass(repr=False)
class Recorded(Result):
    """A value recorded with ``record`` / ``%nbt record`` (already shown when it was recorded)."""

    name: str
    value: Any
    pipeline_run: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        return f"Recorded {self.name} = {_short(self.value, 200)}"

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        from .render import render

        return render("text.html.j2", text=self.summary(), inline=True)

    def _ipython_display_(self) -> None:
        """Shown once, by ``record`` itself (that display carries the value to the pipeline)."""


@dataclass(repr=False)
class PipelineRun(Result):
    """One run of a pipeline: per step status, duration, outputs and executed notebook.

    ``passed`` is False when a step failed; ``outputs[step]`` holds what each step recorded.
    """

    pipeline: str
    run_id: str
    run_dir: str
    status: str
    steps: dict[str, StepRecord]
    duration: float
    mlflow_run_id: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == "ok"

    @property
    def outputs(self) -> dict[str, dict[str, Any]]:
        return {n: dict(r.get("outputs") or {}) for n, r in self.steps.items()}

    @property
    def failed_steps(self) -> list[str]:
        return [n for n, r in self.steps.items() if r.get("status") == "failed"]

    def notebook_of(self, step: str) -> tuple[str | None, str]:
        """``(executed notebook, run that produced it)`` of ``step``: this run's own folder, or for
        a cached step the notebook of the earlier run whose outputs it reused (``cached_from``)."""
        rec = self.steps[step]
        source = rec.get("cached_from") or self.run_id
        path = rec.get("executed_notebook")
        if not path and rec.get("cached_from"):  # a record without the path: the producing run's folder
            path = str(Path(self.run_dir).parent / str(rec["cached_from"]) / f"{step}.ipynb")
        return path, str(source)

    def reused(self) -> dict[str, list[str]]:
        """Cached steps by the earlier run whose executed notebooks they reuse (run id -> steps)."""
        out: dict[str, list[str]] = {}
        for name, rec in self.steps.items():
            if rec.get("status") == "cached" and rec.get("cached_from"):
                out.setdefault(str(rec["cached_from"]), []).append(name)
        return out

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for rec in self.steps.values():
            out[rec.get("status", "?")] = out.get(rec.get("status", "?"), 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_frame(self) -> Any:
        import pandas as pd

        rows = [{
            "step": name,
            "status": rec.get("status"),
            "duration_s": round(rec["duration"], 2) if rec.get("duration") is not None else None,
            "outputs": _short(rec.get("outputs") or {}),
            "executed_notebook": rec.get("executed_notebook") or "",
            "error": (rec.get("error") or {}).get("line", ""),
        } for name, rec in self.steps.items()]
        return pd.DataFrame(rows, columns=["step", "status", "duration_s", "outputs", "executed_notebook", "error"])

    def summary(self) -> str:
        counts = ", ".join(f"{v} {k}" for k, v in sorted(self.counts().items()))
        return f"Pipeline {self.pipeline!r} run {self.run_id}: {self.status} ({counts}) in {self.duration:.1f} s"

    def __str__(self) -> str:
        lines = [self.summary()]
        width = max((len(n) for n in self.steps), default=4)
        for name, rec in self.steps.items():
            dur = f"{rec['duration']:.1f} s" if rec.get("duration") is not None else ""
            line = f"  {name.ljust(width)}  {rec.get('status', '?'):8} {dur:>8}"
            if rec.get("error"):
                line += f"  {rec['error'].get('line', '')}"
            elif rec.get("outputs"):
                line += f"  {_short(rec['outputs'])}"
            lines.append(line)
        lines.append(f"  executed notebooks: {self.run_dir}")
        lines += [f"  reused from run {run_id} ({', '.join(steps)}): {Path(self.run_dir).parent / run_id}"
                  for run_id, steps in self.reused().items()]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from .render import render, result

        reused = [(run_id, steps, str(Path(self.run_dir).parent / run_id)) for run_id, steps in self.reused().items()]
        return result(self.summary(), tables=[("", html_table(self.to_frame(), tone=_tone))],
                      after=render("run_dir.html.j2", run_dir=self.run_dir, reused=reused))


@dataclass(repr=False)
class PipelineStatus(Result):
    """The last run of each step (``nbt status``): ok / cached / failed / skipped / stale / never run."""

    pipeline: str
    steps: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_frame(self) -> Any:
        import pandas as pd

        cols = ["step", "status", "last_run", "finished", "duration_s", "executed_notebook", "reason"]
        return pd.DataFrame([{c: r.get(c) for c in cols} for r in self.steps], columns=cols)

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for r in self.steps:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        return f"Pipeline {self.pipeline!r}: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))

    def __str__(self) -> str:
        width = max((len(r["step"]) for r in self.steps), default=4)
        lines = [self.summary()]
        for r in self.steps:
            when = f"run {r['last_run']}" if r.get("last_run") else ""
            reason = f"  ({r['reason']})" if r.get("reason") else ""
            lines.append(f"  {r['step'].ljust(width)}  {r['status']:9} {when}{reason}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from .render import result

        return result(self.summary(), tables=[("", html_table(self.to_frame(), tone=_tone))])

    def __getitem__(self, step: str) -> str:
        for r in self.steps:
            if r["step"] == step:
                return r["status"]
        raise KeyError(step)
