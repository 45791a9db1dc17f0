"""Result of data quality over time (``nbt.quality``): chunk × column × metric values, limits, alerts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .base import Result, html_table, plain

COLUMNS = ["chunk", "start", "end", "rows", "column", "metric", "value", "lower", "upper", "alert"]


@dataclass(repr=False)  # keep Result._repr_pretty_ (text view) in IPython
class QualityTimeline(Result):
    """Data quality per chunk × column × metric (missing/unseen/out-of-range rates, mean, median,
    std, sum, rows); ``.alerted`` when any analysis chunk leaves a limit learned on the reference."""

    rows: list[dict[str, Any]]
    columns: list[str]
    kinds: dict[str, str]
    chunking: str
    threshold_sd: float = 3.0
    notes: list[str] = field(default_factory=list)
    n_reference: int = 0
    n_analysis: int = 0

    def _analysis(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["period"] == "analysis"]

    @property
    def alerts(self) -> list[tuple[str, str, str]]:
        """(chunk, column, metric) of the analysis chunks that alerted."""
        return [(r["chunk"], r["column"], r["metric"]) for r in self._analysis() if r["alert"]]

    @property
    def alerted(self) -> bool:
        return bool(self.alerts)

    @property
    def passed(self) -> bool:
        return not self.alerted

    def to_frame(self, *, reference: bool = False) -> Any:
        """One row per analysis chunk × column × metric (``reference=True``: reference chunks too,
        with ``period``)."""
        import pandas as pd

        cols = (["period"] if reference else []) + COLUMNS
        return pd.DataFrame([{c: r[c] for c in cols} for r in self.rows if reference or r["period"] == "analysis"],
                            columns=cols)

    def matrix(self, metric: str | None = None) -> Any:
        """Analysis chunks × columns: the number of alerting metrics (or True/False for one ``metric``)."""
        frame = self.to_frame()
        if metric is not None:
            frame = frame[frame.metric == metric]
            return frame.pivot(index="chunk", columns="column", values="alert").reindex(
                index=list(dict.fromkeys(frame["chunk"])))
        table = frame.pivot_table(index="chunk", columns="column", values="alert", aggfunc="sum", sort=False)
        return table.reindex(index=list(dict.fromkeys(frame["chunk"])),
                             columns=[c for c in [*self.columns, "(rows)"] if c in table.columns]).astype(int)

    def to_dict(self) -> dict[str, Any]:
        return {"chunking": self.chunking, "threshold_sd": self.threshold_sd, "columns": self.columns,
                "kinds": self.kinds, "alerted": self.alerted, "alerts": [list(a) for a in self.alerts],
                "notes": self.notes, "n_reference": self.n_reference, "n_analysis": self.n_analysis,
                "rows": [{k: plain(v) for k, v in r.items()} for r in self.rows]}

    def summary(self) -> str:
        chunks = len({r["chunk"] for r in self._analysis()})
        text = (f"Data quality: {chunks} chunk(s) ({self.chunking}) × {len(self.columns)} column(s), limits: "
                f"reference mean ± {self.threshold_sd:g} sd — {len(self.alerts)} alert(s)")
        return text + (f": {self.found()}" if self.alerted else "")

    def found(self) -> str:
        """The alerting column × metric pairs with their number of chunks, most first."""
        from .drift import names_shown

        counts: dict[str, int] = {}
        for _, column, metric in self.alerts:
            key = f"{column} {metric}"
            counts[key] = counts.get(key, 0) + 1
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])
        return names_shown([f"{c} in {n} chunk{'s' if n > 1 else ''}" for c, n in ranked])

    def _alert_frame(self) -> Any:
        frame = self.to_frame()
        return frame[frame.alert].reset_index(drop=True)

    def __str__(self) -> str:
        lines = [self.summary()]
        m = self.matrix()
        if len(m):
            lines.append("alerting metrics per chunk × column:")
            lines.append(m.replace(0, ".").to_string())
        alerts = self._alert_frame()
        if len(alerts):
            lines.append(alerts.drop(columns=["start", "end"]).to_string(
                index=False, max_rows=40, float_format=lambda v: f"{v:.4g}"))
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from .render import result

        m = self.matrix()
        tables = [("alerting metrics per chunk × column", html_table(m.reset_index()))] if len(m) else []
        alerts = self._alert_frame()
        if len(alerts):
            tables.append(("alerts", html_table(alerts, tone=lambda r: "bad")))
        return result(self.summary(), tables=tables, notes=self.notes, tone="bad" if self.alerted else "good")

    def plot(self, metric: str = "missing_rate", columns: list[str] | str | None = None, *,
             max_columns: int = 8) -> Any:
        """One panel per column: ``metric`` per chunk with its limits; alerts in red, the reference
        period shaded. Returns a matplotlib Figure."""
        from matplotlib.figure import Figure

        from .drift_timeline import chunk_labels, wrapped

        frame = self.to_frame(reference=True)
        frame = frame[frame.metric == metric]
        present = list(dict.fromkeys(frame["column"]))
        if columns is None:
            hit = [c for c in present if frame[(frame.column == c) & (frame.period == "analysis")].alert.any()]
            columns = (hit + [c for c in present if c not in hit])[:max_columns]
        elif isinstance(columns, str):
            columns = [columns]
        columns = [c for c in columns if c in present]
        if not columns:
            from ..errors import BadInput

            raise BadInput(f"No column has the metric {metric!r}; metrics: missing_rate, unseen_rate, "
                           "out_of_range_rate, mean, median, std, sum, rows.")
        fig = Figure(figsize=(8, 1.6 * len(columns) + 0.9), layout="constrained")
        axes = fig.subplots(len(columns), 1, sharex=True, squeeze=False)
        for ax, name in zip(axes[:, 0], columns):
            part = frame[frame.column == name].reset_index(drop=True)
            x = list(range(len(part)))
            ref = part["period"] == "reference"
            if ref.any():
                ax.axvspan(-0.5, ref[ref].index.max() + 0.5, color="#eee", zorder=0)
            ax.plot(x, part["value"].astype(float), "-o", color="#3182bd", markersize=3)
            for bound in (part["lower"], part["upper"]):
                if bound.notna().any():
                    ax.plot(x, bound.astype(float), ":", color="#d62728", linewidth=1)
            hits = part.index[part["alert"] & (part["period"] == "analysis")]
            ax.plot(hits, part["value"].iloc[hits].astype(float), "o", color="#d62728", markersize=6)
            ax.set_ylabel(f"{name}\n{metric}", fontsize=7, rotation=0, ha="right", va="center")
            ax.tick_params(labelsize=7)
        fig.suptitle(wrapped(self.summary()), fontsize=8)
        part = frame[frame.column == columns[-1]]
        labels = chunk_labels(part["chunk"], part["period"].replace({"analysis": "current"}))
        step = max(1, len(labels) // 12)
        axes[-1, 0].set_xticks(range(0, len(labels), step))
        axes[-1, 0].set_xticklabels(labels[::step], rotation=30, ha="right", fontsize=7)
        return fig
