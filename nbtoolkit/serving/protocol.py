"""MLflow's scoring protocol: a request body → columns of values, ids, timestamps.

``POST /invocations`` takes the JSON bodies MLflow's scoring server takes — exactly one of
``dataframe_split`` (``{"columns": [...], "data": [[...]]}``), ``dataframe_records``
(``[{col: value}]``), ``instances`` or ``inputs`` (records, or ``{col: [values]}``) — plus
``params``: ``ids`` (one per row, unique; generated when absent) and ``timestamps`` (ISO 8601,
when replaying traffic; default now; between 2000-01-01 and a day from now, UTC). ``text/csv``
bodies work too (ids are then generated). ``NaN`` in a number column is a missing value, as
``null``; ``Infinity`` is refused naming its column; nesting deeper than :data:`MAX_DEPTH`, or
deeper than Python's parser follows, is refused too (a 400, not a server error).

Everything is checked before the model sees it: an empty batch or a duplicate id here, each value
against the serving version's signature in :mod:`.columns`; each raises :class:`BadRequest` with
one sentence naming the column / row / id. Pure Python: no pandas until the batch is valid.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# BadRequest, Column, short and signature_columns are part of this module's interface too
from .columns import (MAX_DEPTH, BadRequest, Column, _check_free, _Missing, check_signature, short,
                      signature_columns)

__all__ = ["FORMATS", "MAX_DEPTH", "MAX_ID_LENGTH", "BadRequest", "Batch", "Column", "parse_body", "parse_json",
           "parse_outcomes", "short", "signature_columns"]

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
MAX_ID_LENGTH = 191  # the prediction log's id column

@dataclass
class Batch:
    """A validated request: values per column (signature order), ids, timestamps."""

    columns: list[str]
    values: dict[str, list[Any]]
    n: int
    ids: list[str] | None  # None: generate
    timestamps: list[dt.datetime] | None  # None: now

    def frame(self, signature: Sequence[Column] | None) -> Any:
        """The rows as a DataFrame with the signature's dtypes (numbers as float, ...)."""
        import pandas as pd

        data: dict[str, Any] = {}  # column -> float array, object Series or the parsed list
        kinds = {c.name: c.type for c in signature or ()}
        for col in self.columns:
            vals = self.values[col]
            kind = kinds.get(col)
            if kind in ("double", "float"):
                data[col] = pd.array([math.nan if v is None else v for v in vals], dtype="float64")
            elif kind == "string":  # object, not pandas 3's Arrow strings: scikit-learn converts those back
                data[col] = pd.Series(vals, dtype=object)  # on every transform (0.7 ms of 9 per 100 rows)
            else:
                data[col] = vals
        return pd.DataFrame(data, columns=self.columns)

    def records_json(self) -> list[str]:
        """Each row as a JSON object (what the prediction log stores as ``inputs``)."""
        cols = self.columns
        strict, lenient = _RECORD.encode, _RECORD_NAN.encode
        return [strict(dict(zip(cols, row))) if not _has_nan(row) else lenient(dict(zip(cols, _nan_to_none(row))))
                for row in zip(*(self.values[c] for c in cols))]


# What json.dumps(..., default=str[, allow_nan=False]) uses, built once instead of once per row.
_RECORD = json.JSONEncoder(default=str, allow_nan=False)
_RECORD_NAN = json.JSONEncoder(default=str)


def _has_nan(row: Sequence[Any]) -> bool:
    return any(isinstance(v, float) and v != v for v in row)


def _nan_to_none(row: Sequence[Any]) -> list[Any]:
    return [None if isinstance(v, float) and v != v else v for v in row]


# ---------------------------------------------------------------------------------- parsing
def parse_body(body: bytes, content_type: str | None, signature: Sequence[Column] | None,
               *, max_rows: int = 100_000) -> Batch:
    """Parse and validate a ``/invocations`` body; :class:`BadRequest` names what is wrong."""
    mime = (content_type or "application/json").split(";")[0].strip().lower()
    if mime == "text/csv":
        columns, values, n, params = _from_csv(body)
    elif mime in ("application/json", ""):
        payload = parse_json(body)
        if not isinstance(payload, dict):
            raise BadRequest("The body must be a JSON object with one of "
                             f"{', '.join(FORMATS)} (MLflow's scoring protocol), got a {type(payload).__name__}.")
        given = [k for k in FORMATS if k in payload]
        if len(given) != 1:
            found = ", ".join(map(repr, payload)) or "no keys"
            raise BadRequest(f"The body must have exactly one of {', '.join(FORMATS)}; it has {found}.")
        columns, values, n = _columns_of(given[0], payload[given[0]])
        params = payload.get("params") or {}
        if not isinstance(params, dict):
            raise BadRequest(f"'params' must be a JSON object (e.g. {{\"ids\": [...]}}), got {short(params)}.")
    else:
        raise BadRequest(f"Unsupported Content-Type {content_type!r}; send application/json "
                         "(MLflow's scoring protocol; with curl: -H 'Content-Type: application/json') "
                         "or text/csv.", status=415)
    if n == 0:
        raise BadRequest("The batch is empty (0 rows); send at least one row.")
    if n > max_rows:
        raise BadRequest(f"The batch has {n} rows, more than the limit of {max_rows}; split it.", status=413)
    if signature:
        columns, values = check_signature(columns, values, n, signature)
    else:  # no signature to check against: a key absent from a record is a missing value
        values = {c: [None if isinstance(v, _Missing) else v for v in vals] for c, vals in values.items()}
        for c, vals in values.items():
            for i, v in enumerate(vals):
                if isinstance(v, (float, list, dict)):
                    _check_free(c, i, v)
    ids = _ids(params.get("ids"), n)
    stamps = _timestamps(params.get("timestamps"), n)
    return Batch(columns=columns, values=values, n=n, ids=ids, timestamps=stamps)


def parse_json(body: bytes, *, constants: bool = True) -> Any:
    """The JSON of ``body``; ``constants=False`` refuses ``NaN`` / ``Infinity`` (not JSON, but Python's
    parser reads them). Nesting deeper than the parser can follow is a :class:`BadRequest` too."""
    try:
        return json.loads(body) if constants else json.loads(body, parse_constant=_no_constant)
    except BadRequest:
        raise
    except RecursionError:
        raise BadRequest(f"The body nests arrays or objects too deeply for a request; send at most {MAX_DEPTH} "
                         "levels (MLflow's scoring protocol needs three).") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"The body is not valid JSON ({exc}); send a JSON object such as "
                         '{"dataframe_split": {"columns": [...], "data": [[...]]}}.') from None


def _no_constant(name: str) -> Any:
    raise BadRequest(f"The body holds {name}, which is not a JSON value; send a finite number (or a class "
                     "label) instead.")


def _columns_of(fmt: str, data: Any) -> tuple[list[str], dict[str, list[Any]], int]:
    if fmt == "dataframe_split":
        if not isinstance(data, dict) or "columns" not in data or "data" not in data:
            raise BadRequest("dataframe_split must be an object with 'columns' and 'data' "
                             '(e.g. {"columns": ["a", "b"], "data": [[1, 2]]}).')
        columns, rows = data["columns"], data["data"]
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise BadRequest(f"dataframe_split.columns must be a list of column names, got {short(columns)}.")
        if len(set(columns)) != len(columns):
            dup = next(c for c in columns if columns.count(c) > 1)
            raise BadRequest(f"Column {dup!r} appears twice in dataframe_split.columns.")
        if not isinstance(rows, list):
            raise BadRequest(f"dataframe_split.data must be a list of rows, got {type(rows).__name__}.")
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != len(columns):
                raise BadRequest(f"dataframe_split.data row {i} must be a list of {len(columns)} values "
                                 f"(one per column), got {short(row)}.")
        values = {c: [row[j] for row in rows] for j, c in enumerate(columns)}
        return list(columns), values, len(rows)
    if isinstance(data, list):
        if data and not all(isinstance(r, dict) for r in data):
            bad = next(i for i, r in enumerate(data) if not isinstance(r, dict))
            raise BadRequest(f"{fmt}[{bad}] must be an object of column: value (a record), got "
                             f"{short(data[bad])}; lists without column names cannot be matched to the "
                             "model's columns.")
        return _from_records(data)
    if fmt == "dataframe_records":
        raise BadRequest(f"dataframe_records must be a list of records, got {type(data).__name__}.")
    if isinstance(data, dict):  # columnar {col: [values]} or a single record {col: value}
        if data and all(isinstance(v, list) for v in data.values()):
            lengths = {len(v) for v in data.values()}
            if len(lengths) > 1:
                raise BadRequest(f"The columns of {fmt} have different lengths ({sorted(lengths)}); give "
                                 "every column one value per row.")
            return list(data), {k: list(v) for k, v in data.items()}, lengths.pop() if lengths else 0
        return _from_records([data])
    raise BadRequest(f"{fmt} must be a list of records or an object of columns, got {type(data).__name__}.")


def _from_records(rows: list[dict[str, Any]]) -> tuple[list[str], dict[str, list[Any]], int]:
    columns: dict[str, None] = {}
    for r in rows:
        for k in r:
            columns.setdefault(k, None)
    missing = object()
    values = {c: [r.get(c, missing) for r in rows] for c in columns}
    for c, vals in values.items():  # a key absent from some records: name the first such row
        if any(v is missing for v in vals):
            i = next(i for i, v in enumerate(vals) if v is missing)
            values[c] = [_Missing(i) if v is missing else v for v in vals]
    return list(columns), values, len(rows)


def _from_csv(body: bytes) -> tuple[list[str], dict[str, list[Any]], int, dict[str, Any]]:
    import io

    import pandas as pd

    try:
        frame = pd.read_csv(io.BytesIO(body))
    except Exception as exc:  # pandas raises several parser errors; all mean "not a CSV table"
        raise BadRequest(f"The body is not a CSV table with a header row ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:120]}).") from None
    frame = frame.astype(object).where(frame.notna(), None)
    return list(map(str, frame.columns)), {str(c): frame[c].tolist() for c in frame.columns}, len(frame), {}


def _ids(raw: Any, n: int) -> list[str] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise BadRequest(f"params.ids must be a list with one id per row, got {short(raw)}.")
    if len(raw) != n:
        raise BadRequest(f"params.ids has {len(raw)} ids for {n} rows; give one id per row.")
    ids = []
    for i, v in enumerate(raw):
        if isinstance(v, bool) or not isinstance(v, (str, int)) or v == "":
            raise BadRequest(f"params.ids[{i}] must be a non-empty string or an integer, got {short(v)}.")
        s = str(v)
        if len(s) > MAX_ID_LENGTH:
            raise BadRequest(f"params.ids[{i}] is {len(s)} characters long; ids are at most {MAX_ID_LENGTH}.")
        ids.append(s)
    if len(set(ids)) != n:
        seen: set[str] = set()
        dup = next(i for i in ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
        raise BadRequest(f"Duplicate id {dup!r} in params.ids; ids must be unique, nothing was logged.")
    return ids


def _timestamps(raw: Any, n: int) -> list[dt.datetime] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) != n:
        raise BadRequest(f"params.timestamps must be a list of {n} ISO 8601 date/times, one per row.")
    from ..errors import BadInput
    from ..monitoring.log_rows import plausible

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    out = []
    for i, v in enumerate(raw):
        try:
            t = dt.datetime.fromisoformat(v.replace("Z", "+00:00")) if isinstance(v, str) else None
        except ValueError:
            t = None
        if t is None:
            raise BadRequest(f"params.timestamps[{i}] is not an ISO 8601 date/time: {short(v)}.")
        try:
            if t.tzinfo is not None:
                t = t.astimezone(dt.UTC).replace(tzinfo=None)
        except OverflowError:  # e.g. 9999-12-31T23:00-05:00: past the last datetime once in UTC
            raise BadRequest(f"params.timestamps[{i}] is out of the range of date/times once in UTC: "
                             f"{short(v)}.") from None
        try:
            out.append(plausible(t, f"params.timestamps[{i}]", now=now))
        except BadInput as exc:
            raise BadRequest(str(exc)) from None
    return out


def parse_outcomes(body: bytes) -> tuple[list[str], list[Any], str]:
    """``{"ids": [...], "labels": [...], "source": "human"}`` → ids, labels, source.

    Labels are checked here for shape only (a string, a number or true/false; never NaN or
    Infinity); whether each is an outcome its version can have is
    :meth:`~nbtoolkit.monitoring.PredictionLog.record_outcomes`'s check."""
    payload = parse_json(body, constants=False)
    if not isinstance(payload, dict):
        raise BadRequest('The body must be a JSON object {"ids": [...], "labels": [...], "source": "human"}.')
    ids, labels = payload.get("ids"), payload.get("labels")
    source = payload.get("source", "human")
    if not isinstance(ids, list) or not isinstance(labels, list):
        raise BadRequest("'ids' and 'labels' must both be lists (one label per id).")
    if not ids:
        raise BadRequest("'ids' is empty; send at least one id with its label.")
    if len(ids) != len(labels):
        raise BadRequest(f"'ids' has {len(ids)} values but 'labels' has {len(labels)}; give one label per id.")
    if not isinstance(source, str) or not source or len(source) > 64:
        raise BadRequest(f"'source' must be a short non-empty string such as 'human', got {short(source)}.")
    out = []
    for i, v in enumerate(ids):
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            raise BadRequest(f"ids[{i}] must be a string or an integer, got {short(v)}.")
        out.append(str(v))
    for i, v in enumerate(labels):
        if v is None or isinstance(v, (dict, list)):
            raise BadRequest(f"labels[{i}] must be a class label (string or number), got {short(v)}.")
        if isinstance(v, float) and not math.isfinite(v):  # 1e400 parses as inf
            raise BadRequest(f"labels[{i}] is {v!r}, not a finite number; send a class label.")
    if len(set(out)) != len(out):
        seen: set[str] = set()
        dup = next(i for i in out if i in seen or seen.add(i))  # type: ignore[func-returns-value]
        raise BadRequest(f"Duplicate id {dup!r} in 'ids'; give each id once, nothing was written.")
    return out, labels, source
