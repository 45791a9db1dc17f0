"""``rank()``: which drifting columns matter — NannyML's AlertCountRanker and CorrelationRanker.

- ``rank(timeline)``: the columns of a drift timeline (``nbt.drift(..., chunk_size=N)``) by the
  number of analysis chunks in which they drifted (ties: the larger peak statistic / threshold
  ratio, then the name).
- ``rank(timeline, estimation)``: by the Pearson correlation, over the analysis chunks, between a
  column's drift statistic and the absolute change of the estimated performance from the
  reference's (the mean realised value of ``metric`` over the reference chunks; NannyML's
  CorrelationRanker fits on the reference's performance the same way). A column whose drift moves
  with the performance drop comes first. ``performance="realised"`` uses the realised values
  instead, where the analysis has its labels. The timeline and the estimate must be chunked the
  same way (same chunk keys, in order).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..errors import BadInput, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    from ..reports.ranking import DriftRanking

MIN_CHUNKS = 3  # a correlation over fewer chunks says nothing


def rank(timeline: Any, estimation: Any = None, *, metric: str | None = None, performance: str = "estimate",
         only_drifting: bool = False) -> DriftRanking:
    """Rank the columns of a drift timeline by alert count, or by correlation with the performance change.

    Parameters
    ----------
    timeline : DriftTimeline
        Drift over time: ``nbt.drift(analysis, reference, chunk_size=N)`` (or ``chunk_number=``, ``window=``).
    estimation : EstimationResult, optional
        ``nbt.estimate(reference, analysis, ..., chunk_size=N)`` chunked as ``timeline``; given, the
        columns are ranked by correlation with its performance change, else by alert count.
    metric : the estimated metric to correlate with (default: the estimate's first).
    performance : ``"estimate"`` (default) or ``"realised"`` (where the analysis has labels).
    only_drifting : leave out the columns that never drifted.

    Returns
    -------
    DriftRanking: ``.to_frame()`` (rank, column, method, alerts, chunks, drifted, correlation,
    p_value), ``.columns`` in rank order.
    """
    from ..reports.drift_timeline import DriftTimeline
    from ..reports.estimation import EstimationResult
    from ..reports.ranking import DriftRanking

    if not isinstance(timeline, DriftTimeline):
        raise BadInput(f"rank() needs drift over time, nbt.drift(analysis, reference, chunk_size=N), got "
                       f"{type(timeline).__name__}; a drift report of one frame has no chunks to count.")
    if estimation is not None and not isinstance(estimation, EstimationResult):
        raise BadInput(f"estimation must be the result of nbt.estimate(...), got {type(estimation).__name__}.")
    if performance not in ("estimate", "realised"):
        raise BadInput(f"performance must be 'estimate' or 'realised', got {performance!r}.")
    if not isinstance(only_drifting, bool):
        raise BadInput(f"only_drifting must be True or False, got {only_drifting!r}.")
    if metric is not None and estimation is None:
        raise BadInput(f"metric={metric!r} names a metric of an estimate; pass the estimate too: "
                       "rank(timeline, estimation, metric=...).")

    current = [r for r in timeline.rows if r["period"] == "current"]
    keys = list(dict.fromkeys(r["chunk"] for r in current))
    rows: list[dict[str, Any]] = []
    for column in timeline.columns:
        mine = [r for r in current if r["column"] == column]
        peaks = [r["statistic"] / r["threshold"] for r in mine if _finite(r.get("statistic"))
                 and _finite(r.get("threshold")) and r["threshold"] > 0]
        rows.append({"column": column, "method": mine[0]["method"] if mine else None,
                     "alerts": sum(bool(r["drifted"]) for r in mine), "chunks": len(mine),
                     "drifted": any(bool(r["drifted"]) for r in mine), "correlation": math.nan,
                     "p_value": math.nan, "_peak": max(peaks, default=0.0),
                     "_values": {r["chunk"]: r.get("statistic") for r in mine}})
    notes: list[str] = []
    by, reference_value = "alerts", None
    if estimation is not None:
        by = "correlation"
        metric, change, reference_value = _performance_change(estimation, metric, performance, keys)
        for row in rows:
            row["correlation"], row["p_value"] = _pearson([row["_values"].get(k) for k in keys], change)
        if sum(_finite(c) for c in change) < MIN_CHUNKS:
            notes.append(f"Fewer than {MIN_CHUNKS} analysis chunks have a {performance} {metric}; "
                         "no correlation computed.")
        rows.sort(key=lambda r: (-r["correlation"] if _finite(r["correlation"]) else math.inf, -r["alerts"],
                                 r["column"]))
    else:
        rows.sort(key=lambda r: (-r["alerts"], -r["_peak"], r["column"]))
    if only_drifting:
        rows = [r for r in rows if r["drifted"]]
    for i, row in enumerate(rows, 1):
        row["rank"] = i
        del row["_peak"], row["_values"]
    return DriftRanking(rows=rows, by=by, metric=metric, performance=performance if estimation is not None else None,
                        reference_value=reference_value, notes=notes)


def _performance_change(estimation: Any, metric: str | None, performance: str,
                        keys: list[Any]) -> tuple[str, list[float], float]:
    """(metric, |value − reference mean| per timeline chunk, reference mean)."""
    if metric is None:
        metric = estimation.metrics[0]
    elif metric not in estimation.metrics:
        raise BadInput(f"The estimate has no metric {metric!r}; it has {', '.join(estimation.metrics)}."
                       + did_you_mean(str(metric), estimation.metrics))
    method = "shift" if estimation.method == "auto" else estimation.method
    rows = [r for r in estimation.rows if r["metric"] == metric and r.get("method", method) == method]
    analysis = {r["chunk"]: r[performance] for r in rows if r["period"] == "analysis"}
    if list(analysis) != keys:
        raise BadInput(f"The estimate's analysis chunks ({len(analysis)}, e.g. {_first(analysis)}) are not the "
                       f"timeline's ({len(keys)}, e.g. {_first(keys)}); chunk both the same way "
                       "(the same chunk_size, chunk_number or window, on the same analysis rows).")
    ref = [r["realised"] for r in rows if r["period"] == "reference" and _finite(r["realised"])]
    if not ref:
        raise BadInput(f"The estimate has no reference chunks with a realised {metric}; it needs its labelled "
                       "reference chunked (a reference at least one chunk long).")
    mean = math.fsum(ref) / len(ref)
    return metric, [abs(v - mean) if _finite(v) else math.nan for v in analysis.values()], mean


def _pearson(x: list[Any], y: list[float]) -> tuple[float, float]:
    """Pearson r and its p-value over the chunks where both are finite (NaN when undefined)."""
    import numpy as np
    from scipy import stats

    pairs = [(float(a), float(b)) for a, b in zip(x, y) if _finite(a) and _finite(b)]
    if len(pairs) < MIN_CHUNKS:
        return math.nan, math.nan
    a, b = np.array(pairs).T
    if np.ptp(a) == 0 or np.ptp(b) == 0:  # a constant has no correlation
        return math.nan, math.nan
    r, p = stats.pearsonr(a, b)
    return float(r), float(p)


def _finite(value: Any) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _first(keys: Any) -> str:
    keys = list(keys)
    return repr(str(keys[0])) if keys else "none"
