"""Per-slice metrics: the same metrics on each value of a column (numeric columns in quantiles)."""

from __future__ import annotations

from typing import Any

from ..errors import BadInput, did_you_mean
from . import metrics as M
from .inputs import Predictions, _py

MAX_LEVELS = 20   # a numeric column with more distinct values than this is binned
QUANTILES = 4
MISSING = "<missing>"


def slice_values(X: Any, column: Any, n: int) -> tuple[str, Any]:
    """The column to slice by: a column name of X, or a Series/array of length n."""
    import numpy as np
    import pandas as pd

    if isinstance(column, str):
        if not isinstance(X, pd.DataFrame):
            raise BadInput(f"Cannot slice by column {column!r}: X is an array without column names; "
                           "pass X as a DataFrame or the slice values as an array.")
        if column not in X.columns:
            raise BadInput(f"Slice column {column!r} is not a column of X; slice by any of its columns "
                           f"(model inputs or not).{did_you_mean(column, map(str, X.columns), what='Columns')}"
                           + _columns_shown(X, column))
        from ..contract import check_unique_columns

        check_unique_columns(X, "X")  # X[column] is then one column
        return column, X[column]
    values = column if isinstance(column, pd.Series) else pd.Series(np.asarray(column))
    if len(values) != n:
        raise BadInput(f"Slice values have {len(values)} entries but X has {n} rows.")
    return str(values.name) if values.name is not None else "slice", values


def _columns_shown(X: Any, column: str) -> str:
    """The frame's columns, when did_you_mean found a close match and did not list them."""
    from ..errors import ECHO_LIMIT

    known = sorted(str(c) for c in X.columns)
    if did_you_mean(column, known).startswith(" Known"):
        return ""
    shown = ", ".join(k if len(k) <= ECHO_LIMIT else k[:ECHO_LIMIT - 3] + "..." for k in known[:12])
    return f" Columns: {shown}{', ...' if len(known) > 12 else ''}."


def slice_labels(name: str, values: Any) -> Any:
    """One label per row: the value itself, or its quantile bin for a many-valued number column."""
    import pandas as pd

    s = pd.Series(values).reset_index(drop=True)
    numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
    if numeric and s.nunique(dropna=True) > MAX_LEVELS:
        binned = pd.qcut(s, QUANTILES, duplicates="drop")
        names = [f"({i.left:.4g}, {i.right:.4g}]" for i in binned.cat.categories]
        names[0] = "[" + f"{s.min():.4g}" + names[0][names[0].index(","):]  # qcut widens the first bin
        labels = binned.cat.rename_categories(names)
        if s.isna().any():
            labels = labels.cat.add_categories([MISSING]).fillna(MISSING)
    else:
        labels = s.astype(object).where(s.notna(), MISSING)
    levels = pd.unique(labels)
    if len(levels) < 2:
        raise BadInput(
            f"Slice column {name!r} has a single value ({levels[0]!r} in all {len(s)} rows); slicing "
            "by it shows nothing — pick a column with at least two values."
        )
    return labels


def prepare(X: Any, columns: list[Any]) -> list[tuple[str, Any]]:
    """``(name, one label per row)`` for each slice column; checks them all (before predicting)."""
    n = len(X) if hasattr(X, "__len__") else 0
    return [(name, slice_labels(name, values)) for name, values in
            (slice_values(X, column, n) for column in columns)]


def slice_table(p: Predictions, prepared: list[tuple[str, Any]],
                names: list[str] | None = None) -> list[dict[str, Any]]:
    """Rows ``{column, value, n, share, <metrics>..., worst}``; the worst slice per column flagged."""
    import numpy as np

    primary = M.PRIMARY[p.task]
    slice_metrics = names or _slice_default(p)
    if primary not in slice_metrics:
        slice_metrics = [primary, *slice_metrics]
    rows: list[dict[str, Any]] = []
    for name, labels in prepared:
        try:
            codes, levels = labels.factorize(sort=True)
        except TypeError:  # mixed label types do not sort
            codes, levels = labels.factorize()
        group_rows = []
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(levels) + 1))
        for i, level in enumerate(levels):
            take = order[bounds[i]:bounds[i + 1]]
            sub = p.take(take)
            row = {"column": name, "value": _py(level), "n": len(take),
                   "share": float(len(take) / p.n)}
            row.update(M.compute(sub, slice_metrics))
            group_rows.append(row)
        _flag_worst(group_rows, primary)
        rows.extend(group_rows)
    return rows


def _slice_default(p: Predictions) -> list[str]:
    if p.task == "regression":
        return ["mae", "rmse", "r2"]
    return ["accuracy", "balanced_accuracy", "f1_macro"]


def _flag_worst(rows: list[dict[str, Any]], primary: str) -> None:
    higher = M.METRICS[primary].higher_is_better
    scored = [r for r in rows if r.get(primary) is not None]
    worst = (min if higher else max)(scored, key=lambda r: r[primary]) if scored else None
    for r in rows:
        r["worst"] = r is worst
