"""The drift statistics, each declared once: what it applies to, how it compares two profile entries,
its default threshold and which number that threshold limits.

:data:`STATISTICS` is the one list. ``drift()`` (one comparison, :mod:`nbtoolkit.drift.columns`) and
drift over time (:mod:`nbtoolkit.drift.timeline`) both call :meth:`Statistic.compare` /
:meth:`Statistic.test`; the timeline's fast path calls the same count function on a chunks × bins
matrix. The ``method=`` / ``--method`` choices, their checks and the table on docs/data.md are
read from here. A new statistic is one :class:`Statistic` below; tests/test_drift_registry.py then
checks, for it too, that a single comparison and a one-chunk timeline give the same number.

Conventions (Evidently's, so thresholds carry over): ``ks`` and ``chisquare`` are tests, drifted
when the p-value is below the threshold (0.05); the others are distances, drifted at or above it
(0.1). Over time every statistic is limited from above (learned from the reference chunks).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import BadInput, did_you_mean
from . import stats

Entry = Mapping[str, Any]  # one column's profile entry (see .column)

NUMBERS = frozenset({"numeric", "discrete", "text"})  # text: its length in characters is a number
CATEGORIES = frozenset({"categorical", "boolean"})
SMALL_SAMPLE = 1000  # drift()'s auto: at or below, p-value tests; above, distances (1M rows of noise stay quiet)


@dataclass(frozen=True)
class Statistic:
    """One drift statistic.

    ``counts`` computes it from aligned count vectors (last axis: bins; rows: one pair each) —
    numeric columns on the profile's fine bins or on reference deciles (``bins``); ``entries``
    instead, when it needs more than counts (Wasserstein: bin edges, tails, the reference std).
    ``threshold`` limits the p-value (``p_value`` given; drifted below it) or the statistic
    (drifted at or above it). ``exact`` refines it from raw values when drift() has both frames;
    ``instead`` is what a categorical column gets when the statistic was asked for every column.
    """

    name: str
    title: str
    kinds: frozenset[str]
    threshold: float
    limits: Literal["p_value", "statistic"]
    counts: Callable[[Any, Any], Any] | None = None
    bins: Literal["fine", "coarse"] = "coarse"
    entries: Callable[[Entry, Entry], float] | None = None
    p_value: Callable[[float, Any, Any], float] | None = None
    exact: Callable[[Any, Any], tuple[float, float]] | None = None
    instead: str | None = None
    about: str = ""

    def __post_init__(self) -> None:
        if (self.counts is None) == (self.entries is None):
            raise TypeError(f"{self.name}: give counts= or entries=, one of them")
        if (self.limits == "p_value") != (self.p_value is not None):
            raise TypeError(f"{self.name}: a threshold on the p-value needs p_value= (and only then)")
        if self.p_value is not None and self.counts is None:
            raise TypeError(f"{self.name}: p_value= reads the aligned counts; give counts=")

    def applies_to(self, kind: str) -> bool:
        return kind in self.kinds

    def compare(self, ref: Entry, cur: Entry) -> float:
        """The statistic of ``cur`` against ``ref`` (entries of one column, ``cur`` profiled
        ``like=ref``); NaN when ``cur`` has no values."""
        ref, cur = numbers_of(ref), numbers_of(cur)
        if not size(cur) or not size(ref):
            return math.nan
        if self.entries is not None:
            return float(self.entries(ref, cur))
        assert self.counts is not None
        r, c = aligned(ref, cur, bins=self.bins)
        return float(self.counts(r, c))

    def test(self, ref: Entry, cur: Entry) -> tuple[float, float | None]:
        """The statistic and, for a test, its p-value."""
        if self.p_value is None:
            return self.compare(ref, cur), None
        assert self.counts is not None
        r, c = aligned(numbers_of(ref), numbers_of(cur), bins=self.bins)
        value = float(self.counts(r, c))
        return value, self.p_value(value, r, c)

    def drifted(self, statistic: float, p_value: float | None, threshold: float) -> bool:
        """The single comparison's verdict with ``threshold`` (a p-value limit or a distance)."""
        if self.limits == "p_value":
            return p_value is not None and p_value < threshold
        return statistic >= threshold


STATISTICS: dict[str, Statistic] = {s.name: s for s in (
    Statistic("ks", "Kolmogorov–Smirnov D", NUMBERS, 0.05, "p_value",
              counts=stats.ks_rows, bins="fine", p_value=stats.ks_counts_p_value, exact=stats.ks_exact,
              instead="chisquare",
              about="exact on raw data (as `scipy.stats.ks_2samp`); from a profile exact at its 1000 bin "
                    "edges (off by at most one bin's share); asymptotic p-value"),
    Statistic("psi", "population stability index", NUMBERS | CATEGORIES, 0.1, "statistic",
              counts=stats.psi_rows,
              about="on reference deciles (numbers) or categories, empty bins floored at 1e-4"),
    Statistic("wasserstein", "Wasserstein-1 distance / reference std", NUMBERS, 0.1, "statistic",
              entries=lambda ref, cur: (stats.wasserstein_discrete(ref, cur) if ref["kind"] == "discrete"
                                        else stats.wasserstein_binned(ref, cur)),
              instead="jensenshannon",
              about="from the bins, values spread evenly within a bin (steps for integers)"),
    Statistic("jensenshannon", "Jensen–Shannon distance", NUMBERS | CATEGORIES, 0.1, "statistic",
              counts=stats.jensenshannon_rows,
              about="natural log, as `scipy.spatial.distance.jensenshannon`; reference deciles for numbers"),
    Statistic("chisquare", "chi-square statistic", NUMBERS | CATEGORIES, 0.05, "p_value",
              counts=stats.chisquare_rows, p_value=stats.chisquare_p_value,
              about="test of homogeneity on the 2×k counts, as `scipy.stats.chi2_contingency`"),
)}
METHODS: tuple[str, ...] = tuple(STATISTICS)
CHOICES: tuple[str, ...] = ("auto", *METHODS)  # what method= / --method accept
P_VALUE_METHODS = frozenset(s.name for s in STATISTICS.values() if s.limits == "p_value")


def check_method(method: Any, column: str | None = None) -> str:
    """``method`` if it is ``auto`` or a registered statistic; else one BadInput line."""
    if method not in CHOICES:
        where = f" for column {column!r}" if column else ""
        raise BadInput(f"Unknown drift method {method!r}{where}; use one of {', '.join(CHOICES)}."
                       + (did_you_mean(method, CHOICES) if isinstance(method, str) else ""))
    return str(method)


def numeric_only_message(method: str, name: str, kind: str) -> str:
    usable = ", ".join(m for m, s in STATISTICS.items() if s.applies_to(kind))
    return f"Method {method!r} needs a numeric column, but {name!r} is {kind}; use {usable}."


# ------------------------------------------------------------------------------ auto
def auto(kind: str, n_reference: int, n_current: int) -> str:
    """drift()'s choice (Evidently's rule): small samples get p-value tests, large samples distances."""
    small = min(n_reference, n_current) <= SMALL_SAMPLE
    if kind in {"numeric", "text"}:
        return "ks" if small else "wasserstein"
    return "chisquare" if small else "jensenshannon"


def auto_over_time(kind: str) -> str:
    """Drift over time's choice (NannyML's univariate drift): KS for numbers, chi-square for categories."""
    return "ks" if kind in NUMBERS else "chisquare"


# ------------------------------------------------------------------------------ entries -> counts
def numbers_of(entry: Entry) -> Entry:
    """A free-text column is compared by its length in characters: the entry of the lengths."""
    return entry["length"] if entry["kind"] == "text" else entry


def size(entry: Entry) -> int:
    """Values an entry counts (missing ones left out); 0 for an empty or skipped column."""
    kind = entry["kind"]
    if kind == "text":
        return size(entry["length"])
    if kind == "numeric":
        return int(entry["n"])
    if kind in {"discrete", "categorical", "boolean"}:
        counts = entry["counts"]
        return int(sum(counts.values()) if isinstance(counts, Mapping) else sum(counts))
    return 0


def aligned(ref: Entry, cur: Entry, *, bins: str = "coarse") -> tuple[Any, Any]:
    """The counts of two entries of one column on common bins: numbers on the profile's bins
    (``fine``) or grouped into reference deciles (``coarse``); few-valued numbers on every value
    either side has; categories on the reference's levels, then those only the current data has."""
    import numpy as np

    kind = ref["kind"]
    if kind == "numeric":
        r, c = np.asarray(ref["counts"], "float64"), np.asarray(cur["counts"], "float64")
        if bins == "coarse":
            starts = stats.coarse_groups(r)
            r, c = np.add.reduceat(r, starts), np.add.reduceat(c, starts)
        return r, c
    if kind == "discrete":
        _, r, c = stats.discrete_values(ref, cur)
        return r, c
    rcounts, ccounts = ref["counts"], cur["counts"]
    levels = list(rcounts) + [k for k in ccounts if k not in rcounts]
    return (np.array([rcounts.get(k, 0) for k in levels], dtype="float64"),
            np.array([ccounts.get(k, 0) for k in levels], dtype="float64"))


# ------------------------------------------------------------------------------ docs
def describe_thresholds() -> str:
    """``p-value (ks, chisquare; default 0.05) or distance (...; default 0.1)``, for help texts."""
    parts = []
    for limits, word in (("p_value", "p-value"), ("statistic", "distance")):
        group: dict[float, list[str]] = {}
        for s in STATISTICS.values():
            if s.limits == limits:
                group.setdefault(s.threshold, []).append(s.name)
        parts += [f"{word} ({', '.join(names)}; default {t:g})" for t, names in group.items()]
    return " or ".join(parts)


def markdown_table() -> str:
    """The table of statistics on docs/data.md (tests/test_drift_registry.py keeps them the same)."""
    lines = ["| `method=` | statistic | columns | default threshold | notes |", "| --- | --- | --- | --- | --- |"]
    for s in STATISTICS.values():
        columns = "numbers and categories" if s.kinds >= CATEGORIES else "numbers only"
        limit = f"p-value < {s.threshold:g}" if s.limits == "p_value" else f"statistic ≥ {s.threshold:g}"
        lines.append(f"| `{s.name}` | {s.title} | {columns} | {limit} | {s.about} |")
    return "\n".join(lines)
