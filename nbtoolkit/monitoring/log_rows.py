"""Checks and conversions of the values a batch logs, one per row (no writes): model, inputs,
confidences, per-class probabilities, ids, timestamps (plausible event times), and outcomes
(:class:`Labels`: a class of the version, or a finite number for a regressor)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
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


# Event times a log accepts: from the start of 2000 to a day after now (UTC). Traffic replayed from
# older logs still fits; a clock or a typo that puts a row in year 9999 (or 1970 from a zero epoch)
# does not, and such a row would make every time window of the log span centuries.
EARLIEST = dt.datetime(2000, 1, 1)
AHEAD = dt.timedelta(days=1)


def plausible(stamp: dt.datetime, what: str, *, now: dt.datetime | None = None) -> dt.datetime:
    """``stamp`` (naive UTC) if it is an event time the log accepts (see :data:`EARLIEST`), else BadInput."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    if stamp < EARLIEST:
        raise BadInput(f"{what} is {stamp.isoformat()}, before {EARLIEST:%Y-%m-%d}; event times must lie "
                       "between 2000-01-01 and a day from now (UTC), nothing was written.")
    if stamp > now + AHEAD:
        raise BadInput(f"{what} is {stamp.isoformat()}, more than a day in the future; event times must lie "
                       "between 2000-01-01 and a day from now (UTC), nothing was written.")
    return stamp


def _to_utc(value: Any, what: str) -> dt.datetime:
    """A naive UTC datetime (what the log stores) from a datetime, pandas Timestamp or ISO string."""
    import pandas as pd

    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise BadInput(f"{what} must be a date/time such as '2026-01-31 12:00', got {value!r}.") from None
    if pd.isna(ts):  # "nat", None
        raise BadInput(f"{what} must be a date/time, got {value!r}.")
    try:
        if ts.tzinfo is not None:
            ts = ts.tz_convert("UTC").tz_localize(None)
        return ts.floor("us").to_pydatetime()
    except (OverflowError, ValueError):  # beyond what a datetime holds once moved to UTC
        raise BadInput(f"{what} is out of the range of date/times, got {value!r:.60}.") from None


def _timestamps(values: Any, n: int) -> list[dt.datetime]:
    if values is None:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        return [now] * n
    import pandas as pd

    values = _column(values, n, "timestamps")
    try:  # vectorised fast path; the per-value path below names the bad value
        stamps = pd.to_datetime(pd.Series(values, dtype=object), utc=True)
        missing = stamps.isna().to_numpy()
        out = [] if missing.any() else list(stamps.dt.tz_localize(None).dt.floor("us").dt.to_pydatetime())
    except (TypeError, ValueError, OverflowError):  # also a year past 9999 once in UTC
        out = [_to_utc(v, f"timestamps[{i}]") for i, v in enumerate(values)]
    else:
        if missing.any():
            bad = int(missing.argmax())
            raise BadInput(f"timestamps[{bad}] must be a date/time, got {values[bad]!r}.")
    if out:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        low, high = min(out), max(out)
        for stamp in (low, high):
            plausible(stamp, f"timestamps[{out.index(stamp)}]", now=now)
    return out


# ------------------------------------------------------------------------------ outcomes
def _family(value: Any) -> str | None:
    """bool, str or num (a real number), the families a class label can be of; None for anything else."""
    import numbers

    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "bool"
    if isinstance(value, str):
        return "str"
    if isinstance(value, numbers.Real):
        return "num"
    return None


_FAMILY_WORDS = {"bool": "true/false", "str": "strings", "num": "numbers"}
_FAMILY_WORD = {"bool": "true or false", "str": "a string", "num": "a number"}


class Labels:
    """What an outcome of one model version may be: one of its ``classes`` (a classifier), a finite
    number (``kind="number"``: a regressor), or any finite scalar (``kind="any"``: a version the
    registry does not know, or whose task it cannot tell).

    :meth:`check` returns the text the log stores: the class as the server stores its predictions
    (``str`` of the class), so that ``1.0`` sent for the integer class ``1`` is the outcome ``"1"``.
    """

    def __init__(self, version: str, kind: str, classes: Sequence[Any] = ()) -> None:
        self.version = version
        self.kind = kind
        self.classes = tuple(classes)
        self._index: dict[tuple[str | None, Any], Any] = {}
        for c in self.classes:
            family = _family(c)
            self._index[(family, float(c) if family == "num" else c)] = c

    def __repr__(self) -> str:
        return f"Labels({self.version!r}, {self.kind!r}, {list(self.classes)!r:.80})"

    def check(self, value: Any, what: str) -> str:
        """The stored text of outcome ``value``, or BadInput naming ``what`` (e.g. ``labels[2] (id 't3')``)."""
        import math

        family = _family(value)
        if family is None:
            raise BadInput(f"{what} must be a class label (a string or a number), got a {type(value).__name__}; "
                           "nothing was recorded.")
        number = 0.0  # the value as a float, for a number (classes 1 and 1.0 are one class)
        if family == "num":
            try:
                number = float(value)
            except OverflowError:  # an integer past what a float holds
                number = math.inf
            if not math.isfinite(number):
                raise BadInput(f"{what} is {value!r:.60}; an outcome is a class or a finite number, nothing was "
                               "recorded.")
        if self.kind == "any":
            if len(str(value)) > OUTCOME_LENGTH:
                raise BadInput(f"{what} is {len(str(value))} characters long; an outcome is at most "
                               f"{OUTCOME_LENGTH} (the log's outcome column), nothing was recorded.")
            return str(value)
        if self.kind == "number":
            if family != "num":
                raise BadInput(f"{what} is {value!r:.60}, but {self.version} is a regression model: its outcomes "
                               "are finite numbers; nothing was recorded.")
            return str(value)
        match = self._index.get((family, number if family == "num" else value), _NO_CLASS)
        if match is not _NO_CLASS:
            return str(match)
        shown = ", ".join(repr(c) for c in self.classes[:20]) + (", ..." if len(self.classes) > 20 else "")
        families = {f for c in self.classes if (f := _family(c)) is not None}
        typed = suggestion = ""
        if family not in families and len(families) == 1:
            typed = f" (the label is {_FAMILY_WORD[family]}, the classes are {_FAMILY_WORDS[families.pop()]})"
        elif family == "str":
            import difflib

            texts = [c for c in self.classes if isinstance(c, str)]
            same = [c for c in texts if c.casefold() == value.casefold()]
            close = same or (difflib.get_close_matches(value, texts, n=1) if len(value) <= 200 else [])
            suggestion = f" Did you mean {close[0]!r}?" if close else ""
        raise BadInput(f"{what} {value!r:.60} is not a class of {self.version}; its classes are {shown}{typed}."
                       f"{suggestion} Nothing was recorded.")


_NO_CLASS = object()
OUTCOME_LENGTH = 255  # the prediction log's outcome column


def version_labels(name: str, version: str) -> Labels:
    """What an outcome of ``name/version`` may be, from the registry: the ``nbt.classes`` tag written at
    registration, else (older versions) the loaded model's ``classes_``; a regressor takes numbers."""
    from ..errors import NbtError, StoreUnavailable
    from ..registry import TAG_TASK, resolve
    from ..registry.tags import TAG_CLASSES

    label = f"{name}/{version}"
    try:
        mv = resolve(label)
    except StoreUnavailable:
        raise
    except NbtError:  # not in the registry (logged with registered=False, or deleted since)
        return Labels(label, "any")
    tags = mv.tags or {}
    task = tags.get(TAG_TASK)
    if task == "regression":
        return Labels(label, "number")
    if task != "classification":
        return Labels(label, "any")
    try:
        classes = json.loads(tags[TAG_CLASSES])
    except (KeyError, TypeError, ValueError):  # registered before the tag existed: ask the model itself
        from ..registry import load

        try:
            classes = getattr(load(label), "classes_", None)
        except StoreUnavailable:
            raise
        except NbtError:  # a model that may not be loaded here (unsafe format, refused file): types only
            classes = None
        classes = None if classes is None else list(classes.tolist() if hasattr(classes, "tolist") else classes)
    if not isinstance(classes, list) or not classes or not all(_family(c) for c in classes):
        return Labels(label, "any")
    return Labels(label, "classes", classes)
