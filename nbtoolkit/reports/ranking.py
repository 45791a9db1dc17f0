"""Result of :func:`nbtoolkit.rank`: the drifting columns in the order they matter."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .base import Result, html_table, plain

COLUMNS = ["rank", "column", "method", "alerts", "chunks", "drifted", "correlation", "p_value"]


@dataclass(repr=False)  # keep Result._repr_pretty_ (text view) in IPython
class DriftRanking(Result):
    """Columns ranked by their drift alerts (``by="alerts"``) or by the correlation of their drift
    statistic with the performance change (``by="correlation"``, with an estimate or realised values).

    ``.columns`` lists them in rank order; ``.to_frame()`` has one row per column.
    """

    rows: list[dict[str, Any]]
    by: str
    metric: str | None = None
    performance: str | None = None  # "estimate" or "realised"
    reference_value: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return [r["column"] for r in self.rows]

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame([{c: r.get(c) for c in COLUMNS} for r in self.rows], columns=COLUMNS)

    def to_dict(self) -> dict[str, Any]:
        return {"by": self.by, "metric": self.metric, "performance": self.performance,
                "reference_value": plain(self.reference_value), "notes": self.notes, "columns": self.columns,
                "rows": [{k: plain(v) for k, v in r.items()} for r in self.rows]}

    def summary(self) -> str:
        drifted = [r["column"] for r in self.rows if r["drifted"]]
        if self.by == "correlation":
            how = (f"by the correlation of each column's drift statistic with the change in {self.performance} "
                   f"{self.metric} (from the reference's {plain(self.reference_value):.4g})")
        else:
            how = "by the number of chunks in which each column drifted"
        top = ", ".join(self.columns[:3]) + (" ..." if len(self.rows) > 3 else "")
        return (f"{len(self.rows)} column(s) ranked {how}; {len(drifted)} drifted"
                + (f" — first: {top}" if self.rows else ""))

    def __str__(self) -> str:
        lines = [self.summary()]
        if self.rows:
            lines.append(self.to_frame().to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from .render import result

        return result(self.summary(), tables=[("", html_table(self.to_frame(),
                                                              tone=lambda r: "bad" if r["drifted"] else ""))],
                      notes=[f"note: {n}" for n in self.notes])
