"""The drift report's pictures: one column's reference-vs-current chart, the table's sparklines,
and :class:`FigureView` (a matplotlib Figure shown as PNG in any IPython front end).
matplotlib and numpy are imported inside the functions."""

from __future__ import annotations

from typing import Any


def column_chart(row: Any, ax: Any = None) -> Any:
    """Reference vs current histogram (numeric) or bar chart (categories) of one report row
    (:class:`~.drift.DriftColumn` with a ``plot``); a matplotlib Figure."""
    import numpy as np
    from matplotlib.figure import Figure

    column, data = row.column, row.plot
    if ax is None:
        fig = Figure(figsize=(6, 3.2))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    colour = "#d93025" if row.drifted else "#1a73e8"
    if data["kind"] == "hist":
        edges = np.asarray(data["edges"])
        ax.stairs(data["reference"], edges, fill=True, color="#bbbbbb", label="reference")
        ax.stairs(data["current"], edges, color=colour, linewidth=1.8, label="current")
        ax.set_xlabel(column + (" (length)" if row.type == "text" else ""))
    else:
        pos = np.arange(len(data["labels"]))
        ax.bar(pos - 0.2, data["reference"], width=0.4, color="#bbbbbb", label="reference")
        ax.bar(pos + 0.2, data["current"], width=0.4, color=colour, label="current")
        ax.set_xticks(pos, [str(lbl)[:18] for lbl in data["labels"]],
                      rotation=45 if len(pos) > 6 else 0, ha="right" if len(pos) > 6 else "center")
    ax.set_ylabel("share of rows")
    stat = f"{row.method} = {row.statistic:.3g}"
    ax.set_title(f"{column}: {stat}" + (" — DRIFT" if row.drifted else ""), fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


class FigureView:
    """Shows a matplotlib Figure as PNG in any IPython front end (no pyplot backend needed)."""

    def __init__(self, figure: Any) -> None:
        self.figure = figure

    def _repr_png_(self) -> bytes:
        import io

        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", dpi=90, bbox_inches="tight")  # no clipped title or labels
        return buf.getvalue()

    def __repr__(self) -> str:
        return f"<Figure: {len(self.figure.axes)} plot(s)>"


def sparkline(data: dict[str, Any] | None, width: int = 120, height: int = 28) -> str:
    """A tiny inline SVG (``templates/sparkline.svg.j2``): grey reference bars, blue current outline."""
    if not data:
        return ""
    from .render import render

    ref, cur = data["reference"], data["current"]
    top = max(max(ref, default=0), max(cur, default=0)) or 1.0
    w = width / max(len(ref), 1)
    # the reference bars as one path (one attribute to escape, not four per bar)
    bars = "".join(f"M{i * w:.1f},{height - v / top * height:.1f}h{w:.1f}v{v / top * height:.1f}h-{w:.1f}z"
                   for i, v in enumerate(ref) if v > 0)
    points = " ".join(f"{i * w:.1f},{height - v / top * height:.1f} {(i + 1) * w:.1f},"
                      f"{height - v / top * height:.1f}" for i, v in enumerate(cur))
    return render("sparkline.svg.j2", width=width, height=height, bars=bars, points=points)
