"""Data quality over time: missing, unseen and out-of-range rates and summary statistics per chunk.

The values and the alerts are NannyML 0.13.1's (``MissingValuesCalculator``,
``UnseenValuesCalculator``, ``NumericalRangeCalculator``, ``SummaryStats{Avg,Median,Std,Sum,Rows}``)
on the same chunks:

=================  ===========================================  =======================================
metric             value per chunk × column                     alert
=================  ===========================================  =======================================
missing_rate       share of missing values (every column)       outside reference mean ± k sd, clipped
                                                                to [0, 1]
unseen_rate        share of values not seen in the reference    any (> 0)
                   (categorical; a missing value is unseen
                   unless the reference had one)
out_of_range_rate  share outside the reference [min, max]       any (> 0)
                   (numeric; a missing value is never outside)
mean, median, std  of the non-missing values (numeric)          not strictly inside the reference mean ± k
sum                (an all-missing chunk: NaN; its sum is 0)    sd; a NaN value alerts; std's lower limit
rows               rows of the chunk (column ``(rows)``)        and rows' are dropped when ≤ 0
=================  ===========================================  =======================================

``k`` is ``threshold_sd`` (:mod:`nbtoolkit.limits`); the reference chunks are cut by the same
chunker as the analysis data (:mod:`nbtoolkit.chunking`). Categorical columns are those of dtype
object, string, category or bool (NannyML's rule); every other column is numeric.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..errors import Arg, BadInput, did_you_mean, say
from ..limits import MIN_REFERENCE_CHUNKS, outside, reference_limits, sd_multiplier

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from ..profiles import Profile
    from ..reports.quality import QualityTimeline

RATES = ("missing_rate", "unseen_rate", "out_of_range_rate")
STATISTICS = ("mean", "median", "std", "sum")
METRICS = RATES + STATISTICS + ("rows",)
ROWS = "(rows)"  # the column name of the per-chunk row count


def quality(analysis: Any, reference: Any, *, columns: Any = None, chunk_size: Any = None,
            chunk_number: Any = None, window: Any = None, timestamp: str | None = None,
            threshold_sd: float = 3.0) -> QualityTimeline:
    """Data quality of ``analysis`` per chunk, with alert limits learned on ``reference``.

    Parameters
    ----------
    analysis, reference : DataFrame
        The data to check and the data that defines normal (its values, categories and ranges).
    columns : list of str or "a,b", optional
        The columns to check (default: every column of the reference but ``timestamp``).
    chunk_size, chunk_number, window, timestamp
        How to cut both frames into chunks (:func:`nbtoolkit.chunking.chunker`; default 10 chunks).
    threshold_sd : float
        The limits are the reference chunks' mean ± ``threshold_sd`` standard deviations.

    Returns
    -------
    QualityTimeline
        Rows per period × chunk × column × metric with value, limits and ``alert``; ``.alerted``.
    """
    from ..chunking import chunker
    from ..contract import as_frame
    from ..reports.quality import QualityTimeline

    k = sd_multiplier(threshold_sd)
    cut = chunker(chunk_size=chunk_size, chunk_number=chunk_number, window=window, timestamp=timestamp)
    ref = as_frame(reference, what="reference")
    cur = as_frame(analysis, what="analysis data")
    names = _columns(columns, ref, cur, exclude=timestamp)
    if len(ref) == 0 or len(cur) == 0:
        raise BadInput(f"The {'reference' if len(ref) == 0 else 'analysis data'} has no rows; give some.")
    ref_chunks = cut.split(ref, what="reference")
    if len(ref_chunks) < MIN_REFERENCE_CHUNKS:
        raise BadInput(f"The reference gives {len(ref_chunks)} chunk ({cut.describe()}); learning limits needs at "
                       f"least {MIN_REFERENCE_CHUNKS}: use a smaller chunk_size (at most {len(ref) // 2}) or more "
                       "reference rows.")
    cur_chunks = cut.split(cur)
    learned = learn(ref, names)
    rows: list[dict[str, Any]] = []
    per_period = {"reference": measure(ref, ref_chunks, learned), "analysis": measure(cur, cur_chunks, learned)}
    limits = {key: metric_limits(key[1], values, k) for key, values in per_period["reference"].items()}
    notes: list[str] = []
    for period, chunks in (("reference", ref_chunks), ("analysis", cur_chunks)):
        values = per_period[period]
        for i, c in enumerate(chunks):
            for (column, metric), series in values.items():
                value = float(series[i])
                low, high = limits[(column, metric)]
                rows.append({"period": period, "chunk": c.key, "start": c.start, "end": c.end, "rows": c.rows,
                             "column": column, "metric": metric, "value": value, "lower": low, "upper": high,
                             "alert": alerts(metric, value, (low, high))})
            if period == "analysis":
                notes += [f"{column} in chunk {c.key}: every value is missing" for column in names
                          if values[(column, "missing_rate")][i] == 1.0]
    return QualityTimeline(rows=rows, columns=names, kinds={c: learned[c]["kind"] for c in names},
                           chunking=cut.describe(), threshold_sd=k, notes=notes,
                           n_reference=len(ref), n_analysis=len(cur))


def is_categorical(series: pd.Series) -> bool:
    """NannyML's rule: object, string, category and bool columns are categorical."""
    import pandas as pd

    dtype = series.dtype
    return bool(pd.api.types.is_object_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
                or isinstance(dtype, (pd.CategoricalDtype, pd.StringDtype)))


def learn(ref: pd.DataFrame, names: list[str]) -> dict[str, dict[str, Any]]:
    """What the reference says per column: its kind, seen values (categorical) or [min, max] (numeric)."""
    import numpy as np

    out: dict[str, dict[str, Any]] = {}
    for name in names:
        s = ref[name]
        if is_categorical(s):
            out[name] = {"kind": "categorical", "seen": s.unique()}
        else:
            x = _numbers(s)
            finite = x[~np.isnan(x)]
            out[name] = {"kind": "numeric", "min": float(finite.min()) if len(finite) else math.nan,
                         "max": float(finite.max()) if len(finite) else math.nan}
    return out


def measure(frame: pd.DataFrame, chunks: list[Any], learned: dict[str, dict[str, Any]]) -> dict[tuple[str, str], Any]:
    """(column, metric) -> one value per chunk (a numpy array)."""
    import numpy as np

    out: dict[tuple[str, str], Any] = {}
    sizes = np.array([c.rows for c in chunks], dtype="float64")
    for name, info in learned.items():
        s = frame[name]
        missing = s.isna().to_numpy()
        out[(name, "missing_rate")] = np.array([missing[c.positions].sum() for c in chunks]) / sizes
        if info["kind"] == "categorical":
            unseen = ~s.isin(info["seen"]).to_numpy()
            out[(name, "unseen_rate")] = np.array([unseen[c.positions].sum() for c in chunks]) / sizes
            continue
        x = _numbers(s)
        with np.errstate(invalid="ignore"):
            beyond = (x < info["min"]) | (x > info["max"])
        out[(name, "out_of_range_rate")] = np.array([beyond[c.positions].sum() for c in chunks]) / sizes
        parts = [x[c.positions] for c in chunks]
        parts = [p[~np.isnan(p)] for p in parts]
        out[(name, "mean")] = np.array([p.mean() if len(p) else math.nan for p in parts])
        out[(name, "median")] = np.array([np.median(p) if len(p) else math.nan for p in parts])
        out[(name, "std")] = np.array([p.std(ddof=1) if len(p) > 1 else math.nan for p in parts])
        out[(name, "sum")] = np.array([p.sum() for p in parts])  # pandas: the sum of nothing is 0
    out[(ROWS, "rows")] = sizes
    return out


def metric_limits(metric: str, values: Any, k: float) -> tuple[float | None, float | None]:
    """The alert limits of ``metric`` learned from its reference chunk values (NannyML's defaults)."""
    if metric in ("unseen_rate", "out_of_range_rate"):
        return (None, 0.0)  # NannyML's ConstantThreshold(lower=None, upper=0): any unseen value alerts
    if metric == "missing_rate":
        return reference_limits(values, k, floor=0.0, ceiling=1.0)
    low, high = reference_limits(values, k)
    if metric in ("std", "rows") and low is not None and low <= 0:
        low = None  # a limit at or below the statistic's own floor is dropped, not clipped
    return (low, high)


def alerts(metric: str, value: float, limits: tuple[float | None, float | None]) -> bool:
    """Rates alert outside their limits; a summary statistic unless strictly inside them (so NaN
    alerts: an all-missing chunk has no mean) — NannyML's two rules."""
    if metric in RATES:
        return outside(value, limits)
    low, high = limits
    if value is None or math.isnan(value):
        return True
    return not ((low is None or low < value) and (high is None or value < high))


def _numbers(series: pd.Series) -> np.ndarray:
    import numpy as np
    import pandas as pd

    return pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _columns(columns: Any, ref: pd.DataFrame, cur: pd.DataFrame, *, exclude: str | None) -> list[str]:
    from ..validation import names as column_names

    known = [str(c) for c in ref.columns if str(c) != exclude]
    names = column_names(columns) or known
    for col in names:
        if col not in ref.columns:
            raise BadInput(f"Unknown column {col!r}: not in the reference, so it has no normal to compare with; "
                           "pick reference columns." + did_you_mean(col, known))
    absent = [c for c in names if c not in cur.columns]
    if absent:
        raise BadInput(say(f"Column(s) {absent!r} are in the reference but not in the analysis data; "
                           "fix the data or pass ", Arg("columns", "[...]"), "."))
    if not names:
        raise BadInput("No columns to check; name at least one.")
    return names


def profile_quality(frame: pd.DataFrame, profile: Profile) -> dict[str, dict[str, float]]:
    """Missing, unseen and out-of-range rates of ``frame``'s columns against a stored reference
    :class:`~nbtoolkit.profiles.Profile` (its categories, its [min, max], its missing share) — what
    ``nbt monitor`` reports per window: one window has no reference chunks to learn limits from.

    ``{column: {"missing_rate": .., "reference_missing_rate": .., "unseen_rate" | "out_of_range_rate": ..}}``;
    a missing value is neither unseen nor out of range here (the missing rate counts it).
    """
    import numpy as np

    out: dict[str, dict[str, float]] = {}
    n = len(frame)
    if not n:
        return out
    for name in frame.columns:
        entry = profile.columns.get(name) if hasattr(profile, "columns") else None
        if not entry or entry.get("kind") in {"skipped", "empty", None}:
            continue
        s = frame[name]
        missing = s.isna().to_numpy()
        rates = {"missing_rate": float(missing.mean()),
                 "reference_missing_rate": float(entry.get("missing", 0)) / max(int(profile.n_rows), 1)}
        kind = entry["kind"]
        if kind in {"categorical", "boolean"}:
            known = {str(k) for k in entry.get("counts", {})}
            present = s[~missing].astype(str)
            rates["unseen_rate"] = float((~present.isin(known)).sum()) / n
        elif kind in {"numeric", "discrete"}:
            x = _numbers(s)
            values = entry.get("values")
            low = entry.get("min", min(values) if values else math.nan)
            high = entry.get("max", max(values) if values else math.nan)
            with np.errstate(invalid="ignore"):
                rates["out_of_range_rate"] = float(((x < low) | (x > high)).sum()) / n
        out[str(name)] = rates
    return out


def window_quality(frame: pd.DataFrame, profile: Profile, *, tolerance: float = 0.05) -> dict[str, Any]:
    """One monitoring window's quality: the highest missing / unseen / out-of-range rate over the
    columns, and ``quality_columns`` naming each column whose values were unseen, out of range, or
    missing more often than the reference's share + ``tolerance``."""
    rates = profile_quality(frame, profile)
    out: dict[str, Any] = {m: max((r[m] for r in rates.values() if m in r), default=math.nan) for m in RATES}
    flagged = []
    for column, r in rates.items():
        if r["missing_rate"] > r["reference_missing_rate"] + tolerance:
            flagged.append(f"{column} missing {r['missing_rate']:.0%}")
        for metric, word in (("unseen_rate", "unseen"), ("out_of_range_rate", "out of range")):
            if r.get(metric, 0.0) > 0:
                flagged.append(f"{column} {word} {r[metric]:.0%}")
    out["quality_columns"] = ", ".join(flagged)
    return out
