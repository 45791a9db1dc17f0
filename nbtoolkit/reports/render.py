"""HTML and SVG of the results, from the Jinja2 templates in ``reports/templates/``.

Autoescape is on: column names, categories and messages come from user data, so a column named
``<script>`` is shown, never run. Jinja2 is imported on the first render (``import nbtoolkit``
and ``%load_ext nbtoolkit`` stay light). One table template serves every report and widget:
a row carries a *tone* (its meaning: ``bad``, ``good``, ``warn``, ``muted``, ``info``) shown as the
class ``nbt-<tone>`` and, unless the caller styles the row itself, the tone's background.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

# The background each tone gets in the reports (widgets pass their own theme-aware colours).
TONES = {"bad": "background:#fde0dc", "good": "background:#e6f4ea", "warn": "background:#fef7e0",
         "muted": "background:#f1f3f4", "info": "background:#e8f0fe", "neutral": "background:#fff6d5",
         "faint": "color:#888"}
TEXT = {"good": "#1e8e3e", "bad": "#d93025"}  # verdict text colours


@dataclass(frozen=True)
class Cell:
    """One table cell: its text (escaped) or :func:`safe` markup, and extra CSS."""

    value: Any
    style: str = ""


@dataclass(frozen=True)
class Row:
    """One table row: its cells, its tone (``nbt-<tone>`` class) and CSS (default: the tone's)."""

    cells: Sequence[Any]
    tone: str = ""
    style: str | None = None
    css_class: str = ""

    def css(self) -> str:
        return TONES.get(self.tone, "") if self.style is None else self.style

    def classes(self) -> str:
        return " ".join(c for c in (self.css_class, f"nbt-{self.tone}" if self.tone else "") if c)

    def as_cells(self) -> list[Cell]:
        return [c if isinstance(c, Cell) else Cell(c) for c in self.cells]


@functools.lru_cache(maxsize=1)
def environment() -> Any:
    """The Jinja2 environment over the package's templates (built once, on first use)."""
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("nbtoolkit.reports", "templates"),
                              autoescape=True, trim_blocks=True, lstrip_blocks=True,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=False,
                              auto_reload=False)  # shipped files: no stat() per render


def render(template: str, **context: Any) -> str:
    """``template`` (a file name under ``reports/templates/``) rendered with ``context``."""
    return environment().get_template(template).render(**context)


def safe(markup: str) -> Any:
    """HTML built by another template, to be embedded as is (not escaped again)."""
    from markupsafe import Markup

    return Markup(markup)


def table(head: Sequence[str] | None, rows: Iterable[Row], *, css_class: str = "nbt-table",
          font: str = "12px", more: int = 0) -> str:
    """The one table of the reports and widgets: ``head`` (or none), then ``rows``."""
    # plain tuples: attribute lookups inside a template cost more than here
    shown = [(r.classes(), r.css(), [(c.style, c.value) for c in r.as_cells()]) for r in rows]
    return render("table.html.j2", head=head, rows=shown, css_class=css_class, font=font, more=more)


def frame_table(frame: pd.DataFrame, *, tone: Callable[[pd.Series], str] | None = None,
                row_style: Callable[[pd.Series], str] | None = None, css_class: str = "nbt-table",
                max_rows: int = 200) -> str:
    """A DataFrame as :func:`table`: cells formatted by :func:`cell_text`; ``tone(row)`` names a
    row's meaning, ``row_style(row)`` gives its CSS (else the tone's)."""
    rows = []
    for _, row in frame.head(max_rows).iterrows():
        rows.append(Row([cell_text(v) for v in row.tolist()], tone=tone(row) if tone else "",
                        style=row_style(row) if row_style else None))
    return table([str(c) for c in frame.columns], rows, css_class=css_class,
                 more=max(len(frame) - max_rows, 0))


def result(summary: str, *, tables: Sequence[tuple[str, str]] = (), notes: Sequence[str] = (),
           tone: str = "", detail: str = "", colour: str = "", after: str = "") -> str:
    """A result's HTML: the summary line (toned, or coloured text), ``(title, table html)`` pairs,
    italic notes, and ``after`` (trusted HTML built by another template)."""
    return render("result.html.j2", summary=summary, detail=detail, tone=tone, tone_style=TONES.get(tone, ""),
                  colour=colour, tables=[(title, safe(html)) for title, html in tables], notes=list(notes),
                  after=safe(after))


def cell_text(value: Any) -> str:
    """A value as table text: blanks for missing values, integers without ``.0``, 4 significant digits."""
    if isinstance(value, float):
        if value != value:  # NaN: not measured
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.1f}"
    if value is None or str(value) in ("<NA>", "NaT"):
        return ""
    return str(value)


def macro(template: str, name: str, /, **context: Any) -> str:
    """One macro of ``template`` (a file of small named fragments, e.g. the widgets' labels)."""
    return str(getattr(environment().get_template(template).module, name)(**context))
