"""Drift dashboard (a displayed ``DriftReport``): verdict, sortable table, plot per column.

The table is ``DriftReport.to_frame()`` (column, type, method, statistic, p-value, threshold,
drifted, note), coloured by outcome and sorted by the user's choice (drifted first by default);
the column selector shows ``DriftReport.plot(column)``, reference vs current.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..reports.drift import SKIPPED
from ..reports.render import macro
from ._base import BAD, BAD_BG, FRAGMENTS, MUTED, OK, Composite, figure_png, guarded, html_table

if TYPE_CHECKING:
    import pandas as pd

    from ..reports.drift import DriftColumn, DriftReport

SORTS = {
    "drifted first": None,  # the report's own order: drifted, then by how far past the threshold
    "column": ("column", True),
    "p-value": ("p_value", True),
    "statistic": ("statistic", False),
    "method": ("method", True),
    "type": ("type", True),
}
_OK_BG, _SKIP_BG = "rgba(26, 127, 55, 0.08)", "rgba(110, 119, 129, 0.12)"


class DriftDashboard(Composite):
    """Look at a drift report: which columns drifted, by which test, and how.

    Parameters
    ----------
    report : DriftReport
        What ``nbtoolkit.drift`` / ``%nbt drift`` returned.

    Parts: ``verdict_html``, ``sort_select`` (see :data:`SORTS`), ``reverse_box``, ``table_html``,
    ``column_select`` (columns that have a plot, drifted first), ``figure`` (Image), ``note_html``.
    """

    def __init__(self, report: DriftReport) -> None:
        super().__init__()
        import ipywidgets as W

        self.report = report
        ordered = self._report_order()
        plottable = [r.column for r in ordered if r.plot]

        colour = BAD if report.drifted else OK
        verdict = "DRIFT" if report.drifted else "No drift"
        detail = report.finding() + (f" · {report.prediction_summary()}" if report.prediction_summary() else "")
        self.verdict_html = W.HTML(macro(FRAGMENTS, "drift_verdict", verdict=verdict, detail=detail, colour=colour))
        self.sort_select = W.Dropdown(options=list(SORTS), value="drifted first", description="Sort by",
                                      layout=W.Layout(width="220px"))
        self.reverse_box = W.Checkbox(value=False, description="reverse", indent=False,
                                      layout=W.Layout(width="90px"))
        self.table_html = W.HTML()
        self.table_html.add_class("nbt-drift-table")
        self.column_select = W.Dropdown(options=plottable, value=plottable[0] if plottable else None,
                                        description="Column", layout=W.Layout(width="260px"))
        self.figure = W.Image(format="png", layout=W.Layout(max_width="560px"))
        self.note_html = W.HTML()

        self.widget = W.VBox([
            self.verdict_html,
            W.HBox([self.sort_select, self.reverse_box]),
            self.table_html,
            self.column_select,
            self.figure,
            self.note_html,
        ])
        self.widget.add_class("nbt-drift-dashboard")

        self.sort_select.observe(lambda _: self.render_table(), names="value")
        self.reverse_box.observe(lambda _: self.render_table(), names="value")
        self.column_select.observe(lambda change: self.show_column(change["new"]), names="value")
        self.render_table()
        self.show_column(self.column_select.value)

    def _report_order(self) -> list[DriftColumn]:
        order = getattr(self.report, "_sorted_rows", None)
        if callable(order):
            return list(order())
        return sorted(self.report.rows, key=lambda r: (not r.drifted, not r.tested))

    def rows(self) -> list[DriftColumn]:
        """The report's rows in the order the table shows them."""
        choice = SORTS[self.sort_select.value]
        if choice is None:
            rows = self._report_order()
        else:
            key, _ascending = choice
            # NaN != NaN: a missing statistic sorts last, like None
            present = [r for r in self.report.rows
                       if getattr(r, key) is not None and getattr(r, key) == getattr(r, key)]
            absent = [r for r in self.report.rows if r not in present]
            rows = sorted(present, key=lambda r: getattr(r, key), reverse=not _ascending) + absent
        return rows[::-1] if self.reverse_box.value else rows

    def render_table(self) -> None:
        import pandas as pd

        from ..reports.drift import FRAME_COLUMNS

        rows = self.rows()
        frame = pd.DataFrame([{k: getattr(r, k) for k in FRAME_COLUMNS} for r in rows], columns=FRAME_COLUMNS)
        frame["drifted"] = frame["drifted"].map({True: "DRIFT", False: ""})
        frame = frame.rename(columns={"p_value": "p-value"})

        def tone(row: pd.Series) -> str:
            return "muted" if row["method"] == SKIPPED else "bad" if row["drifted"] else "good"

        styles = {"muted": f"background:{_SKIP_BG};color:{MUTED}", "bad": f"background:{BAD_BG};font-weight:bold",
                  "good": f"background:{_OK_BG}"}  # theme-aware colours of the tones
        self.table_html.value = (macro(FRAGMENTS, "drift_rows_style")
                                 + html_table(frame, css_class="nbt-drift-rows", tone=tone,
                                              row_style=lambda row: styles[tone(row)]))

    def show_column(self, column: str | None) -> None:
        """Show the reference-vs-current plot of ``column``."""
        if column is None:
            self.figure.value = b""
            self.note_html.value = macro(FRAGMENTS, "muted", text="No column has a plot.", colour=MUTED)
            return
        row = self.report.columns[column]
        self.note_html.value = macro(FRAGMENTS, "column_note", column=column, type=row.type, method=row.method,
                                     note=row.note or "", colour=MUTED)
        guarded(self.note_html, lambda: self._draw(column))

    def _draw(self, column: str) -> str:
        self.figure.value = figure_png(self.report.plot(column))
        return self.note_html.value


def drift_dashboard(report: DriftReport) -> DriftDashboard:
    """A :class:`DriftDashboard` for a ``DriftReport``."""
    return DriftDashboard(report)
