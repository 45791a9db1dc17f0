"""The data contract's checks: one rule function per check, each returning the issues it found.

:meth:`Contract.check <nbtoolkit.contract.Contract.check>` runs them in order on a frame: the
frame's shape (duplicated columns, row count, missing and extra columns), then per column (kind,
dtype, nulls, numeric range and inf, unseen categories), then freshness. An issue is a dict naming
the column, the check, what was expected and what was observed, and its severity (``error`` or
``warning``); the :class:`~nbtoolkit.reports.data.ValidationReport` shows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

Issue = dict[str, Any]


def issue(column: str, check: str, expected: Any, observed: Any, severity: str = "error") -> Issue:
    return {"column": column, "check": check, "severity": severity, "expected": expected, "observed": observed}


# ------------------------------------------------------------------------------ the frame
def duplicated_columns(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[Issue]]:
    """The frame without repeated column names (the first of each kept), and the issue if any."""
    if not frame.columns.duplicated().any():
        return frame, []
    dup = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    found = [issue(", ".join(dup), "duplicated columns", "unique column names", f"{len(dup)} duplicated")]
    return frame.loc[:, ~frame.columns.duplicated()], found


def row_count(min_rows: int, frame: pd.DataFrame) -> list[Issue]:
    if len(frame) >= min_rows:
        return []
    return [issue("", "empty frame" if len(frame) == 0 else "row count", f">= {min_rows} rows", f"{len(frame)} rows")]


def missing_and_extra_columns(columns: Mapping[str, Any], frame: pd.DataFrame,
                              observed: Mapping[str, Any]) -> list[Issue]:
    """``observed``: the frame's column names as text -> the frame's own labels."""
    found = [issue(name, "missing column", "present", "absent") for name in columns if name not in observed]
    found += [issue(name, "extra column", "absent", str(frame[column].dtype), "warning")
              for name, column in observed.items() if name not in columns]
    return found


# ------------------------------------------------------------------------------ one column
def column_rules(name: str, s: pd.Series, kind: str, expected: Mapping[str, Any], *,
                 null_tolerance: float, range_tolerance: float) -> list[Issue]:
    """The checks of one present column of kind ``kind`` (contract.column_kind): its kind first (a
    wrong kind stops there), then dtype, nulls, and the numeric or categorical rule."""
    wrong = kind_rule(name, s, kind, expected)
    if wrong:
        return wrong
    found = dtype_rule(name, s, expected) + nulls_rule(name, s, expected, null_tolerance)
    if kind == "numeric":
        found += numeric_rule(name, s, expected, range_tolerance)
    elif "categories" in expected:
        found += categories_rule(name, s, expected)
    return found


def kind_rule(name: str, s: pd.Series, kind: str, expected: Mapping[str, Any]) -> list[Issue]:
    """Mixed Python types in one column, or a kind other than the contract's (e.g. text for numbers)."""
    if kind == "mixed":
        types = sorted({type(v).__name__ for v in s.dropna().head(1000)})
        return [issue(name, "mixed types", expected["kind"], f"object of {', '.join(types)}")]
    want = "categorical" if expected["kind"] == "text" else expected["kind"]
    if kind != want and not (want == "categorical" and kind == "boolean"):
        return [issue(name, "dtype", f"{expected['kind']} ({expected['dtype']})", f"{kind} ({s.dtype})")]
    return []


def dtype_rule(name: str, s: pd.Series, expected: Mapping[str, Any]) -> list[Issue]:
    """The same kind in another dtype (int32 for int64): a warning."""
    if str(s.dtype) == expected["dtype"]:
        return []
    return [issue(name, "dtype", expected["dtype"], str(s.dtype), "warning")]


def nulls_rule(name: str, s: pd.Series, expected: Mapping[str, Any], null_tolerance: float) -> list[Issue]:
    null_rate = float(s.isna().mean())
    if null_rate == 1.0:
        return [issue(name, "all null", f"null rate {expected['null_rate']:.1%}", "every value is null")]
    if not expected["nullable"] and null_rate > 0:
        return [issue(name, "nulls", "no nulls", f"{int(s.isna().sum())} nulls ({null_rate:.1%})")]
    if null_rate > expected["null_rate"] + null_tolerance:
        return [issue(name, "null rate", f"<= {expected['null_rate'] + null_tolerance:.1%}", f"{null_rate:.1%}")]
    return []


def numeric_rule(name: str, s: pd.Series, expected: Mapping[str, Any], range_tolerance: float) -> list[Issue]:
    """inf values, and values outside the contract's [min, max] widened by ``range_tolerance``."""
    import numpy as np

    found = []
    values = s.to_numpy(dtype="float64", na_value=np.nan)
    n_inf = int(np.isinf(values).sum())
    if n_inf:
        found.append(issue(name, "inf", "finite values", f"{n_inf} inf"))
    lo, hi = expected.get("min"), expected.get("max")
    if lo is None or hi is None:
        return found
    margin = range_tolerance * (hi - lo)
    finite = values[np.isfinite(values)]
    outside = int(((finite < lo - margin) | (finite > hi + margin)).sum())
    if outside:
        # A few new extremes are normal in a fresh sample: an error when more than 1% of the
        # values are outside, or any is a full span beyond the range.
        span = (hi - lo) or abs(hi) or 1.0
        gross = finite.min() < lo - span or finite.max() > hi + span
        found.append(issue(name, "out of range", f"[{lo:.6g}, {hi:.6g}]",
                           f"{outside} values in [{finite.min():.6g}, {finite.max():.6g}]",
                           "error" if gross or outside > 0.01 * len(finite) else "warning"))
    return found


def categories_rule(name: str, s: pd.Series, expected: Mapping[str, Any]) -> list[Issue]:
    known = set(expected["categories"])
    counts = s.dropna().astype(str).value_counts()
    unseen = [c for c in counts.index if c not in known]
    if not unseen:
        return []
    shown = ", ".join(repr(c) for c in unseen[:5]) + (", ..." if len(unseen) > 5 else "")
    return [issue(name, "unseen categories", f"{len(known)} known categories",
                  f"{len(unseen)} new ({shown}) in {int(counts[unseen].sum())} rows")]


# ------------------------------------------------------------------------------ freshness
def freshness(s: pd.Series, rule: Mapping[str, str], now: Any) -> list[Issue]:
    """The newest timestamp of ``s`` is within ``rule["max_age"]`` of ``now`` (default: now, UTC)."""
    import pandas as pd

    newest = s.max()
    if pd.isna(newest):
        return [issue(rule["column"], "freshness", f"newest within {rule['max_age']}", "no timestamps")]
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    newest = pd.Timestamp(newest)
    if newest.tzinfo is None:  # naive timestamps are taken as UTC
        now = now.tz_convert("UTC").tz_localize(None) if now.tzinfo else now
    elif now.tzinfo is None:
        now = now.tz_localize("UTC")
    age = now - newest
    if age > pd.Timedelta(rule["max_age"]):
        return [issue(rule["column"], "freshness", f"newest within {rule['max_age']}",
                      f"newest {newest} is {age} old")]
    return []
