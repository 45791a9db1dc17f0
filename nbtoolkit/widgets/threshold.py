"""Threshold explorer (``%nbt threshold`` in Jupyter): a slider over confidence thresholds.

Moving the slider shows, live, the share of predictions handled automatically (coverage), the
accuracy on those, and the share routed to a human — all from ``ThresholdReport.at(t)`` — on
the curve of ``ThresholdReport.table`` with a marker at the slider. The curve is a small inline
SVG (redrawn in microseconds, so dragging stays live; ``report.plot(marker=t)`` is the
matplotlib version). "Save threshold" calls ``ThresholdReport.save(t)``, which stores it on the
model version (tag ``nbt.threshold``).
"""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING, Any

from ..reports.render import macro
from ._base import BAD, FRAGMENTS, MUTED, OK, Composite, guarded

if TYPE_CHECKING:
    from ..reports.threshold import ThresholdReport


class ThresholdExplorer(Composite):
    """Explore coverage vs accuracy of auto-handled predictions by confidence threshold.

    Parameters
    ----------
    report : ThresholdReport
        What ``nbtoolkit.threshold`` / ``%nbt threshold`` returned.

    Parts: ``slider``, ``metrics_html`` (coverage, accuracy, human share, rows auto-handled),
    ``curve_html`` (the curve and the marker), ``save_button``, ``status_html``. ``current``
    holds the report's numbers at the slider's threshold.
    """

    def __init__(self, report: ThresholdReport) -> None:
        super().__init__()
        import ipywidgets as W

        self.report = report
        table = report.table
        self._series = {k: [float(v) for v in table[k]] for k in ("threshold", "coverage", "accuracy", "human_share")}
        self._chart: CurveChart | None = None
        grid = sorted({float(t) for t in report.table["threshold"]})
        start = report.chosen if report.chosen is not None else min(grid, key=lambda t: abs(t - 0.5))
        self.current: dict[str, Any] = {}
        self.slider = _slider(W, grid, start)
        self.metrics_html = W.HTML()
        self.curve_html = W.HTML()
        can_save = getattr(report, "ref", None) is not None
        self.save_button = W.Button(description="Save threshold", icon="save", button_style="success",
                                    disabled=not can_save,
                                    tooltip=("Store this threshold on " + str(report.ref) + " (nbt.threshold)"
                                             if can_save else "Only a registered version can store a threshold"))
        self.status_html = W.HTML()
        self.metrics_html.add_class("nbt-threshold-metrics")
        self.curve_html.add_class("nbt-threshold-curve")
        self.status_html.add_class("nbt-threshold-status")

        target = (f" — target accuracy {report.target_accuracy:g}, chosen "
                  + (f"{report.chosen:g}" if report.chosen is not None else "none reached")
                  if report.target_accuracy is not None else "")
        self.widget = W.VBox([
            W.HTML(macro(FRAGMENTS, "threshold_header", model=str(report.model), n=report.n, target=target,
                         colour=MUTED)),
            W.HBox([self.slider, self.save_button]),
            self.metrics_html,
            self.curve_html,
            self.status_html,
        ])
        self.widget.add_class("nbt-threshold-explorer")

        self.slider.observe(lambda change: self.show(change["new"]), names="value")
        self.save_button.on_click(lambda _: self.save())
        self.show(self.slider.value)

    def show(self, threshold: float) -> None:
        """Show the report's numbers (and the curve) at ``threshold``."""
        row = self.report.at(threshold)
        self.current = row
        accuracy = row["accuracy"]
        acc = "—" if accuracy != accuracy else f"{accuracy:.1%}"  # NaN: nothing auto-handled
        target = self.report.target_accuracy
        colour = OK if target is None or (accuracy == accuracy and accuracy >= target) else BAD
        self.metrics_html.value = macro(
            FRAGMENTS, "threshold_metrics", coverage=f"{row['coverage']:.1%}", accuracy=acc, accuracy_colour=colour,
            human_share=f"{row['human_share']:.1%}", n_auto=row["n_auto"], n=self.report.n, colour=MUTED)
        if self._chart is None:  # axes and curves drawn once; a move redraws the marker only
            self._chart = CurveChart(self._series, target=target)
        self.curve_html.value = self._chart.at(row)

    def save(self) -> None:
        """Store the slider's threshold on the model version; say so (or why not)."""
        value = round(float(self.slider.value), 10)

        def run() -> str:
            self.report.save(value)
            return macro(FRAGMENTS, "threshold_saved", value=f"{value:g}", ref=str(self.report.ref), colour=OK)

        with self.settings():
            guarded(self.status_html, run)


_W, _H, _L, _B, _T, _R = 520, 230, 40, 30, 10, 10  # size and margins of the curve, px
_COLOURS = {"coverage": "#1f77b4", "accuracy": "#ff7f0e", "human_share": "#7f7f7f"}
_TEMPLATE = "threshold_curve.svg.j2"
_LABELS = {"coverage": "coverage", "accuracy": "accuracy on auto-handled", "human_share": "to a human"}


def _slider(W: Any, grid: list[float], start: float) -> Any:
    """A FloatSlider on an evenly spaced grid (the default 0..1 by 0.01), else a SelectionSlider
    over exactly the report's thresholds."""
    steps = [b - a for a, b in pairwise(grid)]
    common = {"description": "Threshold", "continuous_update": True, "layout": W.Layout(width="460px")}
    if not steps or max(steps) - min(steps) <= 1e-9 * max(1.0, *steps):
        return W.FloatSlider(value=start, min=grid[0], max=grid[-1], step=steps[0] if steps else 0.01,
                             readout_format=".2f", **common)
    return W.SelectionSlider(options=[(f"{t:.3g}", t) for t in grid], value=start, **common)


def curve_svg(series: dict[str, list[float]], at: dict[str, Any], *, target: float | None = None) -> str:
    """Coverage / accuracy / human share by threshold, with a marker at ``at["threshold"]``."""
    return CurveChart(series, target=target).at(at)


class CurveChart:
    """The threshold chart drawn once (axes, curves, target; legend), with :meth:`at` adding the
    marker (``templates/threshold_curve.svg.j2``)."""

    def __init__(self, series: dict[str, list[float]], *, target: float | None = None) -> None:
        xs = series["threshold"]
        self.lo, self.span = min(xs), (max(xs) - min(xs)) or 1.0
        x, y, span = self.x, self.y, self.span
        lines = [(" ".join(f"{x(th):.1f},{y(v):.1f}" for th, v in zip(xs, series[key]) if v == v),
                  colour, key == "human_share", _LABELS[key]) for key, colour in _COLOURS.items()]
        self.head = macro(
            _TEMPLATE, "chart", w=_W, h=_H, left=_L, right=_R, bottom=_B, muted=MUTED, lines=lines,
            y_ticks=[(f"{y(v):.1f}", f"{y(v) + 3:.1f}", f"{v:g}") for v in (0, 0.25, 0.5, 0.75, 1)],
            x_ticks=[(f"{x(self.lo + span * i / 5):.1f}", f"{self.lo + span * i / 5:.2f}") for i in range(6)],
            target=None if target is None else {"y": f"{y(target):.1f}", "label_y": f"{y(target) - 3:.1f}",
                                                 "value": f"{target:g}"})
        self.tail = macro(_TEMPLATE, "legend", left=_L, bottom=_H - _B, lines=lines)

    def x(self, v: float) -> float:
        return _L + (v - self.lo) / self.span * (_W - _L - _R)

    @staticmethod
    def y(v: float) -> float:
        return _T + (1 - v) * (_H - _T - _B)

    def at(self, at: dict[str, Any]) -> str:
        """The chart with the marker at ``at["threshold"]`` and dots at its coverage and accuracy."""
        dots = [f"{self.y(at[k]):.1f}" for k in ("coverage", "accuracy") if at[k] == at[k]]
        marker = macro(_TEMPLATE, "marker", x=f"{self.x(float(at['threshold'])):.1f}", top=_T, bottom=_H - _B,
                       colour=BAD, dots=dots)
        return self.head + marker + self.tail


def threshold_explorer(report: ThresholdReport, **kwargs: Any) -> ThresholdExplorer:
    """A :class:`ThresholdExplorer` for a ``ThresholdReport``."""
    return ThresholdExplorer(report, **kwargs)
