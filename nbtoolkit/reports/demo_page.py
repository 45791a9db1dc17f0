"""The blocks of the demo's HTML page (``python -m nbtoolkit.demo``): facts, tables, figures and
the number formats they use. Rendering only — what to show is chosen in :mod:`nbtoolkit.demo`.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def html(markup: str) -> tuple[str, Any]:
    """A report's own HTML (already escaped by its template), shown as is."""
    from .render import safe

    return ("html", safe(markup))


def alert_groups(alerts: Sequence[Any]) -> list[dict[str, Any]]:
    """Fired alerts (:class:`~nbtoolkit.reports.monitoring.Alert`) grouped by rule, in the order
    the rules first fired: ``rule``, ``metric``, ``count`` (windows), ``first`` / ``last`` window
    start, ``low`` / ``high`` value."""
    groups: dict[str, dict[str, Any]] = {}
    for alert in sorted(alerts, key=lambda a: str(a.window_start)):
        value = alert.value
        group = groups.setdefault(alert.rule, {"rule": alert.rule, "metric": alert.metric, "count": 0,
                                               "first": alert.window_start, "last": None,
                                               "low": value, "high": value})
        group["count"] += 1
        group["last"] = alert.window_start
        if isinstance(value, (int, float)):
            group["low"] = value if not isinstance(group["low"], (int, float)) else min(group["low"], value)
            group["high"] = value if not isinstance(group["high"], (int, float)) else max(group["high"], value)
    return list(groups.values())


def alerts_table(groups: list[dict[str, Any]]) -> Any:
    from .render import Row, safe, table

    rows = []
    for g in groups:
        values = num(g["low"]) if g["low"] == g["high"] else f"{num(g['low'])} to {num(g['high'])}"
        rows.append(Row([g["rule"], g["count"], day(g["first"]), day(g["last"]), f"{g['metric']} {values}"],
                        tone="bad", css_class="nbt-alert-rule"))
    return safe(table(["rule", "windows", "first window", "last window", "values when it fired"], rows))


def windows_table(frame: pd.DataFrame) -> Any:
    """The monitoring windows, narrow enough for the page (the full frame is MonitorReport.to_frame())."""
    from .render import Row, cell_text, safe, table

    def band(r: pd.Series) -> str:
        low, high = r.get("estimated_accuracy_lower"), r.get("estimated_accuracy_upper")
        if low is None or high is None or low != low or high != high:
            return ""
        return f"{fixed(low)}–{fixed(high)}"

    rows = [Row([day(r["window_start"]), cell_text(r["volume"]), cell_text(r["labeled"]), fixed(r["accuracy"]),
                 fixed(r["estimated_accuracy"]), band(r), fixed(r["human_share"]), fixed(r["mean_confidence"]),
                 fixed(r["drift_share"]), cell_text(r["drifted_columns"]), cell_text(r["alerts"])],
                tone="bad" if r["alerts"] else "")
            for _, r in frame.iterrows()]
    return safe(table(["window", "predictions", "labelled", "accuracy", "estimated", "band", "to humans",
                       "confidence", "drift share", "drifted columns", "alerts"], rows))


def metrics_table(metrics: dict[str, float]) -> Any:
    """A version's metrics as one row per data set (``test.accuracy`` -> row test, column
    accuracy; a metric given at register has no data set)."""
    from .render import Row, safe, table

    by_data: dict[str, dict[str, float]] = {}
    for key, value in metrics.items():
        data, _, metric = key.rpartition(".")
        by_data.setdefault(data or "given at register", {})[metric] = value
    names = sorted({m for row in by_data.values() for m in row})
    rows = [Row([data] + [num(row.get(m)) or "" for m in names]) for data, row in sorted(by_data.items())]
    return safe(table(["measured on", *names], rows, css_class="nbt-table nbt-champion-metrics"))


def image(path: str | None, alt: str) -> tuple[str, Any]:
    return ("image", (base64.b64encode(Path(str(path)).read_bytes()).decode(), alt))


def read_text(path: str | None) -> str:
    return Path(str(path)).read_text(encoding="utf-8")


def facts(items: list[tuple[str, Any]]) -> tuple[str, Any]:
    """Label / value pairs (values in bold) as the shared table; missing values left out."""
    from .render import Cell, Row, safe, table

    return ("html", safe(table(None, [Row([k, Cell(str(v), "font-weight:bold")], style="")
                                      for k, v in items if v is not None])))


def day(value: Any) -> str:
    """A window start as its day (``2026-02-03``), or day and time when it is not midnight."""
    text = str(value).replace("T", " ")
    return text[:10] if text[10:].strip() in ("", "00:00:00", "00:00") else text[:16]


def fixed(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    try:
        return f"{float(value):.3f}"
    except (TypeError, ValueError):
        return str(value)


def num(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return str(value)


def pct(value: Any) -> str | None:
    return None if value is None else f"{float(value):.1%}"
