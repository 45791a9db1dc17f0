"""Frames, fingerprints, one vocabulary of column kinds, and the data contract (:class:`Contract`).

The data model: it knows no model version (:func:`nbtoolkit.conformance.validate` fetches a
version's stored contract and checks a frame against it). Imports pandas/numpy lazily: the
registry imports this module, ``%load_ext`` does not.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

from .errors import Arg, BadInput, did_you_mean, say

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .reports.data import ValidationReport

_NAMED_LIKE_ID = re.compile(r"(^|[_\W])(id|uuid|guid|key|index|idx|timestamp|time|date|datetime|ts)($|[_\W])",
                            re.IGNORECASE)
UNIQUE_SHARE = 0.95  # distinct values per row above which whole numbers or text identify the rows


def identifier_reason(values: pd.Series, name: object = None, *, distinct: int | None = None) -> str | None:
    """Why a column would tell one period of data from another by itself, so that a model comparing
    periods (a domain classifier, a loss model) must not use it — or None.

    ``values`` is the reference, or the reference then the analysis. The reasons, in this order:
    ``"a datetime"``; ``"monotonic over the reference then the analysis"`` (numbers running one way);
    ``"unique per row"`` (whole numbers or text, at least 95 % distinct); ``"named like an
    identifier or a time"`` (``id``, ``key``, ``ts``, ``date`` ... as a word of ``name``).
    ``distinct``: the number of distinct present values, when the caller has counted them already.
    """
    import numpy as np
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(values.dtype) or pd.api.types.is_timedelta64_dtype(values.dtype):
        return "a datetime"
    present = values.dropna()
    if len(present) >= 20 and not pd.api.types.is_bool_dtype(values.dtype):
        numeric = pd.api.types.is_numeric_dtype(values.dtype)
        if numeric:
            steps = np.diff(present.to_numpy(dtype="float64"))
            if (bool(np.all(steps >= 0)) or bool(np.all(steps <= 0))) and np.count_nonzero(steps) >= 2:
                return "monotonic over the reference then the analysis"
        if (not numeric or pd.api.types.is_integer_dtype(values.dtype)) \
                and (present.nunique() if distinct is None else distinct) >= UNIQUE_SHARE * len(present):
            return "unique per row"
    if name is not None and _NAMED_LIKE_ID.search(str(name)):
        return "named like an identifier or a time"
    return None


def as_frame(data: Any, *, what: str = "data", duplicates: bool = False) -> pd.DataFrame:
    """Return ``data`` as a pandas DataFrame (Series/ndarray/list accepted), or raise BadInput.

    A column name given twice is refused (``frame[name]`` would be a frame, not a column) unless
    ``duplicates=True``: the data contract reports it as an issue instead.
    """
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        frame = data
    elif isinstance(data, pd.Series):
        frame = data.to_frame(name=data.name if data.name is not None else "value")
    elif isinstance(data, (np.ndarray, list, tuple)):
        arr = np.asarray(data)
        if arr.ndim == 1:
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2:
            raise BadInput(f"{what} must be 2-dimensional, got an array of shape {arr.shape!r}.")
        frame = pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])
    else:
        raise BadInput(
            f"{what} must be a pandas DataFrame, Series or numpy array, got {type(data).__name__}."
        )
    if isinstance(frame.columns, pd.MultiIndex):  # columns are named by one string everywhere
        raise BadInput(f"{what} has MultiIndex columns ({frame.columns.nlevels} levels, e.g. "
                       f"{str(frame.columns[0])[:60]!r}); flatten them first, e.g. "
                       "df.columns = ['_'.join(map(str, c)) for c in df.columns].")
    if not duplicates:
        check_unique_columns(frame, what)
    return frame


def check_unique_columns(frame: pd.DataFrame, what: str) -> None:
    """BadInput when a column name of ``frame`` appears more than once."""
    if frame.columns.duplicated().any():
        dup = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise BadInput(f"{what[:1].upper() + what[1:]} has duplicated column names {dup!r}; rename or drop them first, "
                       "e.g. df.loc[:, ~df.columns.duplicated()].")


def fingerprint(frame: Any, y: Any = None) -> str:
    """sha256 of a training frame (values, column names and dtypes, row order), plus ``y``.

    Uses ``pandas.util.hash_pandas_object`` (vectorised), so 1M rows hash in well under a second.
    """
    import pandas as pd

    h = hashlib.sha256()
    frame = as_frame(frame)
    h.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    if y is not None:
        ys = y if isinstance(y, pd.Series) else pd.Series(list(y) if not hasattr(y, "shape") else y)
        h.update(b"|y|" + str(ys.dtype).encode())
        h.update(pd.util.hash_pandas_object(ys.reset_index(drop=True), index=False).to_numpy().tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------------- the contract
CONTRACT_FORMAT = "nbtoolkit.contract/1"
# A string column with more levels is free text: the contract keeps no category set, the drift
# profile tests its lengths (or skips it). One number for both.
MAX_CATEGORIES = 200
# Column kinds: one vocabulary for the contract (column_kind, validate) and the drift profile
# (profiles.column.profile_column), which uses the same words and adds how it stored or skipped a
# column. tests/test_drift.py checks that both produce only these.
COLUMN_KINDS = {
    "numeric": "numbers (the profile keeps bins)",
    "discrete": "numbers with few distinct values (profile only: exact counts per value)",
    "boolean": "True/False",
    "datetime": "timestamps (contract only: the profile skips them)",
    "categorical": "labels (at most MAX_CATEGORIES distinct values)",
    "text": "free text: more than MAX_CATEGORIES distinct strings (the profile tests lengths)",
    "mixed": "an object column of several types (validate refuses it; the profile skips it)",
    "empty": "all values missing (profile only)",
    "skipped": "no test applies (profile only; the reason is kept)",
}


class Contract:
    """What data fed to a model must look like, inferred from a frame (usually the training data).

    Per column: dtype and kind (numeric, boolean, datetime, categorical, text), whether it may
    hold nulls and its null rate, the numeric range, the category set; for the frame: the minimum
    row count and, optionally, freshness (the newest value of a timestamp column must be no older
    than ``max_age``). Stored with a model version at ``register --data`` time as
    ``nbt/contract.json``; :meth:`check` (or :func:`validate`) compares a frame with it.
    """

    def __init__(self, columns: dict[str, dict[str, Any]], *, n_rows: int, min_rows: int = 1,
                 freshness: dict[str, str] | None = None) -> None:
        from .validation import count, mapping

        self.columns = mapping(columns, "columns")
        self.n_rows = count(n_rows, "n_rows", zero=True)
        self.min_rows = count(min_rows, "min_rows", zero=True)
        self.freshness = None if freshness is None else mapping(freshness, "freshness")

    @classmethod
    def from_frame(cls, frame: Any, *, min_rows: int = 1, max_age: str | None = None,
                   timestamp: str | None = None) -> Contract:
        """Infer the contract of ``frame``; ``max_age`` (e.g. ``"2D"``) adds a freshness rule."""
        frame = as_frame(frame, what="frame")
        columns = {}
        for name in frame.columns:
            s = frame[name]
            entry = _describe_column(s)
            columns[str(name)] = entry
        freshness = None
        if max_age is not None:
            freshness = {"column": _timestamp_column(frame, timestamp, columns),
                         "max_age": str(_timedelta(max_age))}
        return cls(columns, n_rows=len(frame), min_rows=min_rows, freshness=freshness)

    def to_dict(self) -> dict[str, Any]:
        return {"format": CONTRACT_FORMAT, "n_rows": self.n_rows, "min_rows": self.min_rows,
                "freshness": self.freshness, "columns": self.columns}

    def to_json(self) -> str:
        import json

        return json.dumps(self.to_dict(), separators=(",", ":"), default=str)

    @classmethod
    def from_json(cls, text: str) -> Contract:
        from .validation import stored_json

        data = stored_json(text, CONTRACT_FORMAT, "data contract")
        return cls(data["columns"], n_rows=data["n_rows"], min_rows=data.get("min_rows", 1),
                   freshness=data.get("freshness"))

    def check(self, frame: Any, **options: Any) -> ValidationReport:
        """Compare ``frame`` with this contract; a :class:`~nbtoolkit.reports.data.ValidationReport`."""
        return _check_contract(self, frame, **options)

    def __repr__(self) -> str:
        return f"<Contract: {len(self.columns)} columns, from {self.n_rows} rows>"


def column_kind(s: pd.Series) -> str:
    """numeric, boolean, datetime, categorical, text or mixed (an object column of several types)."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(s):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "datetime"
    if isinstance(s.dtype, pd.CategoricalDtype):
        return "categorical"
    if pd.api.types.is_numeric_dtype(s):
        return "numeric"
    if s.dtype == object:
        inferred = pd.api.types.infer_dtype(s, skipna=True)
        if inferred.startswith("mixed"):
            return "mixed"
        if inferred in {"integer", "floating", "decimal"}:
            return "numeric"
        if inferred == "boolean":
            return "boolean"
        if inferred in {"datetime", "datetime64", "date"}:
            return "datetime"
    return "categorical"


def _describe_column(s: pd.Series) -> dict[str, Any]:
    import numpy as np

    kind = column_kind(s)
    n_null = int(s.isna().sum())
    entry: dict[str, Any] = {"dtype": str(s.dtype), "kind": kind, "nullable": n_null > 0,
                             "null_rate": n_null / len(s) if len(s) else 0.0}
    if kind == "numeric" and n_null < len(s):
        values = s.to_numpy(dtype="float64", na_value=np.nan)
        finite = values[np.isfinite(values)]
        entry["min"] = float(finite.min()) if len(finite) else None
        entry["max"] = float(finite.max()) if len(finite) else None
    elif kind == "datetime" and n_null < len(s):
        entry["min"], entry["max"] = str(s.min()), str(s.max())
    elif kind in {"categorical", "boolean"}:
        levels = s.dropna().astype(str).unique()
        if len(levels) <= MAX_CATEGORIES:
            entry["categories"] = sorted(levels.tolist())
        else:
            entry["kind"] = "text"
            entry["n_unique"] = len(levels)
    return entry


def _timedelta(value: Any) -> Any:
    from .validation import duration

    return duration(value, "max_age")


def _timestamp_column(frame: pd.DataFrame, timestamp: str | None, columns: dict[str, dict[str, Any]]) -> str:
    stamps = [c for c, e in columns.items() if e["kind"] == "datetime"]
    if timestamp is not None:
        if timestamp not in columns:
            raise BadInput(f"No timestamp column {timestamp!r}." + did_you_mean(timestamp, columns))
        if columns[timestamp]["kind"] != "datetime":
            raise BadInput(f"Column {timestamp!r} is {columns[timestamp]['dtype']}, not a datetime; "
                           "convert it with pd.to_datetime or name another column.")
        return timestamp
    if len(stamps) != 1:
        found = (f"found several {stamps!r}: pass ", Arg("timestamp", "NAME"), ".") if stamps else (
            "the frame has no datetime column.",)
        raise BadInput(say("A freshness check (max_age) needs one timestamp column; ", *found))
    return stamps[0]


def _check_contract(contract: Contract, frame: pd.DataFrame, *, max_age: str | None = None,
                    timestamp: str | None = None, null_tolerance: float = 0.05,
                    range_tolerance: float = 0.0, source: str = "contract", now: Any = None) -> ValidationReport:
    """Every contract check on ``frame`` (one rule function per check in :mod:`.contract_checks`)."""
    from . import contract_checks as rules
    from .reports.data import ValidationReport

    frame, issues = rules.duplicated_columns(as_frame(frame, what="frame", duplicates=True))
    observed = {str(c): c for c in frame.columns}
    issues += rules.row_count(contract.min_rows, frame)
    issues += rules.missing_and_extra_columns(contract.columns, frame, observed)
    for name, expected in contract.columns.items():
        if name in observed and len(frame):
            s = frame[observed[name]]
            issues += rules.column_rules(name, s, column_kind(s), expected, null_tolerance=null_tolerance,
                                         range_tolerance=range_tolerance)
    rule = contract.freshness
    if max_age is not None:
        columns = {n: {"kind": column_kind(frame[c])} for n, c in observed.items()}
        rule = {"column": _timestamp_column(frame, timestamp, columns), "max_age": str(_timedelta(max_age))}
    if rule and rule["column"] in observed and len(frame):
        issues += rules.freshness(frame[observed[rule["column"]]], rule, now)
    return ValidationReport(issues, n_rows=len(frame), n_columns=frame.shape[1], source=source)
