"""Drift statistics on profiles (bins / category counts) and, where exactness matters, raw arrays.

Conventions (the same as Evidently's, so thresholds carry over):

- ``ks`` — two-sample Kolmogorov–Smirnov; drift when the p-value is below the threshold (0.05).
  On raw arrays the statistic is exact (sorted samples); from a stored profile it is exact at the
  profile's bin edges, so it can miss at most the largest single-bin mass (≈ 0.1% of the rows for
  the default 1000 bins; exact for integers). The p-value is scipy's asymptotic one (``kstwo`` at
  n·m/(n+m)).
- ``chisquare`` — chi-square test of homogeneity on the 2×k table of counts (exactly
  ``scipy.stats.chi2_contingency``); drift when p < threshold (0.05).
- ``psi`` — population stability index on reference-quantile bins (deciles for numeric columns,
  categories otherwise), empty bins smoothed to 1e-4; drift when PSI ≥ 0.1.
- ``jensenshannon`` — Jensen–Shannon *distance* (natural log, as ``scipy.spatial.distance``);
  drift when ≥ 0.1.
- ``wasserstein`` — Wasserstein-1 distance divided by the reference standard deviation; drift
  when ≥ 0.1. From the bins it assumes values spread evenly within a bin (steps for integers).
"""

from __future__ import annotations

from typing import Any

P_VALUE_METHODS = frozenset({"ks", "chisquare"})
METHODS = ("ks", "psi", "wasserstein", "jensenshannon", "chisquare")
DEFAULT_THRESHOLDS = {"ks": 0.05, "chisquare": 0.05, "psi": 0.1, "wasserstein": 0.1,
                      "jensenshannon": 0.1}
PSI_EPS = 1e-4
COARSE_BINS = 10
SMALL_SAMPLE = 1000  # at or below: p-value tests; above: distances (1M rows of noise stay quiet)


def auto_method(kind: str, n_reference: int, n_current: int) -> str:
    """Evidently's rule: small samples get p-value tests, large samples distances."""
    small = min(n_reference, n_current) <= SMALL_SAMPLE
    if kind in {"numeric", "text"}:
        return "ks" if small else "wasserstein"
    return "chisquare" if small else "jensenshannon"


# ------------------------------------------------------------------------------ raw arrays
def ks_exact(a: Any, b: Any) -> tuple[float, float]:
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


# ------------------------------------------------------------------------------ distributions
def proportions(counts: Any, *, eps: float = 0.0) -> Any:
    import numpy as np

    counts = np.asarray(counts, dtype="float64")
    total = counts.sum()
    p = counts / total if total else np.zeros_like(counts)
    return np.clip(p, eps, None) if eps else p


def psi(reference_counts: Any, current_counts: Any) -> float:
    """Population stability index: Σ (c − r) · ln(c / r) on smoothed proportions."""
    import numpy as np

    r = proportions(reference_counts, eps=PSI_EPS)
    c = proportions(current_counts, eps=PSI_EPS)
    return float(np.sum((c - r) * np.log(c / r)))


def jensenshannon(reference_counts: Any, current_counts: Any) -> float:
    """Jensen–Shannon distance (square root of the divergence, natural log)."""
    import numpy as np

    p, q = proportions(reference_counts), proportions(current_counts)
    m = (p + q) / 2

    def kl(a: Any, b: Any) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log(a[mask] / b[mask])))

    return float(np.sqrt(max(0.0, (kl(p, m) + kl(q, m)) / 2)))


def chisquare(reference_counts: Any, current_counts: Any) -> tuple[float, float]:
    """Chi-square test of homogeneity (``scipy.stats.chi2_contingency``) on two count vectors."""
    import numpy as np
    from scipy.stats import chi2_contingency

    table = np.vstack([np.asarray(reference_counts, "float64"), np.asarray(current_counts, "float64")])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    result = chi2_contingency(table)
    return float(result.statistic), float(result.pvalue)


# ------------------------------------------------------------------------------ binned numerics
def cdf_at_edges(counts: Any) -> Any:
    """CDF at each edge from bin counts ``[(-inf,e0], (e0,e1], ..., (eK,inf)]``."""
    import numpy as np

    counts = np.asarray(counts, dtype="float64")
    total = counts.sum()
    return np.cumsum(counts[:-1]) / total if total else np.zeros(len(counts) - 1)


def ks_binned(ref: dict[str, Any], cur: dict[str, Any]) -> tuple[float, float]:
    import numpy as np

    d = float(np.abs(cdf_at_edges(ref["counts"]) - cdf_at_edges(cur["counts"])).max())
    return d, ks_p_value(d, ref["n"], cur["n"])


def wasserstein_binned(ref: dict[str, Any], cur: dict[str, Any]) -> float:
    """W1 between two profiles on the same edges, divided by the reference std."""
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
    def below(p: dict[str, Any]) -> float:
        return (p["counts"][0] * edges[0] - p["tails"][0]) / p["n"] if p["n"] else 0.0

    def above(p: dict[str, Any]) -> float:
        return (p["tails"][1] - p["counts"][-1] * edges[-1]) / p["n"] if p["n"] else 0.0

    w = inner + abs(below(cur) - below(ref)) + abs(above(cur) - above(ref))
    return w / reference_std(ref)


def reference_std(ref: dict[str, Any]) -> float:
    import math

    std = math.sqrt(ref["m2"] / ref["n"]) if ref["n"] else 0.0
    return std if std > 0 else 1.0


def coarse_groups(reference_counts: Any, n_groups: int = COARSE_BINS) -> Any:
    """Start indices grouping fine bins into ~``n_groups`` reference-quantile bins."""
    import numpy as np

    counts = np.asarray(reference_counts, dtype="float64")
    cum = np.cumsum(counts) / counts.sum()
    cuts = np.searchsorted(cum, np.arange(1, n_groups) / n_groups, side="left") + 1
    starts = np.unique(np.concatenate([[0], cuts]))
    return starts[starts < len(counts)]


def discrete_cdf(ref: dict[str, Any], cur: dict[str, Any]) -> tuple[Any, Any, Any]:
    """Aligned values and the two CDFs of discrete (few-valued numeric) profiles."""
    import numpy as np

    values = np.union1d(np.asarray(ref["values"], "float64"), np.asarray(cur["values"], "float64"))
    def dense(p: dict[str, Any]) -> Any:
        out = np.zeros(len(values))
        out[np.searchsorted(values, np.asarray(p["values"], "float64"))] = p["counts"]
        return np.cumsum(out) / max(out.sum(), 1)
    return values, dense(ref), dense(cur)


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
