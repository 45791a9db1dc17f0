"""Shared behaviour of result objects: the text view is the default, HTML in notebooks."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .render import cell_text as _fmt  # the table text of a value (one rule for text and HTML)

if TYPE_CHECKING:
    import pandas as pd


class Result:
    """Base of every result object.

    Subclasses implement :meth:`to_dict` (JSON-safe) and usually :meth:`to_frame`; the text and
    HTML views default to renderings of those.
    """

    title: str = ""

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_frame(self) -> pd.DataFrame:
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
        from .render import result

        return result(self.summary(), tables=[("", html_table(self.to_frame()))])

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython's text view
        p.text(str(self) if not cycle else repr(self))


class Record:
    """Base of the typed rows of results (frozen dataclasses: drift columns, alerts).

    Attributes are the API (``row.drifted``). The rows used to be dicts, so ``row["drifted"]``,
    ``row.get("plot")``, ``keys()`` and ``items()`` still read them (and ``row[key] = value``
    writes a record that is not frozen); :meth:`to_dict` gives the same
    keys in the same order (the JSON of ``--format json`` and of webhooks is unchanged).
    """

    __slots__ = ()

    def keys(self) -> list[str]:
        # mypy checks type[Record] against Hashable through the instances' __hash__ (a false positive)
        return list(_field_names(type(self)))  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.keys()}

    def items(self) -> Any:
        return self.to_dict().items()

    def __getitem__(self, key: str) -> Any:
        if key not in self.keys():
            raise KeyError(key)
        return getattr(self, key)

    def __setitem__(self, key: str, value: Any) -> None:  # a frozen record refuses, as setattr does
        if key not in self.keys():
            raise KeyError(key)
        setattr(self, key, value)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in self.keys() else default

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


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


def html_table(frame: pd.DataFrame, *, row_style: Callable[[pd.Series], str] | None = None,
               tone: Callable[[pd.Series], str] | None = None, css_class: str = "nbt-table",
               max_rows: int = 200) -> str:
    """A frame as the reports' one table (``templates/table.html.j2``, see :func:`.render.frame_table`):
    ``tone(row)`` names a row's meaning (``bad``, ``good``, ...), ``row_style(row) -> css`` styles it."""
    from .render import frame_table

    return frame_table(frame, tone=tone, row_style=row_style, css_class=css_class, max_rows=max_rows)


def text_table(frame: pd.DataFrame) -> str:
    """A frame as an aligned text table: blanks for missing values (never None beside NaN)."""
    return frame.map(_fmt).to_string(index=False)
