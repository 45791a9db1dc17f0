"""DriftReport: per-column drift results, the dataset verdict, plots — no computation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import BadInput, did_you_mean
from .base import Record, Result
from .drift_plots import FigureView, sparkline
from .render import cell_text as _fmt

FRAME_COLUMNS = ["column", "type", "method", "statistic", "p_value", "threshold", "drifted", "note",
                 "missing_reference", "missing_current", "unseen_values", "unseen_rate", "out_of_range_rate"]
SKIPPED = "skipped"  # the method of a column no test applied to

if TYPE_CHECKING:
    import pandas as pd
NULL_TOLERANCE = 0.05  # a change of a column's missing share beyond this is flagged (validate's default)
NAMES_SHOWN = 8  # column names in a verdict line before "+N more"


@dataclass(frozen=True)
class DriftColumn(Record):
    """One column's row of a :class:`DriftReport` (``report.columns[name]``).

    ``type`` is the column's kind (or ``prediction`` for a model output); ``method`` the test,
    or :data:`SKIPPED` (then ``note`` says why); ``statistic``/``p_value`` what it gave and
    ``threshold`` the limit; ``plot`` reference and current proportions on the same bins or
    categories; ``n_reference``/``n_current`` the values tested on each side;
    ``missing_reference``/``missing_current`` the share of rows missing (or infinite) on each side
    (None for a skipped column) — :attr:`missing_changed` when they differ by more than
    :data:`NULL_TOLERANCE`, whatever the distribution test says; ``unseen_values`` /
    ``unseen_rate`` the current categories the reference never had (distinct ones, share of the
    current rows) and ``out_of_range_rate`` the share of current rows outside the reference
    ``[min, max]`` (None where they do not apply or the profile does not say).
    """

    column: str
    type: str
    method: str
    statistic: float | None
    p_value: float | None
    threshold: float | None
    drifted: bool
    note: str
    plot: dict[str, Any] | None
    n_reference: int
    n_current: int
    missing_reference: float | None = None
    missing_current: float | None = None
    unseen_values: int | None = None
    unseen_rate: float | None = None
    out_of_range_rate: float | None = None

    @property
    def tested(self) -> bool:
        return self.method != SKIPPED

    @property
    def missing_changed(self) -> bool:
        """The share of missing values moved by more than :data:`NULL_TOLERANCE` (either way)."""
        if self.missing_reference is None or self.missing_current is None:
            return False
        return abs(self.missing_current - self.missing_reference) > NULL_TOLERANCE + 1e-12

    @property
    def missing_text(self) -> str:
        """``"0.0% → 20.0%"`` (reference → current share of missing values), or ``""`` when none."""
        if not (self.missing_reference or self.missing_current):
            return ""
        return f"{self.missing_reference:.1%} → {self.missing_current:.1%}"

    @property
    def quality_flagged(self) -> bool:
        """Missing share moved, or current values the reference never had (categories, range)."""
        return self.missing_changed or bool(self.unseen_rate) or bool(self.out_of_range_rate)

    @property
    def beyond_text(self) -> str:
        """``"3.1% (2 new)"`` (rows with unseen categories) or ``"1.2%"`` (rows outside the
        reference range); ``""`` where neither applies."""
        if self.unseen_rate is not None:
            return f"{self.unseen_rate:.1%} ({self.unseen_values} new)" if self.unseen_values else "0%"
        return "" if self.out_of_range_rate is None else f"{self.out_of_range_rate:.1%}" if self.out_of_range_rate \
            else "0%"

    @classmethod
    def skipped(cls, column: str, kind: str, reason: str) -> DriftColumn:
        """A column no test applies to, with the reason."""
        return cls(column, kind, SKIPPED, None, None, None, False, reason, None, 0, 0)


class DriftReport(Result):
    """Result of :func:`nbtoolkit.drift`.

    Attributes
    ----------
    drifted : bool
        Dataset verdict: at least ``drift_share`` of the tested columns drifted, or the
        multivariate check flagged.
    columns : dict
        Column name -> :class:`DriftColumn` (``type, method, statistic, p_value, threshold, drifted,
        note``, sizes, and ``plot``: reference and current proportions on the same bins or
        categories); ``row["drifted"]`` reads it as before.
    """

    title = "Drift"

    def __init__(self, rows: list[DriftColumn] | list[dict[str, Any]], *, drift_share: float,
                 correction: str | None = None, multivariate: dict[str, Any] | None = None, reference: str = "",
                 n_reference: int = 0, n_current: int = 0, extra_columns: list[str] | None = None) -> None:
        self.rows = [r if isinstance(r, DriftColumn) else DriftColumn(**r) for r in rows]
        self.columns = {r.column: r for r in self.rows}
        self.drift_share = float(drift_share)
        self.correction = correction
        self.multivariate = multivariate
        self.reference = reference
        self.n_reference = int(n_reference)
        self.n_current = int(n_current)
        self.extra_columns = list(extra_columns or [])

    # ------------------------------------------------------------------ verdict
    @property
    def tested(self) -> list[DriftColumn]:
        return [r for r in self.rows if r.tested]

    @property
    def drifted_columns(self) -> list[str]:
        return [r.column for r in self.rows if r.drifted]

    @property
    def missing_changed(self) -> list[str]:
        """Columns whose share of missing values moved beyond :data:`NULL_TOLERANCE`."""
        return [r.column for r in self.rows if r.missing_changed]

    @property
    def unseen(self) -> list[str]:
        """Columns whose current data has categories the reference never had."""
        return [r.column for r in self.rows if r.unseen_rate]

    @property
    def out_of_range(self) -> list[str]:
        """Columns with current values outside the reference ``[min, max]``."""
        return [r.column for r in self.rows if r.out_of_range_rate]

    @property
    def outputs(self) -> list[DriftColumn]:
        """The rows of the model's outputs (prediction drift), tested or not."""
        return [r for r in self.rows if r.type == "prediction"]

    @property
    def predictions_drifted(self) -> bool:
        """A model output (prediction, confidence) drifted; the dataset verdict counts it too."""
        return any(r.drifted for r in self.outputs)

    @property
    def skipped(self) -> dict[str, str]:
        return {r.column: r.note for r in self.rows if not r.tested}

    @property
    def n_drifted(self) -> int:
        return len(self.drifted_columns)

    @property
    def share(self) -> float:
        return self.n_drifted / len(self.tested) if self.tested else 0.0

    @property
    def drifted(self) -> bool:
        multi = bool(self.multivariate and self.multivariate.get("drifted"))
        return (bool(self.tested) and self.share >= self.drift_share) or multi

    # ------------------------------------------------------------------ views
    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([{k: getattr(r, k) for k in FRAME_COLUMNS} for r in self.rows], columns=FRAME_COLUMNS)

    def to_dict(self, *, plots: bool = True) -> dict[str, Any]:
        rows = [{k: v for k, v in r.to_dict().items() if plots or k != "plot"} for r in self.rows]
        # drifted_share: what was observed; drift_share: the threshold (the drift_share= argument)
        return {"drifted": self.drifted, "drifted_share": self.share, "drift_share": self.drift_share,
                "n_tested": len(self.tested), "n_drifted": self.n_drifted,
                "drifted_columns": self.drifted_columns, "missing_changed": self.missing_changed,
                "unseen_columns": self.unseen, "out_of_range_columns": self.out_of_range,
                "predictions_drifted": self.predictions_drifted if self.outputs else None,
                "correction": self.correction,
                "multivariate": self.multivariate, "reference": self.reference,
                "n_reference": self.n_reference, "n_current": self.n_current,
                "extra_columns": self.extra_columns, "columns": rows}

    def summary(self) -> str:
        """The verdict and what it found: the drifted columns by name, changed missing shares.

        ``Drift: no dataset drift (2 of 9 columns, threshold 50%) — drifted: body_mass_g, (prediction)``
        """
        return f"Drift: {'DRIFT' if self.drifted else 'no dataset drift'} {self.finding()}"

    def finding(self) -> str:
        """The verdict line after its verdict word: counts, the drifted columns, missing shares."""
        text = f"({self.n_drifted} of {len(self.tested)} columns, threshold {self.drift_share:.0%}"
        if self.multivariate and self.multivariate.get("roc_auc") is not None:
            m = self.multivariate
            text += f"; domain classifier ROC AUC {m['roc_auc']:.3f}, threshold {m['threshold']:.2f}"
        found = [r.column for r in self._sorted_rows() if r.drifted]
        text += ") — " + (f"drifted: {names_shown(found)}" if found else "no column drifted")
        changed = [r for r in self._sorted_rows() if r.missing_changed and r.method != "missing"]
        if changed:
            text += "; missing values: " + names_shown([f"{r.column} {r.missing_text}" for r in changed])
        for what, rows in (("unseen categories", [r for r in self._sorted_rows() if r.unseen_rate]),
                           ("outside the reference range", [r for r in self._sorted_rows() if r.out_of_range_rate])):
            if rows:
                text += f"; {what}: " + names_shown([f"{r.column} {r.beyond_text}" for r in rows])
        return text + f"; reference: {self.reference}, current: {self.n_current} rows"

    def prediction_summary(self) -> str | None:
        """The verdict on the model's outputs, on its own line (None when they were not tested).

        ``Prediction drift: DRIFT — (prediction) chisquare p=0.001 (threshold 0.05); (confidence) no drift``
        """
        outputs = self.outputs
        if not outputs:
            return None
        if not any(r.tested for r in outputs):
            return f"Prediction drift: not tested — {outputs[0].note}"
        parts = []
        for r in outputs:
            if not r.tested:
                parts.append(f"{r.column} not tested ({r.note})")
            elif r.drifted:
                parts.append(f"{r.column} {_finding(r)}")
            else:
                parts.append(f"{r.column} no drift")
        return f"Prediction drift: {'DRIFT' if self.predictions_drifted else 'none'} — " + "; ".join(parts)

    def headline(self) -> str:
        """The verdict line and, when the model's outputs were tested, the prediction verdict."""
        prediction = self.prediction_summary()
        return self.summary() + (f"\n{prediction}" if prediction else "")

    def _sorted_rows(self) -> list[DriftColumn]:
        def key(r: DriftColumn) -> tuple[bool, bool, float]:
            return (not r.drifted, not r.tested, -_severity(r))
        return sorted(self.rows, key=key)

    def __str__(self) -> str:
        frame = self.to_frame()
        if not len(frame):
            return self.headline() + "\n(no columns)"
        order = [self.rows.index(r) for r in self._sorted_rows()]
        frame = frame.iloc[order]
        frame["drifted"] = frame["drifted"].map({True: "DRIFT", False: ""})
        for col in ("statistic", "p_value", "threshold"):
            frame[col] = frame[col].map(lambda v: "" if v is None or v != v else f"{v:.4g}")
        frame = frame.drop(columns=["missing_reference", "missing_current", "unseen_values", "unseen_rate",
                                    "out_of_range_rate"])
        rows = self._sorted_rows()
        frame.insert(len(frame.columns) - 1, "missing", [_missing_cell(r) + (" !" if r.missing_changed else "")
                                                         for r in rows])
        frame.insert(len(frame.columns) - 1, "unseen/outside", [r.beyond_text for r in rows])
        return self.headline() + "\n" + frame.to_string(index=False)

    def _repr_html_(self) -> str:
        from .render import Cell, Row, render, safe, table

        def row(r: DriftColumn) -> Row:
            tone = "muted" if not r.tested else "bad" if r.drifted else "warn" if r.quality_flagged else "good"
            cells = [r.column, r.type, r.method, _fmt(r.statistic), _fmt(r.p_value), _fmt(r.threshold),
                     "DRIFT" if r.drifted else "", Cell(safe(sparkline(r.plot))),
                     Cell(_missing_cell(r), "font-weight:bold" if r.missing_changed else ""),
                     Cell(r.beyond_text, "font-weight:bold" if r.unseen_rate or r.out_of_range_rate else ""),
                     Cell(r.note or "", "color:#555")]
            return Row(cells, tone=tone, css_class="nbt-drifted" if r.drifted else
                       "nbt-missing-changed" if r.missing_changed else "nbt-quality" if r.quality_flagged else "")

        head = ["column", "type", "method", "statistic", "p-value", "threshold", "drifted",
                "reference / current", "missing (ref → cur)", "unseen / out of range (cur)", "note"]
        return render("drift.html.j2", summary=self.summary(), prediction=self.prediction_summary(),
                      extra_columns=self.extra_columns,
                      table=safe(table(head, [row(r) for r in self._sorted_rows()], css_class="nbt-drift-table")))

    def to_html(self) -> str:
        """A standalone HTML page (tens of KB: the table and inline SVG histograms)."""
        from .render import render, safe

        return render("page.html.j2", title="nbtoolkit drift report", style="",
                      body_style="font-family:sans-serif", body=safe(self._repr_html_()))

    def failure_message(self) -> str:
        lines = [self.headline()]
        for r in self._sorted_rows():
            if r.drifted:
                p = f", p={r.p_value:.3g}" if r.p_value is not None else ""
                lines.append(f"  {r.column}: {r.method}={r.statistic:.4g}{p} (threshold {r.threshold:.3g})")
        return "\n".join(lines)

    # ------------------------------------------------------------------ plots
    def plots(self, columns: list[str] | None = None, *, ncols: int = 2) -> FigureView:
        """Reference vs current charts of ``columns`` (default: the drifted ones) in one figure."""
        from matplotlib.figure import Figure

        if columns is None:  # a column whose current values are all missing has no chart
            columns = [c for c in self.drifted_columns if self.columns[c].plot]
        columns = list(columns) or [r.column for r in self._sorted_rows() if r.plot][:1]
        if not columns:
            raise BadInput("No testable column to plot in this drift report.")
        ncols = min(ncols, len(columns))
        nrows = -(-len(columns) // ncols)
        fig = Figure(figsize=(5.2 * ncols, 3.0 * nrows))
        for i, column in enumerate(columns):
            self.plot(column, ax=fig.add_subplot(nrows, ncols, i + 1))
        fig.tight_layout()
        return FigureView(fig)

    def plot(self, column: str, ax: Any = None) -> Any:
        """Reference vs current histogram (numeric) or bar chart (categories); a matplotlib Figure."""
        if column not in self.columns:
            raise BadInput(f"No column {column!r} in this drift report." + did_you_mean(column, self.columns))
        row = self.columns[column]
        data = row.plot
        if not data:
            raise BadInput(f"Column {column!r} has no chart ({row.note}); there is nothing to plot.")
        from .drift_plots import column_chart

        return column_chart(row, ax)


def names_shown(names: list[str], limit: int = NAMES_SHOWN) -> str:
    """``a, b, c`` — the first ``limit`` names, then ``+N more``."""
    shown = ", ".join(names[:limit])
    return shown + (f" +{len(names) - limit} more" if len(names) > limit else "")


def _missing_cell(r: DriftColumn) -> str:
    """Every row's missing share, reference → current (blank for a column no profile counted)."""
    if r.missing_reference is None or r.missing_current is None:
        return ""
    return f"{r.missing_reference:.1%} → {r.missing_current:.1%}"


def _finding(r: DriftColumn) -> str:
    """What a drifted column's test gave: ``ks p=0.001 (threshold 0.05)``."""
    if r.method == "missing":
        return f"every current value missing (reference: {r.missing_reference or 0:.1%} missing)"
    value = f"p={r.p_value:.3g}" if r.p_value is not None else f"{r.statistic:.4g}"
    return f"{r.method} {value} (threshold {r.threshold:.3g})"


def _severity(row: DriftColumn) -> float:
    """How far past its threshold a column is (for sorting)."""
    if row.statistic is None or not row.threshold:
        return 0.0
    if row.p_value is not None:
        return float(row.threshold) / max(row.p_value, 1e-300)
    return float(row.statistic) / float(row.threshold)
