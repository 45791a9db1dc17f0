"""Compare one column's reference and current profiles: pick the statistic (:mod:`nbtoolkit.profiles.methods`),
compute it, plot data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import BadInput
from ..reports.drift import DriftColumn
from ..profiles import methods, stats
from ..profiles.bins import edges_of
from ..profiles.methods import STATISTICS, numbers_of, size

MISSING = "missing"  # the method of a column the reference has values for and the current data has none
PLOT_BINS = 30
PLOT_CATEGORIES = 20


def skipped(name: str, kind: str, reason: str) -> DriftColumn:
    return DriftColumn.skipped(name, kind, reason)


def compare_column(name: str, ref: dict[str, Any], cur: dict[str, Any], *, method: str,
                   explicit: bool, threshold: float | None, raw: Callable[[], tuple[Any, Any] | None] | None = None,
                   label: str | None = None) -> DriftColumn:
    """One row of the drift report for column ``name``.

    ``method`` is ``auto`` or a statistic of :data:`~nbtoolkit.profiles.methods.STATISTICS`;
    ``explicit`` says whether the user named it for this very column (then a statistic that does
    not apply is an error, otherwise the column gets the statistic's ``instead``). ``raw`` holds
    the finite raw values of both sides when available (a callable, so they are only extracted
    for a statistic with an ``exact`` form: KS).

    A column the reference has values for but whose every current value is missing (or infinite)
    is drifted, with method :data:`MISSING`: its statistic is the current share of missing values
    and its threshold the reference's — no distribution test applies, and "no drift" would hide
    that the column stopped arriving.
    """
    kind = label or ref["kind"]
    for side, entry in (("reference", ref), ("current data", cur)):
        if entry["kind"] == "skipped" or (entry["kind"] == "empty" and side == "reference"):
            reason = entry.get("reason", "no values")
            return skipped(name, kind, f"{reason} (in the {side})" if entry["kind"] == "empty" else reason)
    if cur["kind"] == "empty":
        return _all_missing(name, kind, ref, cur)
    full_ref, full_cur = ref, cur
    missing = {"missing_reference": _missing_share(ref), "missing_current": _missing_share(cur),
               **quality(ref, cur)}
    note = "length in characters (free text)" if ref["kind"] == "text" else ""
    ref, cur = dict(numbers_of(ref)), dict(numbers_of(cur))
    n_ref, n_cur = size(ref), size(cur)
    if n_cur == 0:
        return _all_missing(name, kind, full_ref, full_cur)
    chosen = method
    if method == "auto":
        chosen = methods.auto(ref["kind"], n_ref, n_cur)
        why = "n ≤ 1000, p-value test" if chosen in methods.P_VALUE_METHODS else "n > 1000, distance"
        note = _join(note, f"auto: {why}")
    elif not STATISTICS[chosen].applies_to(ref["kind"]):
        if explicit:
            raise BadInput(methods.numeric_only_message(chosen, name, ref["kind"]))
        chosen, note = str(STATISTICS[chosen].instead), _join(note, f"{method} does not apply to categories")
    stat = STATISTICS[chosen]
    limit = float(threshold) if threshold is not None else stat.threshold
    if stat.limits == "p_value" and not 0 < limit < 1:  # method="auto" chose a p-value test
        raise BadInput(f"Drift threshold {limit:g} cannot be a p-value limit, but column {name!r} is tested "
                       f"with {chosen} (auto: at most 1000 rows); give a threshold in (0, 1) such as 0.05, "
                       "or a distance method (method='wasserstein' or 'psi').")
    pair = raw() if stat.exact is not None and raw is not None else None
    statistic, p_value = stat.exact(*pair) if stat.exact is not None and pair is not None else stat.test(ref, cur)
    return DriftColumn(column=name, type=kind, method=chosen, statistic=float(statistic),
                       p_value=None if p_value is None else float(p_value), threshold=limit,
                       drifted=stat.drifted(statistic, p_value, limit), note=note, plot=_plot(ref, cur),
                       n_reference=int(n_ref), n_current=int(n_cur), **missing)


def _all_missing(name: str, kind: str, ref: dict[str, Any], cur: dict[str, Any]) -> DriftColumn:
    entry = ref["length"] if ref["kind"] == "text" else ref
    n_ref = size(entry)
    absent = ref.get("missing", 0) + entry.get("inf", 0)
    share = absent / max(n_ref + absent, 1)
    what = "missing or infinite" if cur.get("inf") else "missing"
    nothing: dict[str, Any] = ({"unseen_values": 0, "unseen_rate": 0.0} if ref["kind"] in {"categorical", "boolean"}
               else {"out_of_range_rate": 0.0} if ref["kind"] in {"numeric", "discrete"} else {})
    return DriftColumn(column=name, type=kind, method=MISSING, statistic=1.0, p_value=None, threshold=share,
                       drifted=True, note=f"every current value is {what} (reference: {share:.1%} missing); "
                       "no distribution to compare", plot=None, n_reference=int(n_ref), n_current=0,
                       missing_reference=share, missing_current=1.0, **nothing)


def quality(ref: dict[str, Any], cur: dict[str, Any]) -> dict[str, Any]:
    """What the current profile (built ``like=`` the reference) says beyond the distribution:
    categories the reference never had (``unseen_values`` distinct ones, ``unseen_rate`` of the
    current rows) or the share of rows outside the reference ``[min, max]`` (``out_of_range_rate``;
    None from a current profile built before it was counted, or against another range)."""
    kind = ref["kind"]
    rows = size(cur) + cur.get("missing", 0) + cur.get("inf", 0)
    if not rows or cur["kind"] != kind:
        return {}
    if kind in {"categorical", "boolean"}:
        new = {k: v for k, v in cur["counts"].items() if k not in ref["counts"] and v}
        return {"unseen_values": len(new), "unseen_rate": sum(new.values()) / rows}
    if kind == "discrete":
        low, high = min(ref["values"], default=0.0), max(ref["values"], default=0.0)
        count = sum(c for v, c in zip(cur["values"], cur["counts"]) if v < low or v > high)
        return {"out_of_range_rate": count / rows}
    beyond = cur.get("outside")
    if kind == "numeric" and beyond is not None and (beyond["min"], beyond["max"]) == (ref["min"], ref["max"]):
        return {"out_of_range_rate": (beyond["below"] + beyond["above"]) / rows}
    return {}


def _missing_share(full: dict[str, Any]) -> float:
    """The share of a column's rows that are missing or infinite (its profile entry)."""
    entry = full["length"] if full["kind"] == "text" else full
    absent = full.get("missing", 0) + entry.get("inf", 0)
    return absent / max(size(entry) + absent, 1)


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


def _plot(ref: dict[str, Any], cur: dict[str, Any]) -> dict[str, Any]:
    """What the report draws for a column: a histogram (numbers) or bars (values, categories)."""
    import numpy as np

    if ref["kind"] == "numeric":
        rc, cc = np.asarray(ref["counts"]), np.asarray(cur["counts"])
        edges = edges_of(ref)
        cuts = [float(edges[s - 1]) for s in stats.coarse_groups(rc)[1:]]
        return {"kind": "hist", "bins": cuts, **_histogram(edges, rc, cc)}
    if ref["kind"] == "discrete":
        return _discrete_plot(ref, cur)
    return _categorical_plot(ref, cur)


def _histogram(edges: Any, rc: Any, cc: Any) -> dict[str, Any]:
    """Reference and current proportions on ~30 equal-width bins (fine bins grouped by midpoint)."""
    import numpy as np

    lo, hi = float(edges[0]), float(edges[-1])
    plot_edges = np.linspace(lo, hi, PLOT_BINS + 1) if hi > lo else np.array([lo - 0.5, lo + 0.5])
    mids = np.concatenate([[lo], (edges[:-1] + edges[1:]) / 2, [hi]])  # one per fine bin
    which = np.clip(np.searchsorted(plot_edges, mids, side="right") - 1, 0, len(plot_edges) - 2)
    n = len(plot_edges) - 1
    r = np.bincount(which, weights=rc, minlength=n)
    c = np.bincount(which, weights=cc, minlength=n)
    return {"edges": plot_edges.tolist(),
            "reference": (r / max(r.sum(), 1)).round(6).tolist(),
            "current": (c / max(c.sum(), 1)).round(6).tolist()}


# ------------------------------------------------------------------------------ discrete numerics
def _discrete_plot(ref: dict[str, Any], cur: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    values, fr, fc = stats.discrete_cdf(ref, cur)
    r, c = np.diff(np.concatenate([[0], fr])), np.diff(np.concatenate([[0], fc]))
    labels = [_label(v) for v in values]
    return {"kind": "bar", "labels": labels, "reference": r.round(6).tolist(), "current": c.round(6).tolist()}


def _label(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


# ------------------------------------------------------------------------------ categories
def _categorical_plot(ref: dict[str, Any], cur: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    rcounts, ccounts = ref["counts"], cur["counts"]
    levels = sorted(rcounts, key=lambda k: -rcounts[k]) + sorted(
        (k for k in ccounts if k not in rcounts), key=lambda k: -ccounts[k])
    r = np.array([rcounts.get(k, 0) for k in levels], dtype="float64")
    c = np.array([ccounts.get(k, 0) for k in levels], dtype="float64")
    rp, cp = stats.proportions(r), stats.proportions(c)
    top = np.argsort(-np.maximum(rp, cp), kind="stable")[:PLOT_CATEGORIES]
    top = np.sort(top)
    labels = [levels[i] for i in top]
    ref_p, cur_p = rp[top].tolist(), cp[top].tolist()
    if len(levels) > PLOT_CATEGORIES:
        labels.append("(other)")
        ref_p.append(float(1 - sum(ref_p)))
        cur_p.append(float(1 - sum(cur_p)))
    unseen = [k for k in ccounts if k not in rcounts]
    return {"kind": "bar", "labels": labels, "reference": [round(v, 6) for v in ref_p],
            "current": [round(v, 6) for v in cur_p], "unseen": unseen[:20]}
