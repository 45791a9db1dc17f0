"""Checks and conversions of the values a batch logs, one per row (no writes): model, inputs,
confidences, per-class probabilities, ids, timestamps."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from ..errors import BadInput
from ..refs import parse_ref


def _model_of(ref: Any) -> tuple[str, str]:
    if hasattr(ref, "name") and hasattr(ref, "version") and not isinstance(ref, str):
        return str(ref.name), str(ref.version)
    parsed = parse_ref(ref)
    if parsed.version:
        return parsed.name, parsed.version
    from ..registry import resolve

    mv = resolve(parsed)
    return str(mv.name), str(mv.version)


def _input_rows(inputs: Any) -> list[str]:
    import pandas as pd

    if isinstance(inputs, pd.DataFrame):
        if len(inputs) == 0:
            return []
        text = inputs.reset_index(drop=True).to_json(orient="records", lines=True, date_format="iso")
        return text.splitlines()
    if isinstance(inputs, (list, tuple)):
        rows = []
        for i, row in enumerate(inputs):
            if not isinstance(row, dict):
                raise BadInput(f"inputs[{i}] is a {type(row).__name__}; pass a DataFrame or a list of dicts.")
            rows.append(json.dumps(row, default=str))
        return rows
    raise BadInput(f"inputs must be a DataFrame or a list of dicts, got {type(inputs).__name__}.")


def _column(values: Any, n: int | None, what: str) -> list[Any]:
    if values is None or isinstance(values, (str, bytes, dict)):
        raise BadInput(f"{what} must be a sequence with one value per row, got {values!r:.60}.")
    try:
        out = list(values.tolist() if hasattr(values, "tolist") else values)
    except TypeError:
        raise BadInput(f"{what} must be a sequence, got {type(values).__name__}.") from None
    if n is not None and len(out) != n:
        raise BadInput(f"{what} has {len(out)} values for {n} rows; give one per row.")
    return out


def _confidences(values: Any, n: int) -> list[float | None]:
    if values is None:
        return [None] * n
    out: list[float | None] = []
    for i, v in enumerate(_column(values, n, "confidence")):
        if v is None:
            out.append(None)
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise BadInput(f"confidence[{i}] must be a number in [0, 1], got {v!r}.") from None
        if f != f:  # NaN: unknown confidence
            out.append(None)
            continue
        if not 0.0 <= f <= 1.0:
            raise BadInput(f"confidence[{i}] must be in [0, 1], got {v!r}.")
        out.append(f)
    return out


def _probabilities(values: Any, n: int) -> list[str | None]:
    """Per-row ``{class: probability}`` as JSON (None when not given)."""
    import math

    import pandas as pd

    if values is None:
        return [None] * n
    if isinstance(values, pd.DataFrame):
        classes = [str(c) for c in values.columns]
        records = [dict(zip(classes, row)) for row in values.to_numpy(dtype="float64").tolist()]
    else:
        records = _column(values, n, "probabilities")
    if len(records) != n:
        raise BadInput(f"probabilities has {len(records)} rows for {n} predictions; give one per row.")
    out: list[str | None] = []
    for i, rec in enumerate(records):
        if rec is None:
            out.append(None)
            continue
        if not isinstance(rec, dict):
            raise BadInput(f"probabilities[{i}] must be a {{class: probability}} dict, got {rec!r:.60}.")
        clean = {}
        for cls, p in rec.items():
            try:
                f = float(p)
            except (TypeError, ValueError):
                f = math.nan
            if not 0.0 <= f <= 1.0:
                raise BadInput(f"probabilities[{i}][{cls!r}] must be in [0, 1], got {p!r}.")
            clean[str(cls)] = f
        if abs(sum(clean.values()) - 1.0) > 1e-3:
            raise BadInput(f"probabilities[{i}] sums to {sum(clean.values()):.4g}, not 1; give the "
                           "probability of every class.")
        out.append(json.dumps(clean))
    return out


def _check_unique(ids: Iterable[str]) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise BadInput(f"Duplicate id {i!r} in the batch; ids must be unique, nothing was written.")
        seen.add(i)


def _to_utc(value: Any, what: str) -> dt.datetime:
    """A naive UTC datetime (what the log stores) from a datetime, pandas Timestamp or ISO string."""
    import pandas as pd

    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise BadInput(f"{what} must be a date/time such as '2026-01-31 12:00', got {value!r}.") from None
    if ts is pd.NaT:
        raise BadInput(f"{what} must be a date/time, got {value!r}.")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.floor("us").to_pydatetime()


def _timestamps(values: Any, n: int) -> list[dt.datetime]:
    if values is None:
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        return [now] * n
    import pandas as pd

    values = _column(values, n, "timestamps")
    try:  # vectorised fast path; the per-value path below names the bad value
        stamps = pd.to_datetime(pd.Series(values, dtype=object), utc=True)
    except (TypeError, ValueError):
        return [_to_utc(v, f"timestamps[{i}]") for i, v in enumerate(values)]
    if stamps.isna().any():
        bad = int(stamps.isna().to_numpy().argmax())
        raise BadInput(f"timestamps[{bad}] must be a date/time, got {values[bad]!r}.")
    return list(stamps.dt.tz_localize(None).dt.floor("us").dt.to_pydatetime())
