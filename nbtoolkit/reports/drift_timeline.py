"""Result of drift over time: chunk × column statistics, thresholds and verdicts, and a plot."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .base import Result, html_table, plain

COLUMNS = ["chunk", "start", "end", "rows", "column", "method", "statistic", "threshold", "missing", "drifted", "note"]


@dataclass(repr=False)  # keep Result._repr_pretty_ (text view) in IPython
class DriftTimeline(Result):
    """Drift per chunk × column (``nbt.drift(..., chunk_size=N)``); ``.drifted`` when any current
    chunk drifted in any column or in the multivariate reconstruction error."""

    rows: list[dict[str, Any]]
    columns: list[str]
    skipped: dict[str, str]
    chunking: str
    threshold: str
    threshold_sd: float = 3.0
    multivariate: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    n_reference: int = 0
    n_current: int = 0
    domain: dict[str, Any] | None = None  # the domain classifier's AUROC per chunk (multivariate="classifier")

    @property
    def drifted_cells(self) -> list[tuple[str, str]]:
        """(chunk, column) pairs of the current data that drifted."""
        return [(r["chunk"], r["column"]) for r in self.rows if r["period"] == "current" and r["drifted"]]

    @property
    def drifted_chunks(self) -> list[str]:
        cells = {c for c, _ in self.drifted_cells}
        cells |= {r["chunk"] for r in self._multi_rows() + self._domain_rows()
                  if r["period"] == "current" and r["drifted"]}
        return [c for c in dict.fromkeys(r["chunk"] for r in self.rows if r["period"] == "current") if c in cells]

    @property
    def drifted(self) -> bool:
        return bool(self.drifted_chunks)

    @property
    def passed(self) -> bool:
        return not self.drifted

    def _multi_rows(self) -> list[dict[str, Any]]:
        return self.multivariate["rows"] if self.multivariate else []

    def _domain_rows(self) -> list[dict[str, Any]]:
        return self.domain["rows"] if self.domain else []

    def domain_frame(self, *, reference: bool = False) -> Any:
        """The domain classifier's cross-validated AUROC per chunk with its limits (empty without it)."""
        import pandas as pd

        cols = (["period"] if reference else []) + ["chunk", "start", "end", "rows", "auroc", "lower", "upper",
                                                    "drifted"]
        return pd.DataFrame([{c: r[c] for c in cols} for r in self._domain_rows()
                             if reference or r["period"] == "current"], columns=cols)

    def to_frame(self, *, reference: bool = False) -> Any:
        """One row per current chunk × column (``reference=True``: reference chunks too, with ``period``).

        ``missing`` is the share of the chunk's values that are missing (or infinite); ``note`` says
        when it is above the reference's, or when every value is missing (then ``drifted``).
        """
        import pandas as pd

        cols = (["period"] if reference else []) + COLUMNS
        return pd.DataFrame([{c: r.get(c) for c in cols} for r in self.rows if reference or r["period"] == "current"],
                            columns=cols)

    @property
    def chunk_notes(self) -> list[tuple[str, str, str]]:
        """(chunk, column, note) of the current chunks with a note (missing values)."""
        return [(r["chunk"], r["column"], r["note"]) for r in self.rows if r["period"] == "current" and r.get("note")]

    def multivariate_frame(self, *, reference: bool = False) -> Any:
        import pandas as pd

        cols = (["period"] if reference else []) + ["chunk", "start", "end", "rows", "reconstruction_error",
                                                    "lower", "upper", "drifted"]
        return pd.DataFrame([{c: r[c] for c in cols} for r in self._multi_rows()
                             if reference or r["period"] == "current"], columns=cols)

    def matrix(self) -> Any:
        """Current chunks × columns: True where the column drifted in that chunk."""
        frame = self.to_frame()
        return frame.pivot(index="chunk", columns="column", values="drifted").reindex(
            index=list(dict.fromkeys(frame["chunk"])), columns=self.columns)

    def to_dict(self) -> dict[str, Any]:
        multi = None
        if self.multivariate:
            multi = {**{k: v for k, v in self.multivariate.items() if k != "rows"},
                     "rows": [{k: plain(v) for k, v in r.items()} for r in self.multivariate["rows"]]}
        return {"chunking": self.chunking, "threshold": self.threshold, "threshold_sd": self.threshold_sd,
                "columns": self.columns, "skipped": self.skipped, "drifted": self.drifted,
                "drifted_cells": [list(c) for c in self.drifted_cells], "notes": self.notes,
                "n_reference": self.n_reference, "n_current": self.n_current,
                "rows": [{k: plain(v) for k, v in r.items()} for r in self.rows], "multivariate": multi,
                "domain": None if not self.domain else {
                    **{k: v for k, v in self.domain.items() if k != "rows"},
                    "rows": [{k: plain(v) for k, v in r.items()} for r in self.domain["rows"]]}}

    def summary(self) -> str:
        chunks = len({r["chunk"] for r in self.rows if r["period"] == "current"})
        how = (f"thresholds: reference mean + {self.threshold_sd:g} sd" if self.threshold == "reference"
               else "fixed thresholds")
        text = (f"Drift over time: {chunks} chunk(s) ({self.chunking}) × {len(self.columns)} column(s), {how} — "
                f"{len(self.drifted_cells)} drifted chunk×column cell(s) in {len(self.drifted_chunks)} chunk(s)")
        return text + (f" — drifted: {self.found()}" if self.drifted else "")

    def found(self) -> str:
        """The drifted columns with their number of drifted chunks: ``num_0 in 5 chunks, ...``."""
        from .drift import names_shown

        counts: dict[str, int] = {}
        for _, column in self.drifted_cells:
            counts[column] = counts.get(column, 0) + 1
        multi = sum(r["period"] == "current" and bool(r["drifted"]) for r in self._multi_rows())
        if multi:
            counts["(multivariate)"] = multi
        domain = sum(r["period"] == "current" and bool(r["drifted"]) for r in self._domain_rows())
        if domain:
            counts["(domain classifier)"] = domain
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])
        return names_shown([f"{c} in {n} chunk{'s' if n > 1 else ''}" for c, n in ranked])

    def __str__(self) -> str:
        lines = [self.summary()]
        m = self.matrix()
        if len(m):
            lines.append(m.replace({True: "X", False: "."}).to_string())
        if self.multivariate:
            lines.append(self.multivariate_frame().to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        if self._domain_rows():
            lines.append(self.domain_frame().to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        lines += [f"skipped {c}: {why}" for c, why in self.skipped.items()]
        lines += [f"note: {n}" for n in self.notes]
        lines += [f"note: {column} in chunk {chunk}: {note}" for chunk, column, note in self.chunk_notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from .render import render, safe

        m = self.matrix()
        multi = self.multivariate
        return render(
            "drift_timeline.html.j2", summary=self.summary(), columns=[str(c) for c in m.columns],
            cells=[(str(chunk), [bool(v) for v in row]) for chunk, row in m.iterrows()] if len(m) else [],
            multivariate=multi, skipped=self.skipped, chunk_notes=self.chunk_notes,
            multivariate_table=safe(html_table(self.multivariate_frame(), tone=lambda r: "bad" if r["drifted"] else ""))
            if multi else "", domain=self.domain,
            domain_table=safe(html_table(self.domain_frame(), tone=lambda r: "bad" if r["drifted"] else ""))
            if self._domain_rows() else "")

    def plot(self, columns: list[str] | str | None = None, *, max_columns: int = 8) -> Any:
        """The multivariate error (when computed) and each column's statistic per chunk, with its
        threshold; drifted chunks in red, the reference period shaded. Returns the figure.

        A plain matplotlib Figure, not one pyplot keeps: Jupyter's inline backend would otherwise
        draw it a second time at the end of the cell that displayed it.
        """
        from matplotlib.figure import Figure

        frame = self.to_frame(reference=True)
        if columns is None:
            current = frame[frame.period == "current"]
            drifted = [c for c in self.columns if current[current.column == c].drifted.any()]
            columns = (drifted + [c for c in self.columns if c not in drifted])[:max_columns]
        elif isinstance(columns, str):
            columns = [columns]
        panels = ((["(multivariate)"] if self.multivariate else []) + (["(classifier)"] if self._domain_rows() else [])
                  + list(columns))
        fig = Figure(figsize=(8, 1.6 * len(panels) + 0.9), layout="constrained")
        axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)
        for ax, name in zip(axes[:, 0], panels):
            if name == "(multivariate)":
                part = self.multivariate_frame(reference=True)
                y, low, high = part["reconstruction_error"], part["lower"], part["upper"]
                label = "PCA error"
            elif name == "(classifier)":
                part = self.domain_frame(reference=True)
                y, low, high = part["auroc"], part["lower"], part["upper"]
                label = "domain AUROC"
            else:
                part = frame[frame.column == name].reset_index(drop=True)
                y, low, high = part["statistic"], None, part["threshold"]
                label = f"{name} ({part['method'].iloc[0]})" if len(part) else name
            x = list(range(len(part)))
            ref = part["period"] == "reference"
            if ref.any():
                ax.axvspan(-0.5, ref[ref].index.max() + 0.5, color="#eee", zorder=0)
            ax.plot(x, y.astype(float), "-o", color="#3182bd", markersize=3)
            for bound in (low, high):
                if bound is not None and bound.notna().any():
                    ax.plot(x, bound.astype(float), ":", color="#d62728", linewidth=1)
            hits = part.index[part["drifted"] & (part["period"] == "current")]
            ax.plot(hits, y.iloc[hits].astype(float), "o", color="#d62728", markersize=6)
            ax.set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
            ax.tick_params(labelsize=7)
        fig.suptitle(wrapped(self.summary()), fontsize=8)
        part = self.multivariate_frame(reference=True) if self.multivariate else frame[frame.column == panels[-1]]
        labels = chunk_labels(part["chunk"], part["period"])
        step = max(1, len(labels) // 12)
        axes[-1, 0].set_xticks(range(0, len(labels), step))
        axes[-1, 0].set_xticklabels(labels[::step], rotation=30, ha="right", fontsize=7)
        return fig


def wrapped(title: str, width: int = 110) -> str:
    """A long summary as a title of several lines (one line would run off the figure)."""
    import textwrap

    return "\n".join(textwrap.wrap(title, width)) or title


def chunk_labels(chunks: Any, periods: Any) -> list[str]:
    """Tick labels that tell reference chunks from current ones: both are cut from row 0, so
    ``[0:499]`` names one chunk of each; the reference's get a ``ref`` prefix."""
    return [("ref " if period == "reference" else "") + (str(c) if len(str(c)) <= 22 else str(c)[:21] + "…")
            for c, period in zip(chunks, periods)]
