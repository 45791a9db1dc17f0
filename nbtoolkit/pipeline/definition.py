"""What a loaded pipeline is: its steps and their order (frozen dataclasses).

:mod:`.spec` builds them from a pipeline file; :mod:`.parameters` resolves each step's
parameters against them; the runner, status and executors read them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Step:
    """One step: a notebook, its own parameters and the steps it needs."""

    name: str
    notebook: Path
    notebook_text: str  # as written in the pipeline file, relative to it
    parameters: Mapping[str, Any]
    needs: tuple[str, ...]
    declared: frozenset[str] | None  # names assigned in the 'parameters' cell; None: no such cell
    source_hash: str  # sha256 of the source cells (outputs and execution counts ignored)
    kernel_name: str | None
    timeout: float | None = None
    cwd: Path | None = None  # working directory of the kernel; None: the notebook's folder


@dataclass(frozen=True)
class Partitions:
    """``partitions:`` of a pipeline file: the key and where its values come from (files or a table)."""

    key: str
    source: str | None = None  # a file pattern relative to the pipeline file, naming {key}
    sql: Mapping[str, str] | None = None  # {"url", "table", "column"}


@dataclass(frozen=True)
class Trigger:
    """One rule of ``on:``: when it holds, the pipeline file ``run`` starts with the evidence."""

    model: str
    run: Path  # the pipeline file to start
    run_text: str  # as written, relative to the pipeline file
    alert: str | None = None  # a monitoring alert rule (monitoring.alerts.AlertRule)
    outcomes: int | None = None  # corrected outcomes since the serving version was registered
    window: str = "1D"
    cooldown: str | None = None  # alerts: after a firing, later windows this close stay quiet (e.g. 7D)

    def describe(self) -> str:
        """The rule as one phrase (the trigger's record and messages show it)."""
        what = f"alert {self.alert}" if self.alert is not None else f"{self.outcomes} new outcomes"
        return f"{what} on {self.model} -> {self.run_text}"


@dataclass(frozen=True)
class Pipeline:
    """A validated pipeline file; ``steps`` are in a topological order."""

    name: str
    path: Path
    parameters: Mapping[str, Any]
    secret_names: frozenset[str]
    steps: Mapping[str, Step]
    partitions: Partitions | None = None
    triggers: tuple[Trigger, ...] = ()

    def dependants(self, names: Iterable[str]) -> set[str]:
        """``names`` and every step that (transitively) needs one of them."""
        out = set(names)
        for step in self.steps.values():  # topological order: needs come first
            if out.intersection(step.needs):
                out.add(step.name)
        return out

    def ancestors(self, names: Iterable[str]) -> set[str]:
        """Every step that one of ``names`` (transitively) needs, ``names`` excluded."""
        out: set[str] = set()
        todo = list(names)
        while todo:
            for need in self.steps[todo.pop()].needs:
                if need not in out:
                    out.add(need)
                    todo.append(need)
        return out
