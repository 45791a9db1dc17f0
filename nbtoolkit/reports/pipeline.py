"""Result objects of pipelines: a recorded output, a pipeline run, the status of a pipeline."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .base import Record, Result, html_table

# a step's status -> its tone in the tables (render.TONES)
_TONES = {"ok": "good", "cached": "info", "failed": "bad", "skipped": "muted", "stale": "warn",
          "killed": "bad", "running": "warn", "done": "good", "pending": "warn", "up to date": "info",
          "waiting": "muted", "missing": "bad"}


def _short(value: Any, width: int = 60) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= width else text[: width - 3] + "..."


def _tone(row: Any) -> str:
    return _TONES.get(str(row.get("status")), "")


def trigger_lines(triggered: list[dict[str, Any]]) -> list[str]:
    """One line per ``on:`` rule checked after a run: fired (and how the started run ended) or why not."""
    lines = []
    for row in triggered:
        after = f" after {row['partition']}" if row.get("partition") else ""
        line = f"  trigger {row['rule']}{after}: {row['status']}"
        if row["status"] == "fired":
            line += f", the started run {row.get('run_status')}"
            evidence = row.get("evidence") or {}
            if "metric" in evidence:
                line += f" ({evidence['metric']}={evidence['value']:.3g} on the window from {evidence['window_start']})"
            elif "outcomes" in evidence:
                line += f" ({evidence['outcomes']} outcomes since version {evidence['serving_version']})"
        elif row.get("reason"):
            line += f" ({row['reason']})"
        lines.append(line)
    return lines


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
    partition: dict[str, Any] | None = None  # {"value", "data_hash"} in a partitioned pipeline


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
    triggered: list[dict[str, Any]] = field(default_factory=list)  # the on: rules checked after the run

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
        lines += trigger_lines(self.triggered)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from .render import render, result

        reused = [(run_id, steps, str(Path(self.run_dir).parent / run_id)) for run_id, steps in self.reused().items()]
        return result(self.summary(), tables=[("", html_table(self.to_frame(), tone=_tone))],
                      after=render("run_dir.html.j2", run_dir=self.run_dir, reused=reused))


@dataclass(repr=False)
class PartitionedRun(Result):
    """A run of a partitioned pipeline (``--pending``, ``--partition``, ``--backfill``).

    ``runs[value]`` is the :class:`PipelineRun` of each partition processed, in key order;
    ``up_to_date`` the chosen partitions that were done already with the same data; ``waiting``
    those left for a later run because an earlier partition failed; ``missing`` the processed
    partitions whose data is gone from the source. ``passed`` is False when a partition failed.
    """

    pipeline: str
    key: str
    runs: dict[str, PipelineRun]
    up_to_date: list[str]
    waiting: list[str]
    missing: list[str]
    status: str
    duration: float
    watermark: str = ""
    triggered: list[dict[str, Any]] = field(default_factory=list)  # the on: rules checked after the run

    @property
    def passed(self) -> bool:
        return self.status == "ok"

    @property
    def processed(self) -> list[str]:
        """The partitions that ran and passed (now done)."""
        return [v for v, r in self.runs.items() if r.passed]

    @property
    def failed(self) -> list[str]:
        return [v for v, r in self.runs.items() if not r.passed]

    def rows(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [
            {"partition": v, "status": "done" if r.passed else "failed", "run_id": r.run_id,
             "duration_s": round(r.duration, 2), "steps": ", ".join(f"{k} {n}" for k, n in sorted(r.counts().items()))}
            for v, r in self.runs.items()]
        out += [{"partition": v, "status": "up to date", "run_id": None, "duration_s": None, "steps": ""}
                for v in self.up_to_date]
        out += [{"partition": v, "status": "waiting", "run_id": None, "duration_s": None, "steps": ""}
                for v in self.waiting]
        out += [{"partition": v, "status": "missing", "run_id": None, "duration_s": None,
                 "steps": "processed, data gone"} for v in self.missing]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"pipeline": self.pipeline, "key": self.key, "status": self.status, "duration": self.duration,
                "processed": self.processed, "failed": self.failed, "up_to_date": self.up_to_date,
                "waiting": self.waiting, "missing": self.missing, "watermark": self.watermark,
                "runs": {v: r.to_dict() for v, r in self.runs.items()}, "triggered": self.triggered}

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.rows(), columns=["partition", "status", "run_id", "duration_s", "steps"])

    def summary(self) -> str:
        parts = [f"{len(self.processed)} processed", f"{len(self.up_to_date)} up to date"]
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        if self.waiting:
            parts.append(f"{len(self.waiting)} waiting")
        if self.missing:
            parts.append(f"{len(self.missing)} missing")
        return f"Pipeline {self.pipeline!r} by {self.key}: {self.status} ({', '.join(parts)}) in {self.duration:.1f} s"

    def __str__(self) -> str:
        lines = [self.summary()]
        for row in self.rows():
            if row["status"] == "up to date":
                continue
            run = f"run {row['run_id']}" if row["run_id"] else ""
            dur = f"{row['duration_s']:.1f} s" if row["duration_s"] is not None else ""
            lines.append(f"  {row['partition']}  {row['status']:8} {dur:>7}  {run}  {row['steps']}".rstrip())
        if not self.runs:
            lines.append("  nothing new to process")
        # checked after every partition: the rules that did something, then how often each stayed quiet
        lines += trigger_lines([row for row in self.triggered if row["status"] != "quiet"])
        quiet: dict[str, int] = {}
        for row in self.triggered:
            if row["status"] == "quiet":
                quiet[row["rule"]] = quiet.get(row["rule"], 0) + 1
        lines += [f"  trigger {rule}: quiet after {n} partition(s)" for rule, n in quiet.items()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from .render import result

        return result(self.summary(), tables=[("", html_table(self.to_frame(), tone=_tone))])


@dataclass(repr=False)
class PipelineStatus(Result):
    """The last run of each step (``nbt status``): ok / cached / failed / skipped / stale / never run.

    A partitioned pipeline also has ``partitions``: per partition done / pending / failed /
    running / missing (processed, data gone), with the run that last processed it.
    """

    pipeline: str
    steps: list[dict[str, Any]]
    partitions: list[dict[str, Any]] | None = None

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
        if self.partitions is not None:
            counts: dict[str, int] = {}
            for p in self.partitions:
                counts[p["status"]] = counts.get(p["status"], 0) + 1
            lines.append("partitions: " + (", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "none found"))
            pwidth = max((len(p["partition"]) for p in self.partitions), default=4)
            for p in self.partitions:
                when = f"run {p['last_run']}" if p.get("last_run") else ""
                reason = f"  ({p['reason']})" if p.get("reason") else ""
                lines.append(f"  {p['partition'].ljust(pwidth)}  {p['status']:9} {when}{reason}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from .render import result

        tables = [("", html_table(self.to_frame(), tone=_tone))]
        if self.partitions is not None:
            import pandas as pd

            cols = ["partition", "status", "last_run", "updated", "reason"]
            frame = pd.DataFrame([{c: p.get(c) for c in cols} for p in self.partitions], columns=cols)
            tables.append(("Partitions", html_table(frame, tone=_tone)))
        return result(self.summary(), tables=tables)

    def __getitem__(self, step: str) -> str:
        for r in self.steps:
            if r["step"] == step:
                return r["status"]
        raise KeyError(step)


@dataclass
class ExportResult(Result):
    """What ``nbt pipeline export`` wrote: the wrapper files and the command they run."""

    target: str
    pipeline: str
    paths: list[str]
    command: list[str]
    every_seconds: int
    partition_key: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        what = f"the {self.partition_key} partitions of " if self.partition_key else ""
        return (f"Exported {what}pipeline {self.pipeline!r} to {self.target} (every {self.every_seconds} s): "
                + ", ".join(self.paths))

    def __str__(self) -> str:
        return "\n".join([self.summary(), *(f"note: {n}" for n in self.notes)])
