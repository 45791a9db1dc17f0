"""Threshold explorer (``%nbt threshold`` in Jupyter): a slider over confidence thresholds.

Moving the slider shows, live, the share of predictions handled automatically (coverage), the
accuracy on those, and the share routed to a human — all from ``ThresholdReport.at(t)`` — on
the curve of ``ThresholdReport.table`` with a marker at the slider. The curve is a small inline
SVG (redrawn in microseconds, so dragging stays live; ``report.plot(marker=t)`` is the
matplotlib version). "Save threshold" calls ``ThresholdReport.save(t)``, which stores it on the
model version (tag ``nbt.threshold``).
"""

from __future__ import annotations

import html
from typing import Any

from ._base import BAD, MUTED, OK, Composite, guarded


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

    def __init__(self, report: Any) -> None:
        super().__init__()
        import ipywidgets as W

        self.report = report
        table = report.table
        self._series = {k: [float(v) for v in table[k]] for k in ("threshold", "coverage", "accuracy", "human_share")}
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
            W.HTML(f"<b>Human routing for {html.escape(str(report.model))}</b> "
                   f'<span style="color:{MUTED}">({report.n:,} rows{html.escape(target)})</span>'),
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
        self.metrics_html.value = (
            '<div style="display:flex;gap:24px;font-size:13px">'
            f'<span>coverage <b class="nbt-coverage">{row["coverage"]:.1%}</b></span>'
            f'<span>accuracy on auto-handled <b class="nbt-accuracy" style="color:{colour}">{acc}</b></span>'
            f'<span>to a human <b class="nbt-human-share">{row["human_share"]:.1%}</b></span>'
            f'<span style="color:{MUTED}">{row["n_auto"]:,} of {self.report.n:,} rows auto-handled</span>'
            "</div>")
        self.curve_html.value = curve_svg(self._series, row, target=target)

    def save(self) -> None:
        """Store the slider's threshold on the model version; say so (or why not)."""
        value = round(float(self.slider.value), 10)

        def run() -> str:
            self.report.save(value)
            return (f'<span style="color:{OK}">Saved threshold {value:g} on {html.escape(str(self.report.ref))} '
                    "(tag nbt.threshold).</span>")

        with self.settings():
            guarded(self.status_html, run)


_W, _H, _L, _B, _T, _R = 520, 230, 40, 30, 10, 10  # size and margins of the curve, px
_COLOURS = {"coverage": "#1f77b4", "accuracy": "#ff7f0e", "human_share": "#7f7f7f"}
_LABELS = {"coverage": "coverage", "accuracy": "accuracy on auto-handled", "human_share": "to a human"}


def _slider(W: Any, grid: list[float], start: float) -> Any:
    """A FloatSlider on an evenly spaced grid (the default 0..1 by 0.01), else a SelectionSlider
    over exactly the report's thresholds."""
    steps = [b - a for a, b in zip(grid, grid[1:])]
    common = dict(description="Threshold", continuous_update=True, layout=W.Layout(width="460px"))
    if not steps or max(steps) - min(steps) <= 1e-9 * max(1.0, max(steps)):
        return W.FloatSlider(value=start, min=grid[0], max=grid[-1], step=steps[0] if steps else 0.01,
                             readout_format=".2f", **common)
    return W.SelectionSlider(options=[(f"{t:.3g}", t) for t in grid], value=start, **common)


def curve_svg(series: dict[str, list[float]], at: dict[str, Any], *, target: float | None = None) -> str:
    """Coverage / accuracy / human share by threshold, with a marker at ``at["threshold"]``."""
    xs = series["threshold"]
    lo, hi = min(xs), max(xs)
    span = (hi - lo) or 1.0

    def x(v: float) -> float:
        return _L + (v - lo) / span * (_W - _L - _R)

    def y(v: float) -> float:
        return _T + (1 - v) * (_H - _T - _B)

    parts = [f'<svg width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" xmlns="http://www.w3.org/2000/svg" '
             'style="font:10px sans-serif">']
    for v in (0, 0.25, 0.5, 0.75, 1):
        parts.append(f'<line x1="{_L}" x2="{_W - _R}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>'
                     f'<text x="{_L - 4}" y="{y(v) + 3:.1f}" text-anchor="end" fill="{MUTED}">{v:g}</text>')
    for i in range(6):
        v = lo + span * i / 5
        parts.append(f'<text x="{x(v):.1f}" y="{_H - _B + 14}" text-anchor="middle" fill="{MUTED}">{v:.2f}</text>')
    parts.append(f'<text x="{(_L + _W - _R) / 2}" y="{_H - 2}" text-anchor="middle" fill="{MUTED}">'
                 "confidence threshold</text>")
    if target is not None:
        parts.append(f'<line x1="{_L}" x2="{_W - _R}" y1="{y(target):.1f}" y2="{y(target):.1f}" stroke="#999" '
                     f'stroke-dasharray="4 3"/><text x="{_W - _R - 2}" y="{y(target) - 3:.1f}" '
                     f'text-anchor="end" fill="#999">target {target:g}</text>')
    for key, colour in _COLOURS.items():
        points = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in zip(xs, series[key]) if v == v)
        dash = ' stroke-dasharray="2 2"' if key == "human_share" else ""
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.6"{dash}/>')
    t = float(at["threshold"])
    parts.append(f'<line class="nbt-marker" x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{_T}" y2="{_H - _B}" '
                 f'stroke="{BAD}" stroke-width="1.2"/>')
    for key in ("coverage", "accuracy"):
        if at[key] == at[key]:
            parts.append(f'<circle cx="{x(t):.1f}" cy="{y(at[key]):.1f}" r="3.5" fill="{BAD}"/>')
    for i, (key, colour) in enumerate(_COLOURS.items()):
        parts.append(f'<line x1="{_L + 8}" x2="{_L + 26}" y1="{_H - _B - 40 + 13 * i}" y2="{_H - _B - 40 + 13 * i}" '
                     f'stroke="{colour}" stroke-width="2"/><text x="{_L + 30}" y="{_H - _B - 37 + 13 * i}" '
                     f'fill="#333">{_LABELS[key]}</text>')
    return "".join(parts) + "</svg>"


def threshold_explorer(report: Any, **kwargs: Any) -> ThresholdExplorer:
    """A :class:`ThresholdExplorer` for a ``ThresholdReport``."""
    return ThresholdExplorer(report, **kwargs)
