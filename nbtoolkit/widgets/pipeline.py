"""Pipeline progress (``%nbt pipeline run`` in Jupyter): one live row per step.

A :class:`PipelineProgress` is a ``progress`` callback of ``run_pipeline``: every
``PipelineEvent`` updates its rows (pending / running / ok / cached / failed / skipped, duration)
and, for a failed step, adds a link to its executed notebook. Displayed where a Jupyter frontend
renders widgets it is a widget; elsewhere (plain IPython, papermill) it prints one line per
finished step instead.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from ..reports.render import Cell, Row, macro, table
from ._base import BAD, FRAGMENTS, MUTED, OK, WARN, Composite

if TYPE_CHECKING:
    from ..reports.pipeline import PipelineRun

STATUS_STYLE = {
    "pending": (MUTED, "○"),
    "running": ("#0969da", "◔"),
    "ok": (OK, "✔"),
    "cached": ("#8250df", "↺"),
    "failed": (BAD, "✖"),
    "skipped": (WARN, "–"),
}
_FINISHED = {"ok", "cached", "failed", "skipped"}


class PipelineProgress(Composite):
    """A progress observer for ``run_pipeline(..., progress=...)``; call it with each event.

    Attributes
    ----------
    steps : dict
        Step name -> {"status", "duration", "executed_notebook", "error"}, as last reported.
    status : str
        ``"waiting"`` before the run, ``"running"``, then the run's final status.

    The widget (``.widget``, with parts ``header_html``, ``bar``, ``rows_html``, ``links``) is built
    on first use, so the observer works without ipywidgets.
    """

    def __init__(self) -> None:
        super().__init__()
        self.steps: dict[str, dict[str, Any]] = {}
        self.pipeline = ""
        self.run_id = ""
        self.status = "waiting"
        self.elapsed = 0.0
        self.mode = "widget"  # "text" once displayed where no frontend renders widgets
        self._widget: Any = None

    # ------------------------------------------------------------------ the observer
    def __call__(self, event: Any) -> None:
        self.pipeline, self.run_id, self.elapsed = event.pipeline, event.run_id, event.elapsed
        for name, state in (event.states or {}).items():
            self.steps.setdefault(name, {"status": state, "duration": None, "executed_notebook": None,
                                         "error": None})["status"] = state
        if event.step is None:
            self.status = "running" if event.status == "started" else event.status
        else:
            row = self.steps.setdefault(event.step, {"duration": None, "executed_notebook": None, "error": None})
            row["status"] = event.status
            if event.status == "running":
                row["started"] = time.monotonic()
            if event.duration is not None:
                row["duration"] = event.duration
            row["executed_notebook"] = event.executed_notebook or row.get("executed_notebook")
            row["error"] = event.error
            if self.mode == "text" and event.status in _FINISHED:
                print(self._text_line(event.step), flush=True)
        if self.mode == "text" and event.step is None and event.status != "started":
            print(f"{self.pipeline}: {self.status} in {self.elapsed:.1f} s", flush=True)
        if self._widget is not None:
            self._render()

    # ------------------------------------------------------------------ views
    @property
    def widget(self) -> Any:  # built on first use: the observer itself needs no ipywidgets
        if self._widget is None:
            import ipywidgets as W

            self.header_html = W.HTML()
            self.bar = W.IntProgress(value=0, min=0, max=1, layout=W.Layout(width="320px"))
            self.rows_html = W.HTML()
            self.rows_html.add_class("nbt-pipeline-steps")
            self.links = W.Output()  # rendered by JupyterLab's rendermime: local links open in the lab
            self._linked: set[str] = set()
            self._widget = W.VBox([W.HBox([self.header_html, self.bar]), self.rows_html, self.links])
            self._widget.add_class("nbt-pipeline-progress")
            self._render()
        return self._widget

    def _ipython_display_(self) -> None:
        from IPython import get_ipython
        from IPython.display import display

        from .display import widgets_enabled

        if widgets_enabled(get_ipython()):
            display(self.widget)
        else:
            self.mode = "text"

    def _render(self) -> None:
        done = sum(1 for r in self.steps.values() if r["status"] in _FINISHED)
        self.bar.max = max(len(self.steps), 1)
        self.bar.value = done
        self.bar.bar_style = {"ok": "success", "failed": "danger"}.get(self.status, "info")
        self.header_html.value = macro(FRAGMENTS, "pipeline_header", title=self.pipeline or "pipeline",
                                       run_id=self.run_id, status=self.status, done=done, total=len(self.steps),
                                       elapsed=self.elapsed, colour=MUTED)
        rows = []
        for name, row in self.steps.items():
            colour, mark = STATUS_STYLE.get(row["status"], (MUTED, "?"))
            note_colour = BAD if row["status"] == "failed" else MUTED
            rows.append(Row([name, Cell(f"{mark} {row['status']}", f"color:{colour};font-weight:bold"),
                             Cell(self._duration(row), "text-align:right"),
                             Cell(row.get("error") or "", f"color:{note_colour}")],
                            css_class=f"nbt-step nbt-step-{row['status']}", style=""))
        self.rows_html.value = table(None, rows, css_class="nbt-steps")
        for name, row in self.steps.items():
            path = row.get("executed_notebook")
            if row["status"] == "failed" and path and name not in self._linked:
                self._linked.add(name)
                self.links.append_display_data(_link(name, path))

    @staticmethod
    def _duration(row: dict[str, Any]) -> str:
        if row.get("duration") is not None:
            return f"{row['duration']:.1f} s"
        if row["status"] == "running" and row.get("started"):
            return f"{time.monotonic() - row['started']:.0f} s…"
        return ""

    def _text_line(self, name: str) -> str:
        row = self.steps[name]
        took = f" in {row['duration']:.1f} s" if row.get("duration") else ""
        line = f"  {name}: {row['status']}{took}"
        if row.get("error"):
            line += f": {row['error']}"
        if row["status"] == "failed" and row.get("executed_notebook"):
            line += f" (executed notebook: {row['executed_notebook']})"
        return line


def _link(step: str, path: str) -> Any:
    """A link to an executed notebook, relative to the kernel's folder (JupyterLab opens it)."""
    from IPython.display import HTML

    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive
        rel = path
    return HTML(macro(FRAGMENTS, "failed_step", step=step, href=rel, path=path, colour=BAD))


def pipeline_view(run: PipelineRun) -> PipelineProgress:
    """A finished ``PipelineRun`` shown as the progress widget (its rows, durations, links)."""
    view = PipelineProgress()
    view.pipeline, view.run_id, view.status, view.elapsed = run.pipeline, run.run_id, run.status, run.duration
    for name, rec in run.steps.items():
        view.steps[name] = {"status": rec.get("status", "pending"), "duration": rec.get("duration"),
                            "executed_notebook": rec.get("executed_notebook"),
                            "error": (rec.get("error") or {}).get("line")}
    view.widget  # noqa: B018 - build the parts now: a view is for display
    return view
