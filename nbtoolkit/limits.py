"""Reference-learned alert limits, described once.

A statistic measured per chunk (a drift statistic, a reconstruction error, an estimated metric, a
missing-value rate) alerts when it leaves the mean ± ``k`` standard deviations of its values over
the reference chunks — NannyML's convention (population standard deviation, ``ddof=0``). Every
timeline in nbtoolkit learns its limits here, and calls ``k`` by one name: ``threshold_sd``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from .errors import BadInput

DEFAULT_SD = 3.0
MIN_REFERENCE_CHUNKS = 2


def sd_multiplier(value: object, name: str = "threshold_sd") -> float:
    """``value`` as a positive number of standard deviations, or one BadInput line."""
    try:
        k = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        k = math.nan
    if not (k > 0 and math.isfinite(k)):
        raise BadInput(f"{name} must be a positive number of standard deviations, got {value!r}.")
    return k


def reference_limits(values: Iterable[float], k: float, *, lower: bool = True, upper: bool = True,
                     floor: float | None = None, ceiling: float | None = None) -> tuple[float | None, float | None]:
    """(lower, upper) = mean ∓/± ``k`` sd of the finite ``values``; ``None`` for a side not wanted, or
    both ``None`` when fewer than two finite values exist. ``floor``/``ceiling`` clip a limit to the
    statistic's range (an accuracy's lower limit is not below 0)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if len(finite) < MIN_REFERENCE_CHUNKS:
        return (None, None)
    mean = math.fsum(finite) / len(finite)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in finite) / len(finite))
    low = mean - k * sd if lower else None
    high = mean + k * sd if upper else None
    if low is not None and floor is not None:
        low = max(floor, low)
    if high is not None and ceiling is not None:
        high = min(ceiling, high)
    return (low, high)


def outside(value: float, limits: tuple[float | None, float | None]) -> bool:
    """Whether a finite ``value`` leaves ``limits`` (a NaN value never alerts)."""
    low, high = limits
    if value is None or not math.isfinite(value):
        return False
    return bool((low is not None and value < low) or (high is not None and value > high))
