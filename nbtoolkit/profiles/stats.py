"""The statistical functions behind the drift statistics: on count vectors, profile entries and raw arrays.

Which statistic is which, its default threshold and the column kinds it applies to are declared
once in :mod:`.methods`; this module holds the arithmetic. Count functions take the last axis as
the bins, so one call compares one pair of count vectors or every chunk of a timeline at once
(rows of a chunks × bins matrix against one reference row or as many).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike

PSI_EPS = 1e-4
COARSE_BINS = 10


# ------------------------------------------------------------------------------ raw arrays
def ks_exact(a: ArrayLike, b: ArrayLike) -> tuple[float, float]:
    """Exact two-sample KS statistic (as ``scipy.stats.ks_2samp``) and its asymptotic p-value."""
    import numpy as np

    a, b = np.sort(a), np.sort(b)
    n, m = len(a), len(b)
    # ECDF differences at every sample point, with ties counted on the right as scipy does.
    fa_at_a = np.searchsorted(a, a, side="right") / n
    fb_at_a = np.searchsorted(b, a, side="right") / m
    fa_at_b = np.searchsorted(a, b, side="right") / n
    fb_at_b = np.searchsorted(b, b, side="right") / m
    d = float(max(np.abs(fa_at_a - fb_at_a).max(), np.abs(fa_at_b - fb_at_b).max()))
    return d, ks_p_value(d, n, m)


def ks_p_value(d: float, n: int, m: int) -> float:
    from scipy.stats import kstwo

    en = round(n * m / (n + m))
    return float(min(1.0, max(0.0, kstwo.sf(d, max(en, 1)))))


# ------------------------------------------------------------------------------ counts (last axis: bins)
def proportions(counts: ArrayLike, *, eps: float = 0.0) -> np.ndarray:
    """Counts divided by their total along the last axis (an empty side: zeros), floored at ``eps``."""
    import numpy as np

    counts = np.asarray(counts, dtype="float64")
    if counts.ndim == 1:  # one pair (drift()): the plain division is the fast one
        total = counts.sum()
        p = counts / total if total else np.zeros_like(counts)
    else:
        sums = counts.sum(axis=-1, keepdims=True)
        p = np.divide(counts, sums, out=np.zeros_like(counts), where=sums > 0)
    return np.clip(p, eps, None) if eps else p


def psi_rows(reference_counts: ArrayLike, current_counts: ArrayLike) -> np.ndarray:
    """Population stability index: Σ (c − r) · ln(c / r) on proportions floored at :data:`PSI_EPS`."""
    import numpy as np

    r = proportions(reference_counts, eps=PSI_EPS)
    c = proportions(current_counts, eps=PSI_EPS)
    return np.add.reduce((c - r) * np.log(c / r), axis=-1)


def psi(reference_counts: ArrayLike, current_counts: ArrayLike) -> float:
    """:func:`psi_rows` of one pair of count vectors."""
    return float(psi_rows(reference_counts, current_counts))


def jensenshannon_rows(reference_counts: ArrayLike, current_counts: ArrayLike) -> np.ndarray:
    """Jensen–Shannon distance (square root of the divergence, natural log; an empty side has
    proportions 0, equal counts give 0 where scipy rounds to NaN)."""
    import numpy as np

    p, q = proportions(reference_counts), proportions(current_counts)
    m = (p + q) / 2

    def kl(a: Any) -> Any:  # Σ a · ln(a / m) over a > 0 (there m > 0 too; elsewhere the ratio is 1)
        terms = np.divide(a, m, out=np.ones(a.shape), where=a > 0)
        np.log(terms, out=terms)  # in place, and add.reduce rather than sum: a few µs per call count
        terms *= a
        return np.add.reduce(terms, axis=-1)

    return np.sqrt(np.maximum(0.0, (kl(p) + kl(q)) / 2))


def jensenshannon(reference_counts: ArrayLike, current_counts: ArrayLike) -> float:
    """:func:`jensenshannon_rows` of one pair of count vectors."""
    return float(jensenshannon_rows(reference_counts, current_counts))


def cdf_at_edges(counts: ArrayLike) -> np.ndarray:
    """CDF at each inner edge from bin counts ``[(-inf,e0], (e0,e1], ..., (eK,inf)]`` (last axis)."""
    import numpy as np

    counts = np.asarray(counts, dtype="float64")
    total = counts.sum(axis=-1, keepdims=True)
    cum = np.cumsum(counts[..., :-1], axis=-1)
    return np.divide(cum, total, out=np.zeros_like(cum), where=total > 0)


def ks_rows(reference_counts: ArrayLike, current_counts: ArrayLike) -> np.ndarray:
    """Kolmogorov–Smirnov D from counts: the largest CDF difference at the bin edges."""
    import numpy as np

    fr, fc = np.broadcast_arrays(cdf_at_edges(reference_counts), cdf_at_edges(current_counts))
    if fr.shape[-1] == 0:  # one bin: the two CDFs meet everywhere
        return np.zeros(fr.shape[:-1])
    return np.abs(fr - fc).max(axis=-1)


def ks_counts_p_value(d: float, reference_counts: ArrayLike, current_counts: ArrayLike) -> float:
    """:func:`ks_p_value` with the sample sizes the counts hold."""
    import numpy as np

    return ks_p_value(d, int(np.sum(reference_counts)), int(np.sum(current_counts)))


def chisquare(reference_counts: ArrayLike, current_counts: ArrayLike) -> tuple[float, float]:
    """Chi-square test of homogeneity (``scipy.stats.chi2_contingency``) on two count vectors."""
    import numpy as np
    from scipy.stats import chi2_contingency

    table = np.vstack([np.asarray(reference_counts, "float64"), np.asarray(current_counts, "float64")])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    result = chi2_contingency(table)
    return float(result.statistic), float(result.pvalue)


def chisquare_rows(reference_counts: ArrayLike, current_counts: ArrayLike) -> np.ndarray | np.float64:
    """The chi-square statistic of each row pair (:func:`chisquare`; scipy has no batched form)."""
    import numpy as np

    r, c = np.broadcast_arrays(np.asarray(reference_counts, "float64"), np.asarray(current_counts, "float64"))
    if r.ndim == 1:
        return np.float64(chisquare(r, c)[0])
    return np.array([chisquare(a, b)[0] for a, b in zip(r, c)])


def chisquare_p_value(statistic: float, reference_counts: ArrayLike, current_counts: ArrayLike) -> float:
    """The p-value ``chi2_contingency`` gives with ``statistic``: chi² survival at k − 1 degrees of
    freedom, k the bins either side has counts in (1.0 when fewer than two, or a side is empty)."""
    import numpy as np
    from scipy.stats import chi2

    r, c = np.asarray(reference_counts, "float64"), np.asarray(current_counts, "float64")
    k = int(np.count_nonzero(r + c))
    if k < 2 or not r.sum() or not c.sum():
        return 1.0
    return float(chi2.sf(statistic, k - 1))


def coarse_groups(reference_counts: ArrayLike, n_groups: int = COARSE_BINS) -> np.ndarray:
    """Start indices grouping fine bins into ~``n_groups`` reference-quantile bins."""
    import numpy as np

    counts = np.asarray(reference_counts, dtype="float64")
    cum = np.cumsum(counts) / counts.sum()
    cuts = np.searchsorted(cum, np.arange(1, n_groups) / n_groups, side="left") + 1
    starts = np.unique(np.concatenate([[0], cuts]))
    return starts[starts < len(counts)]


# ------------------------------------------------------------------------------ profile entries
def wasserstein_binned(ref: Mapping[str, Any], cur: Mapping[str, Any]) -> float:
    """W1 between two numeric profile entries on the same edges, divided by the reference std."""
    import numpy as np

    from .bins import edges_of

    edges = edges_of(ref)
    fr, fc = cdf_at_edges(ref["counts"]), cdf_at_edges(cur["counts"])
    d = fr - fc
    widths = np.diff(edges)
    d0, d1 = d[:-1], d[1:]
    a0, a1 = np.abs(d0), np.abs(d1)
    if ref.get("integer") and ref["grid"]["width"] == 1.0:
        # unit cells centred on the integers: the step CDF jumps mid-bin, so the trapezoid is exact
        inner = float(np.sum((a0 + a1) / 2 * widths))
    else:  # values spread evenly within a bin: integrate |d0 + (d1 - d0) t| exactly
        same = np.sign(d0) * np.sign(d1) >= 0
        denom = np.where(a0 + a1 > 0, a0 + a1, 1.0)
        inner = float(np.sum(np.where(same, (a0 + a1) / 2, (d0**2 + d1**2) / (2 * denom)) * widths))

    # Outer bins: ∫_{-inf}^{e0} F = Σ (e0 − x)/n over x < e0, exact from the stored sums.
    def below(p: Mapping[str, Any]) -> float:
        return float((p["counts"][0] * edges[0] - p["tails"][0]) / p["n"]) if p["n"] else 0.0

    def above(p: Mapping[str, Any]) -> float:
        return float((p["tails"][1] - p["counts"][-1] * edges[-1]) / p["n"]) if p["n"] else 0.0

    w = inner + abs(below(cur) - below(ref)) + abs(above(cur) - above(ref))
    return w / reference_std(ref)


def wasserstein_discrete(ref: Mapping[str, Any], cur: Mapping[str, Any]) -> float:
    """W1 between two discrete (few-valued) entries, divided by the reference std (1 when 0)."""
    import numpy as np

    values, fr, fc = discrete_cdf(ref, cur)
    v, n = np.asarray(ref["values"], "float64"), np.asarray(ref["counts"], "float64")
    mean = float(np.dot(v, n) / n.sum())
    std = float(np.sqrt(np.dot((v - mean) ** 2, n) / n.sum())) or 1.0
    return float(np.sum(np.abs(fr - fc)[:-1] * np.diff(values))) / std


def reference_std(ref: Mapping[str, Any]) -> float:
    import math

    std = math.sqrt(ref["m2"] / ref["n"]) if ref["n"] else 0.0
    return std if std > 0 else 1.0


def discrete_values(ref: Mapping[str, Any], cur: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    """Every value either discrete entry has, and both entries' counts on them."""
    import numpy as np

    values = np.union1d(np.asarray(ref["values"], "float64"), np.asarray(cur["values"], "float64"))

    def dense(p: Mapping[str, Any]) -> Any:
        out = np.zeros(len(values))
        out[np.searchsorted(values, np.asarray(p["values"], "float64"))] = p["counts"]
        return out

    return values, dense(ref), dense(cur)


def discrete_cdf(ref: Mapping[str, Any], cur: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    """Aligned values and the two CDFs of discrete (few-valued numeric) profiles."""
    import numpy as np

    values, r, c = discrete_values(ref, cur)
    return values, np.cumsum(r) / max(r.sum(), 1), np.cumsum(c) / max(c.sum(), 1)


# ------------------------------------------------------------------------------ corrections
def adjust(p_values: list[float], method: str | None) -> list[float]:
    """Multiple-testing adjusted p-values: ``bonferroni``, ``holm`` or ``fdr_bh`` (Benjamini–Hochberg)."""
    import numpy as np

    if not method or method == "none" or not p_values:
        return list(p_values)
    p = np.asarray(p_values, dtype="float64")
    m = len(p)
    if method == "bonferroni":
        out = p * m
    elif method == "holm":
        order = np.argsort(p)
        adj = np.maximum.accumulate(p[order] * (m - np.arange(m)))
        out = np.empty(m)
        out[order] = adj
    elif method == "fdr_bh":
        order = np.argsort(p)[::-1]
        adj = np.minimum.accumulate(p[order] * m / (m - np.arange(m)))
        out = np.empty(m)
        out[order] = adj
    else:
        raise ValueError(method)
    return np.minimum(out, 1.0).tolist()
