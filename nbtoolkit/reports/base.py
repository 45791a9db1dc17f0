"""Shared behaviour of result objects: the text view is the default, HTML in notebooks."""

from __future__ import annotations

import html
import json
from typing import Any


class Result:
    """Base of every result object.

    Subclasses implement :meth:`to_dict` (JSON-safe) and usually :meth:`to_frame`; the text and
    HTML views default to renderings of those.
    """

    title: str = ""

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame([self.to_dict()])

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), default=json_default, **kwargs)

    def summary(self) -> str:
        """One line for the header of the text and HTML views."""
        return self.title

    def __str__(self) -> str:
        frame = self.to_frame()
        head = self.summary()
        body = text_table(frame) if len(frame) else "(empty)"
        return f"{head}\n{body}" if head else body

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.summary()}>"

    def _repr_html_(self) -> str:
        head = f"<p><b>{html.escape(self.summary())}</b></p>" if self.summary() else ""
        return head + html_table(self.to_frame())

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython's text view
        p.text(str(self) if not cycle else repr(self))


def json_default(value: Any) -> Any:
    """JSON for what ``json`` does not know: numpy scalars stay numbers, datetimes ISO text."""
    if getattr(value, "ndim", 0) and hasattr(value, "tolist"):
        return value.tolist()  # numpy array
    if hasattr(value, "item") and callable(value.item):
        return value.item()  # numpy scalar -> int / float / bool
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def plain(value: Any) -> Any:
    """A table cell as plain JSON: NaN as None, timestamps as ISO text, numpy scalars as numbers."""
    if isinstance(value, float) and value != value:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


def html_table(frame: Any, *, row_style: Any = None, max_rows: int = 200) -> str:
    """A small, dependency-free HTML table; ``row_style(row) -> css`` colours rows."""
    cols = [str(c) for c in frame.columns]
    parts = [
        '<table class="nbt-table" style="border-collapse:collapse;font-size:12px">',
        "<thead><tr>",
        *(f'<th style="text-align:left;padding:2px 8px;border-bottom:1px solid #999">'
          f"{html.escape(c)}</th>" for c in cols),
        "</tr></thead><tbody>",
    ]
    for _, row in frame.head(max_rows).iterrows():
        style = row_style(row) if row_style else ""
        parts.append(f'<tr style="{style}">')
        for value in row.tolist():
            parts.append(f'<td style="padding:2px 8px">{html.escape(_fmt(value))}</td>')
        parts.append("</tr>")
    parts.append("</tbody></table>")
    if len(frame) > max_rows:
        parts.append(f"<p>... {len(frame) - max_rows} more rows</p>")
    return "".join(parts)


def text_table(frame: Any) -> str:
    """A frame as an aligned text table: blanks for missing values (never None beside NaN)."""
    return frame.map(_fmt).to_string(index=False)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN: not measured
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.1f}"
    if value is None or str(value) in ("<NA>", "NaT"):
        return ""
    return str(value)
