"""Argument checks shared by every entry point (API, magics, CLI), run before any work or write.

Each check takes the value as the user gave it and the name the user knows it by (``"alpha"``,
``"--null-tolerance"``), and returns the normalised value or raises :class:`~nbtoolkit.errors.BadInput`
with one sentence: what was wrong, the value (cut to :data:`~nbtoolkit.errors.ECHO_LIMIT`
characters), what is valid. Only the standard library is imported here (``%load_ext`` imports
:mod:`nbtoolkit.commands`, which may use these); pandas is imported by :func:`duration` on use.

::

    number(x, "threshold", low=0, low_open=True)   finite real number in a range (no bools, no NaN)
    fraction(x, "alpha", zero=False, one=False)    a share / probability in [0, 1] (ends optional)
    count(x, "rows")                               a whole number >= 1 (or >= 0 with zero=True)
    names(x, "columns")                            None, "a,b" or a list of column names
    mapping(x, "tags") / sequence(x, "alerts")     dicts with string keys / lists of given types
    text(x, "description") / seed(x)               free text MLflow can store / a random seed
    existing_file(x, "suite file")                 a path to a file that exists
    duration("1D", "window")                       a positive pandas.Timedelta with a unit
    path_name(x, "experiment name")                a name that becomes a file path or MLflow key
    shown(x)                                       repr(x), cut for a message
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from typing import Any

from .errors import ECHO_LIMIT, BadInput

# MLflow stores experiment, model, run and metric names in VARCHAR(250/256) columns
MAX_NAME = 250
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def shown(value: Any, limit: int = ECHO_LIMIT) -> str:
    """``repr(value)`` for a message, cut to ``limit`` characters with ``...``."""
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real problem
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def number(value: Any, name: str, *, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False, hint: str = "", valid: str = "") -> float:
    """``value`` as a finite float within [low, high] (ends open when asked); BadInput otherwise."""
    valid = valid or _range_text(low, high, low_open, high_open)
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
        raise BadInput(f"{name} must be {valid}{hint}, got {shown(value)} ({type(value).__name__}).")
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        raise BadInput(f"{name} must be {valid}{hint}, got {shown(value)}.") from None
    if not math.isfinite(x):
        raise BadInput(f"{name} must be {valid.replace('a ', 'a finite ', 1)}{hint}, got {shown(value)}.")
    too_low = low is not None and (x <= low if low_open else x < low)
    too_high = high is not None and (x >= high if high_open else x > high)
    if too_low or too_high:
        raise BadInput(f"{name} must be {valid}{hint}, got {shown(value)}.")
    return x


def fraction(value: Any, name: str, *, zero: bool = True, one: bool = True, hint: str = "") -> float:
    """A share or probability: a number in [0, 1] (``zero=False`` / ``one=False`` open the ends)."""
    valid = "a share between 0 and 1" if zero and one else ""
    return number(value, name, low=0.0, high=1.0, low_open=not zero, high_open=not one,
                  hint=hint or " (e.g. 0.05)", valid=valid)


def names(value: Any, what: str = "columns") -> list[str] | None:
    """Column names: ``None``, ``"a,b"`` or an iterable of strings → a list (or None)."""
    if value is None:
        return None
    if isinstance(value, str):
        out = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, (list, tuple, set, frozenset)) or type(value).__name__ in {"Index", "ndarray", "Series"}:
        out = list(value)
    else:
        raise BadInput(f"{what} must be a list of column names or 'a,b', got {shown(value)} "
                       f"({type(value).__name__}).")
    if not out:
        raise BadInput(f"{what} is empty; name at least one column or leave it out.")
    if any(not isinstance(v, str) or not v for v in out):
        raise BadInput(f"{what} must be column names (non-empty strings), got {shown(value)}.")
    return out


def count(value: Any, name: str, *, zero: bool = False, maximum: int | None = None) -> int:
    """A whole number >= 1 (>= 0 with ``zero=True``), at most ``maximum``."""
    least = 0 if zero else 1
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok and isinstance(value, str) and value.strip().lstrip("+").isdigit():
        value, ok = int(value), True
    if not ok or value < least or (maximum is not None and value > maximum):
        most = f" and at most {maximum}" if maximum is not None else ""
        raise BadInput(f"{name} must be a whole number >= {least}{most}, got {shown(value)}.")
    return int(value)


def mapping(value: Any, name: str) -> dict[str, Any]:
    """``None`` or a mapping with string keys → a dict (``metrics=``, ``tags=``, ``secrets=`` ...)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadInput(f"{name} must be a dict of name -> value, got {shown(value)} ({type(value).__name__}).")
    for key in value:
        if not isinstance(key, str) or not key.strip():
            raise BadInput(f"Each key of {name} must be a non-empty string, got {shown(key)}.")
    return dict(value)


def sequence(value: Any, name: str, *, of: tuple[type, ...] = (str,), single: bool = True) -> list[Any]:
    """``None``, one item (when ``single``) or a list/tuple of items of the types ``of`` → a list."""
    if value is None:
        return []
    if single and isinstance(value, of):
        return [value]
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise BadInput(f"{name} must be a list of {_kinds(of)}, got {shown(value)} ({type(value).__name__}).")
    for item in value:
        if not isinstance(item, of) or (isinstance(item, str) and not item.strip()):
            raise BadInput(f"Each item of {name} must be a non-empty {_kinds(of)}, got {shown(item)}.")
    return list(value)


def text(value: Any, name: str, *, limit: int = 5000, empty: bool = True) -> str:
    """A free-text value stored in MLflow (description, notebook path): a string of at most ``limit``."""
    if not isinstance(value, str):
        raise BadInput(f"{name} must be a string, got {shown(value)} ({type(value).__name__}).")
    if not empty and not value.strip():
        raise BadInput(f"{name} must not be empty.")
    if len(value) > limit:
        raise BadInput(f"{name} is {len(value)} characters long; MLflow keeps at most {limit}.")
    if "\x00" in value:
        raise BadInput(f"{name} holds a NUL character, got {shown(value)}.")
    return value


def existing_file(value: Any, what: str) -> Any:
    """A path (str or os.PathLike) to an existing file → ``pathlib.Path``; BadInput otherwise."""
    import os
    from pathlib import Path

    if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        raise BadInput(f"The {what} must be a file path, got {shown(value)} ({type(value).__name__}).")
    path = Path(value)
    try:
        found = path.is_file()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        found = False
    if not found:
        raise BadInput(f"The {what} {shown(str(value))} does not exist or is not a file.")
    return path


def seed(value: Any, name: str = "seed") -> int | None:
    """A random seed: ``None`` or a whole number >= 0."""
    return None if value is None else count(value, name, zero=True, maximum=2**63 - 1)


def duration(value: Any, name: str = "window") -> Any:
    """``"1h"``, ``"30min"``, ``"1D"``, ``"7D"`` → a positive ``pandas.Timedelta``.

    A bare number is refused (pandas would read ``"1"`` as one nanosecond), and so is a duration
    that is not positive (``"0D"``, ``"-1h"``), each with its own message.
    """
    import pandas as pd

    example = "use a duration with a unit such as '1h', '30min', '1D' or '7D'"
    if isinstance(value, pd.Timedelta) and value is not pd.NaT:
        td = value
    elif isinstance(value, str) and value.strip() and not _is_number(value):
        try:
            td = pd.Timedelta(value.strip())
        except (TypeError, ValueError, OverflowError):
            raise BadInput(f"Cannot parse the {name} {shown(value)}; {example}.") from None
        if pd.isna(td):  # "nat" parses to NaT
            raise BadInput(f"Cannot parse the {name} {shown(value)}; {example}.")
    elif isinstance(value, (str, numbers.Real)):
        raise BadInput(f"The {name} {shown(value)} has no unit; {example}.")
    else:
        raise BadInput(f"The {name} must be a duration string, got {shown(value)} ({type(value).__name__}); "
                       f"{example}.")
    if td <= pd.Timedelta(0):
        raise BadInput(f"The {name} must be a positive duration, got {shown(value)}; {example}.")
    return td


def path_name(value: Any, what: str) -> str:
    """A name that becomes part of a file path or an MLflow key: no separators, no ``..``."""
    if not isinstance(value, str) or not value.strip():
        raise BadInput(f"The {what} must be a non-empty string, got {shown(value)}.")
    if len(value) > MAX_NAME:
        raise BadInput(f"The {what} {shown(value)} is {len(value)} characters long; use at most {MAX_NAME}.")
    if "/" in value or "\\" in value or value.strip(". ") == "" or ".." in value.split("/") or \
            _CONTROL.search(value) or value != value.strip():
        raise BadInput(f"Invalid {what} {shown(value)}: it becomes a folder name, so it may not contain "
                       "'/' or '\\', be '.' or '..', start or end with a space or hold control characters.")
    return value


def _kinds(types: tuple[type, ...]) -> str:
    return " or ".join("string" if t is str else t.__name__ for t in types)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _range_text(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    """What a number must be, after 'must be': 'a number in (0, 1]', 'a positive number' ..."""
    if low is not None and high is not None:
        return f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low == 0 and low_open:
        return "a positive number"
    if low is not None:
        return f"a number {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"a number {'<' if high_open else '<='} {high:g}"
    return "a number"


def stored_json(text: Any, fmt: str, what: str) -> dict[str, Any]:
    """The dict an nbtoolkit object's ``to_json`` wrote with ``"format": fmt`` (a profile, a data
    contract, a calibrator); BadInput naming ``what`` when the text is not JSON or not that format."""
    import json

    try:
        data = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise BadInput(f"Not a {what}: the text is not JSON ({exc}).") from None
    if not isinstance(data, dict) or data.get("format") != fmt:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise BadInput(f"Not an nbtoolkit {what} (format {found!r}, expected {fmt!r}).")
    return data
