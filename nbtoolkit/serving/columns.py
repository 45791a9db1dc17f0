"""Request values checked against a version's input columns (its MLflow signature).

:func:`check_signature` takes the columns a body was parsed into (:mod:`.protocol`) and checks each
value against its column's type: a missing column, a value of the wrong type, Infinity or a value
nested past :data:`MAX_DEPTH` is a :class:`BadRequest` naming the column and row. A value no type
pins is only refused when nothing could take it. Pure Python: no pandas.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# MLflow ColSpec types -> (check, what to call it in a message)
_NUMBER = "a number"
_KINDS = {
    "double": _NUMBER, "float": _NUMBER, "long": "an integer", "integer": "an integer",
    "string": "a string", "boolean": "true or false", "datetime": "a date/time string",
    "binary": "a string",
}


class BadRequest(ValueError):
    """A request the server refuses with HTTP ``status`` and one sentence (nothing is logged)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Column:
    """One input column of a version's signature."""

    name: str
    type: str | None = None  # MLflow type name (double, long, string, ...); None: anything
    required: bool = True


MAX_DEPTH = 32  # nesting a request value may have (scalars have none; MLflow's array columns a few)
_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother, _SHORT.maxlist, _SHORT.maxdict = 2, 60, 60, 4, 4


def short(value: Any) -> str:
    """``repr(value)`` cut short, also for a large or deeply nested list (repr would build it all)."""
    return _SHORT.repr(value)


def _depth(value: Any) -> int:
    """How deeply ``value`` nests lists / dicts (0 for a scalar), counted without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (list, dict)):
            if d + 1 > MAX_DEPTH:
                return d + 1
            deepest = max(deepest, d + 1)
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return deepest


class _Missing:
    """A record without this key (reported as a missing value, with its row)."""

    def __init__(self, row: int) -> None:
        self.row = row

    def __repr__(self) -> str:
        return "<missing>"


def signature_columns(inputs: list[dict[str, Any]] | None) -> list[Column] | None:
    """The input columns of a version's MLmodel signature (its ``inputs`` specs, as
    :func:`nbtoolkit.registry.loading.signature_inputs` reads them); None without named inputs."""
    if not inputs or not all(isinstance(spec, dict) and spec.get("name") is not None for spec in inputs):
        return None
    cols = []
    for spec in inputs:
        kind = spec.get("type")
        cols.append(Column(str(spec["name"]), kind if isinstance(kind, str) and kind in _KINDS else None,
                           bool(spec.get("required", True))))
    return cols


def check_signature(columns: list[str], values: dict[str, list[Any]], n: int,
                     signature: Sequence[Column]) -> tuple[list[str], dict[str, list[Any]]]:
    expected = [c.name for c in signature]
    out: dict[str, list[Any]] = {}
    for col in signature:
        if col.name not in values:
            if col.required:
                raise BadRequest(f"Missing column {col.name!r}; the model expects "
                                 f"{', '.join(expected)}.")
            out[col.name] = [None] * n
            continue
        out[col.name] = _check_values(col, values[col.name])
    return expected, out


def _check_values(col: Column, vals: list[Any]) -> list[Any]:
    kind = col.type
    for i, v in enumerate(vals):
        if isinstance(v, _Missing) or v is None or (isinstance(v, float) and v != v):
            if col.required and kind not in ("double", "float"):
                raise BadRequest(f"Column {col.name!r} has no value in row {i}; the model needs "
                                 f"{_KINDS.get(kind or '', 'a value')} there.")
            if isinstance(v, _Missing):
                vals = [None if isinstance(x, _Missing) else x for x in vals]
            continue
        if kind is None:
            _check_free(col.name, i, v)
            continue
        if _ok(kind, v):
            continue
        _check_free(col.name, i, v)  # Infinity, or nesting too deep to show, said as such
        raise BadRequest(f"Column {col.name!r} must be {_KINDS.get(kind, kind)} ({kind}); row {i} has {short(v)}.")
    return vals


def _check_free(column: str, row: int, v: Any) -> None:
    """A value no type pins: refuse only what nothing can take (Infinity; nesting past MAX_DEPTH)."""
    if isinstance(v, float):
        if v in (math.inf, -math.inf):
            raise BadRequest(f"Column {column!r} has {'-' if v < 0 else ''}Infinity in row {row}; send finite "
                             "numbers (null for a missing value).")
    elif isinstance(v, (list, dict)) and _depth(v) > MAX_DEPTH:
        raise BadRequest(f"Column {column!r} has a value nested more than {MAX_DEPTH} levels deep in row {row}; "
                         "send scalars (or shallow arrays).")


def _ok(kind: str, v: Any) -> bool:
    if kind in ("double", "float"):  # NaN is a missing value (checked before); Infinity is refused
        return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v - v == 0.0)
    if kind in ("long", "integer"):
        return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())
    if kind in ("string", "binary", "datetime"):
        return isinstance(v, str)
    if kind == "boolean":
        return isinstance(v, bool)
    return True
