"""Result of :func:`nbtoolkit.estimate`: estimated (and realised) metrics per chunk, with bands."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .base import Result, html_table, plain

COLUMNS = ["chunk", "start", "end", "rows", "metric", "estimate", "lower", "upper", "realised", "alert",
           "alert_lower", "alert_upper", "sampling_error", "labelled", "low_confidence", "method", "ess",
           "disagree"]


@dataclass(repr=False)  # keep Result._repr_pretty_ (text view) in IPython
class EstimationResult(Result):
    """Per chunk × metric: estimate, its band (``lower``..``upper``), realised value, alert.

    ``.alerted`` is True when an analysis chunk's estimate left its alert limits. ``method`` is
    ``"cbpe"``, ``"shift"`` or ``"auto"`` (rows of both, in the ``method`` column; ``.disagreeing``
    lists the chunks where they differ beyond their bands).
    """

    rows: list[dict[str, Any]]
    metrics: list[str]
    classes: list[str]
    chunking: str
    calibrated: list[str]
    threshold_sd: float = 3.0
    notes: list[str] = field(default_factory=list)
    n_reference: int = 0
    n_analysis: int = 0
    method: str = "cbpe"
    task: str = "classification"  # or "regression" (direct loss estimation: classes and calibrated empty)
    features: list[str] = field(default_factory=list)  # regression: the loss models' feature columns

    @property
    def alert_sd(self) -> float:
        """The old name of :attr:`threshold_sd` (kept for one release)."""
        return self.threshold_sd

    @property
    def disagreeing(self) -> list[Any]:
        """Analysis chunks (keys) where CBPE and the shift-aware estimate disagree (``method="auto"``)."""
        return list(dict.fromkeys(r["chunk"] for r in self.rows if r["period"] == "analysis" and r.get("disagree")))

    @property
    def alerts(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["period"] == "analysis" and r["alert"]]

    @property
    def alerted(self) -> bool:
        return bool(self.alerts)

    @property
    def passed(self) -> bool:
        return not self.alerted

    def to_frame(self, *, reference: bool = False) -> Any:
        """One row per analysis chunk × metric (``reference=True`` adds the reference chunks and a
        ``period`` column)."""
        import pandas as pd

        rows = [r for r in self.rows if reference or r["period"] == "analysis"]
        cols = (["period"] if reference else []) + COLUMNS
        return pd.DataFrame([{c: r.get(c) for c in cols} for r in rows], columns=cols)

    def to_dict(self) -> dict[str, Any]:
        return {"metrics": self.metrics, "classes": self.classes, "chunking": self.chunking,
                "calibrated": self.calibrated, "threshold_sd": self.threshold_sd,
                "alert_sd": self.threshold_sd,  # the old key, kept for one release beside threshold_sd
                "notes": self.notes,
                "n_reference": self.n_reference, "n_analysis": self.n_analysis,
                "alerted": self.alerted, "method": self.method, "disagreeing": [plain(c) for c in self.disagreeing],
                "task": self.task, "features": self.features,
                "rows": [{k: plain(v) for k, v in r.items()} for r in self.rows]}

    def summary(self) -> str:
        chunks = len({r["chunk"] for r in self.rows if r["period"] == "analysis"})
        kind = "binary" if len(self.classes) == 2 else f"{len(self.classes)} classes"
        cal = f"calibration: isotonic for {', '.join(self.calibrated)}" if self.calibrated else \
            "calibration: raw probabilities"
        if self.task == "regression":
            kind, cal = "regression", f"loss models on {len(self.features)} feature(s) and the prediction"
        verdict = (f"{len(self.alerts)} alert(s): " + ", ".join(sorted({a['metric'] for a in self.alerts}))
                   if self.alerts else "no alerts")
        how = {"shift": "; shift-aware (reference reweighted per chunk)",
               "auto": "; CBPE and shift-aware"}.get(self.method, "")
        if self.method == "auto":
            gone = self.disagreeing
            verdict += (f"; they disagree on {len(gone)} chunk(s): {', '.join(map(str, gone[:6]))}"
                        + (f" and {len(gone) - 6} more" if len(gone) > 6 else "") if gone else "; they agree")
        return (f"Estimated {', '.join(self.metrics)} on {chunks} analysis chunk(s) ({self.chunking}; "
                f"{kind}; {cal}{how}) — {verdict}")

    def __str__(self) -> str:
        cols = ["chunk", "rows", "metric", "estimate", "lower", "upper", "realised", "alert"]
        if self.method in ("shift", "auto"):
            cols[3:3] = ["method", "ess"] + (["disagree"] if self.method == "auto" else [])
        frame = self.to_frame()[cols]
        lines = [self.summary(), frame.to_string(index=False, float_format=lambda v: f"{v:.3f}")]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        frame = self.to_frame()
        cols = ["chunk", "start", "end", "rows", "metric", "estimate", "lower", "upper", "realised",
                "alert", "alert_lower", "alert_upper"]
        if self.method in ("shift", "auto"):
            cols[4:4] = ["method", "ess"] + (["disagree"] if self.method == "auto" else [])
        shown = frame[cols]

        from .render import result

        def tone(row: Any) -> str:  # an alert is bad; a low-confidence chunk (few rows) is shown faint
            if row["alert"] or frame.at[row.name, "disagree"]:
                return "bad"
            return "faint" if frame.at[row.name, "low_confidence"] else ""

        return result(self.summary(), tables=[("", html_table(shown, tone=tone))],
                      notes=[f"note: {n}" for n in self.notes])

    def plot(self, metrics: list[str] | str | None = None, *, reference: bool = True, axes: Any = None) -> Any:
        """One panel per metric: estimate with its band, realised values, alert limits, alerts.

        Low-confidence chunks (fewer than 50 rows, or a low effective sample size) are drawn hollow;
        the reference chunks, grey. With ``method="auto"`` the shift-aware estimate is drawn with its
        band, CBPE's as a dashed line, and disagreeing chunks ringed.
        Returns the matplotlib figure (a plain Figure, as :meth:`DriftTimeline.plot` explains).
        """
        from matplotlib.figure import Figure

        from .drift_timeline import chunk_labels, wrapped

        wanted = [metrics] if isinstance(metrics, str) else list(metrics or self.metrics)
        frame = self.to_frame(reference=True)
        cbpe = frame[frame["method"] == "cbpe"] if self.method == "auto" else None
        if cbpe is not None:
            frame = frame[frame["method"] == "shift"]
        if not reference:
            frame = frame[frame["period"] == "analysis"]
        if axes is None:
            fig = Figure(figsize=(8, 2.4 * len(wanted) + 0.4), layout="constrained")
            axes = fig.subplots(len(wanted), 1, sharex=True, squeeze=False)[:, 0]
        else:
            fig = axes[0].figure
        for ax, metric in zip(axes, wanted):
            part = frame[frame["metric"] == metric].reset_index(drop=True)
            if cbpe is not None:
                other = cbpe[(cbpe["metric"] == metric) & cbpe["period"].isin(part["period"].unique())]
                ax.plot(range(len(other)), other["estimate"].astype(float), "--", color="#636363",
                        label="CBPE", zorder=2)
                gone = part[part["disagree"].astype(bool)]
                ax.plot(gone.index, gone["estimate"].astype(float), "o", markerfacecolor="none",
                        color="#d62728", markersize=10, label="disagree", zorder=4)
            x = list(range(len(part)))
            ref = part["period"] == "reference"
            if ref.any():
                ax.axvspan(-0.5, ref[ref].index.max() + 0.5, color="#eee", zorder=0)
            ax.fill_between(x, part["lower"].astype(float), part["upper"].astype(float), color="#9ecae1",
                            alpha=0.5, label="sampling band (±3 se)", step=None)
            ax.plot(x, part["estimate"].astype(float), "-", color="#3182bd", label="estimated", zorder=2)
            solid = ~part["low_confidence"]
            ax.plot([i for i in x if solid[i]], part["estimate"][solid].astype(float), "o", color="#3182bd",
                    markersize=4, zorder=3)
            if (~solid).any():
                ax.plot([i for i in x if not solid[i]], part["estimate"][~solid].astype(float), "o",
                        markerfacecolor="white", color="#3182bd", markersize=5, label="low confidence", zorder=3)
            if part["realised"].notna().any():
                ax.plot(x, part["realised"].astype(float), "s--", color="#e6550d", markersize=3.5,
                        label="realised", zorder=2)
            for col in ("alert_lower", "alert_upper"):
                vals = part[col].dropna()
                if len(vals):
                    ax.axhline(float(vals.iloc[0]), color="#d62728", linestyle=":", linewidth=1)
            flagged = part[part["alert"] & (part["period"] == "analysis")]
            ax.plot(flagged.index, flagged["estimate"].astype(float), "x", color="#d62728", markersize=8,
                    mew=2, label="alert", zorder=4)
            ax.set_ylabel(metric)
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=7, loc="lower left", ncol=3)
        fig.suptitle(wrapped(self.summary()), fontsize=8)
        first = frame[frame["metric"] == wanted[0]]
        labels = chunk_labels(first["chunk"], first["period"])
        step = max(1, len(labels) // 12)
        axes[-1].set_xticks(range(0, len(labels), step))
        axes[-1].set_xticklabels(labels[::step], rotation=30, ha="right", fontsize=7)
        return fig
