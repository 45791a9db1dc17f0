"""Label-free regression performance per chunk: direct loss estimation (as NannyML's DLE).

``estimate(reference, analysis, target=, prediction=)`` without ``proba`` lands here. On the
labelled reference, loss models learn the loss a row is expected to have from its features and the
model's prediction (:mod:`nbtoolkit.estimation.losstree`):

- the absolute error ``|y − ŷ|`` (MAE) and the squared error ``(y − ŷ)²`` (MSE, RMSE, R²) from one
  regression tree, whose leaves also give the signed error ``y − ŷ`` (R²); the absolute percentage
  error ``|y − ŷ| / max(ε, |y|)`` (MAPE) from its mean per bin of ŷ and a second tree. Only the
  trees the asked metrics need are grown.

A chunk's estimate is the mean of its rows' expected losses; RMSE is the square root of the
estimated MSE; R² is ``1 − E[SSE] / E[SST]`` with ``E[y | x] = ŷ + b(x)`` (``b`` the signed error)
and ``E[y² | x] = ŷ² + 2ŷ·b(x) + s(x)`` (``s`` the squared error), so
``E[SST] = Σ E[y² | x] − n·ȳ² − Σ Var(y | x) / n``.

Sampling error (the band, as NannyML): from the reference's per-row losses, ``std / √n`` (MAE,
MSE, MAPE); RMSE by the delta method ``sqrt(std(e²)² / (4 n mean(e²)))``; R² as MSE's divided by
the reference target's variance. Bands are the estimate ± 3 se, clipped to the metric's range
(losses ≥ 0, R² ≤ 1). Alert limits: the mean ± ``threshold_sd`` sd of the realised metric over
the reference chunks (:mod:`nbtoolkit.limits`); the reference needs at least two chunks.

Where NannyML fits one LightGBM model per metric, a row's expected loss here is the mean loss of
the reference rows that share its leaf: measured on NannyML's car-price data in
benchmarks/estimate.py (errors 0.45–0.6× DLE's, over ten times faster). Reference chunks are
estimated by the models that learned from them (as DLE does), and their estimates average to the
reference's realised losses. It assumes what DLE assumes: the loss given the inputs did not change
(no concept shift).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import BadInput, did_you_mean
from ..limits import MIN_REFERENCE_CHUNKS, outside, reference_limits

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

    from ..chunking import Chunk, Chunker
    from ..reports.estimation import EstimationResult

REGRESSION_METRICS = ("mae", "mse", "rmse", "mape", "r2")
LOSSES = {"mae": ("abs",), "mse": ("sq",), "rmse": ("sq",), "mape": ("ape",), "r2": ("sq", "signed")}
BAND_SE = 3.0
LOW_CONFIDENCE_ROWS = 50


def estimate_regression(reference: Any, analysis: Any, *, target: str, prediction: str, metrics: Any,
                        features: Any, chunks_of: Chunker, threshold_sd: float,
                        thresholds: Mapping[str, Any] | None) -> EstimationResult:
    """Regression metrics per chunk of ``analysis`` without its labels; see the module docstring."""
    from ..contract import as_frame
    from ..reports.estimation import EstimationResult
    from .losstree import LossModel
    from .shift import check_features

    wanted = regression_metrics(metrics)
    overrides = threshold_overrides(thresholds, wanted, REGRESSION_METRICS)
    ref = as_frame(reference, what="reference data")
    cur = as_frame(analysis, what="analysis data")
    for what, col in (("target", target), ("prediction", prediction)):
        if not isinstance(col, str) or not col:
            raise BadInput(f"{what}= must name a column, got {col!r}.")
    if target not in ref.columns:
        raise BadInput(f"The target column {target!r} is not in the reference data; the reference period needs "
                       "its true values." + did_you_mean(target, map(str, ref.columns)))
    for what, frame in (("reference data", ref), ("analysis data", cur)):
        if len(frame) == 0:
            raise BadInput(f"The {what} is empty; estimation needs rows.")
        if prediction not in frame.columns:
            raise BadInput(f"The prediction column {prediction!r} is not in the {what}."
                           + did_you_mean(prediction, map(str, frame.columns)))
    y_ref = numbers(ref[target], target, "reference data", missing=False, role="target")
    pred_ref = numbers(ref[prediction], prediction, "reference data", missing=False, role="prediction")
    pred_cur = numbers(cur[prediction], prediction, "analysis data", missing=False, role="prediction")
    y_cur = (numbers(cur[target], target, "analysis data", missing=True, role="target")
             if target in cur.columns else None)
    if "mape" in wanted and not (abs(y_ref) > 0).any():
        raise BadInput(f"MAPE divides by the target, and every reference value of {target!r} is 0; "
                       "use mae, mse, rmse or r2.")
    named = check_features(features, "cbpe", ref, cur, [target])
    names, notes = choose_features(ref, cur, named, exclude=[target, prediction, chunks_of.timestamp])

    cur_chunks = chunks_of.split(cur, what="analysis data")
    ref_chunks = reference_chunks(chunks_of, ref, wanted, overrides)
    model = LossModel.fit(ref, names, pred_ref, y_ref, losses={loss for m in wanted for loss in LOSSES[m]})
    se_terms = components(y_ref, pred_ref)
    rows: list[dict[str, Any]] = []
    for period, frame, pred, y, chunks in (("reference", ref, pred_ref, y_ref, ref_chunks),
                                           ("analysis", cur, pred_cur, y_cur, cur_chunks)):
        if not chunks:
            continue
        predicted = model.fitted if period == "reference" else model.predict(frame, pred)
        for chunk in chunks:
            rows += chunk_rows(period, chunk, wanted, predicted, pred, y, se_terms)
    limits = {m: overrides.get(m) or reference_limits(
        [r["realised"] for r in rows if r["period"] == "reference" and r["metric"] == m], threshold_sd,
        floor=None if m == "r2" else 0.0, ceiling=1.0 if m == "r2" else None) for m in wanted}
    for row in rows:
        row["alert_lower"], row["alert_upper"] = limits[row["metric"]]
        row["alert"] = outside(row["estimate"], limits[row["metric"]])
    small = sum(r["period"] == "analysis" and r["low_confidence"] and r["metric"] == wanted[0] for r in rows)
    if small:
        notes.append(f"{small} analysis chunk(s) have fewer than {LOW_CONFIDENCE_ROWS} rows; their estimates "
                     "are marked low_confidence (wide bands).")
    return EstimationResult(rows=rows, metrics=list(wanted), classes=[], chunking=chunks_of.describe(),
                            calibrated=[], threshold_sd=threshold_sd, notes=notes, n_reference=len(ref),
                            n_analysis=len(cur), method="dle", task="regression", features=names)


# ------------------------------------------------------------------------------ arguments
def regression_metrics(metrics: Any) -> list[str]:
    """The asked regression metrics (default: all), or one BadInput line (a classifier's metric says so)."""
    from .metrics import METRICS as CLASSIFICATION
    from .metrics import asked

    return asked(metrics, REGRESSION_METRICS, REGRESSION_METRICS, other=CLASSIFICATION,
                 other_is="a classifier's, and without proba= this estimate is a regressor's (pass proba= for "
                          "a classifier)", unknown="regression estimation")


def threshold_overrides(thresholds: Any, wanted: list[str], known: Iterable[str]
                        ) -> dict[str, tuple[float | None, float | None]]:
    """``{metric: (lower, upper)}`` checked: known metric names, pairs of numbers or None."""
    known = tuple(known)
    out: dict[str, tuple[float | None, float | None]] = {}
    for metric, pair in (thresholds or {}).items():
        if metric not in known:
            raise BadInput(f"thresholds names an unknown metric {metric!r}; use any of {', '.join(known)}."
                           + did_you_mean(str(metric), known))
        try:
            low, high = pair
            low = None if low is None else float(low)
            high = None if high is None else float(high)
        except (TypeError, ValueError):
            raise BadInput(f"thresholds[{metric!r}] must be a pair (lower, upper), got {pair!r}.") from None
        out[metric] = (low, high)
    return out


def numbers(series: pd.Series, col: str, what: str, *, missing: bool, role: str) -> np.ndarray:
    """A numeric column as float64 (NaN where missing, when ``missing``), or one BadInput line."""
    import numpy as np
    import pandas as pd

    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        example = series.dropna().iloc[0] if series.notna().any() else None
        hint = (" (a class label: for a classifier pass proba=COLUMN)" if role == "target" else "")
        raise BadInput(f"The {role} column {col!r} of the {what} holds {series.dtype} values such as "
                       f"{example!r}, not numbers; a regression estimate needs a numeric {role}{hint}.")
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    infinite = np.flatnonzero(np.isinf(values))
    if len(infinite):
        raise BadInput(f"The {role} column {col!r} of the {what} has infinite values (row {int(infinite[0])}).")
    gaps = np.flatnonzero(np.isnan(values))
    if len(gaps) and not missing:
        raise BadInput(f"The {role} column {col!r} of the {what} has {len(gaps)} missing value(s) (row "
                       f"{int(gaps[0])}); drop those rows or fill them in.")
    return values


def continuous(series: pd.Series) -> bool:
    """Whether a column holds numbers that are not class labels (some value is not a whole number)."""
    import numpy as np
    import pandas as pd

    if not pd.api.types.is_float_dtype(series):
        return False
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    finite = values[np.isfinite(values)]
    return bool(len(finite)) and not bool(np.all(finite == np.round(finite)))


def refuse_continuous(ref: pd.DataFrame, target: str, prediction: str) -> None:
    """``proba=`` with a regressor's columns (continuous numbers): one BadInput line."""
    for role, col in (("target", target), ("prediction", prediction)):
        if isinstance(col, str) and col in ref.columns and continuous(ref[col]):
            value = next(v for v in ref[col].dropna() if float(v) != round(float(v)))
            raise BadInput(f"proba= is given, but the {role} column {col!r} holds continuous numbers (e.g. "
                           f"{value!r}), a regressor's; leave proba out to estimate regression metrics "
                           f"({', '.join(REGRESSION_METRICS)}).")


def choose_features(ref: pd.DataFrame, cur: pd.DataFrame, named: list[str], *, exclude: list[Any]
                    ) -> tuple[list[str], list[str]]:
    """(feature columns, notes). Named: as given. Default: the reference's columns that the analysis
    also has, without the target, prediction and timestamp; datetimes and identifiers (integers or
    text unique per row) are left out with a note (:func:`nbtoolkit.contract.identifier_reason`)."""
    import pandas as pd

    from ..contract import identifier_reason

    if named:
        return named, []
    notes: list[str] = []
    candidates = [c for c in ref.columns if c not in set(exclude)]
    absent = [str(c) for c in candidates if c not in cur.columns]
    if absent:
        notes.append(f"Left out of the loss models (not in the analysis data): {', '.join(absent[:8])}"
                     + (f" and {len(absent) - 8} more" if len(absent) > 8 else "") + ".")
    kept, skipped = [], []
    for col in (c for c in candidates if c in cur.columns):
        why = identifier_reason(pd.concat([ref[col], cur[col]], ignore_index=True), col)
        if why:
            skipped.append(f"{col} ({why}: an identifier or timestamp)")
        else:
            kept.append(str(col))
    if skipped:
        notes.append(f"Left out of the loss models: {', '.join(skipped)}; name the model's inputs with "
                     "features=[...] to choose them.")
    return kept, notes


def reference_chunks(chunks_of: Chunker, ref: pd.DataFrame, wanted: list[str],
                     overrides: Mapping[str, Any]) -> list[Chunk]:
    """The reference's chunks; fewer than two cannot give alert limits unless every metric has fixed ones."""
    try:
        chunks = chunks_of.split(ref, what="reference data")
    except BadInput:
        chunks = []
    if len(chunks) < MIN_REFERENCE_CHUNKS and not all(m in overrides for m in wanted):
        size = f"chunk_size ≤ {len(ref) // MIN_REFERENCE_CHUNKS}" if chunks_of.chunk_size else "smaller chunks"
        raise BadInput(f"The reference data ({len(ref)} rows) makes {len(chunks)} chunk(s) of "
                       f"{chunks_of.describe()}; learning alert limits needs at least {MIN_REFERENCE_CHUNKS} "
                       f"reference chunks: use {size}, a longer reference, or thresholds={{metric: (lower, upper)}}.")
    return chunks


# ------------------------------------------------------------------------------ per chunk
def components(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """The reference's per-row loss spreads the sampling errors are made of (see the module doc)."""
    import numpy as np

    error = y - pred
    sq = error * error
    ape = np.abs(error) / np.maximum(np.finfo(np.float64).eps, np.abs(y))
    return {"abs_std": float(np.std(np.abs(error))), "sq_std": float(np.std(sq)), "sq_mean": float(np.mean(sq)),
            "ape_std": float(np.std(ape)), "y_var": float(np.var(y))}


def sampling_error(metric: str, terms: dict[str, float], n: int) -> float:
    if n <= 0:
        return math.nan
    if metric == "mae":
        return terms["abs_std"] / math.sqrt(n)
    if metric == "mape":
        return terms["ape_std"] / math.sqrt(n)
    if metric == "mse":
        return terms["sq_std"] / math.sqrt(n)
    if metric == "rmse":
        return math.sqrt(terms["sq_std"] ** 2 / (4 * n * terms["sq_mean"])) if terms["sq_mean"] > 0 else 0.0
    return terms["sq_std"] / math.sqrt(n) / terms["y_var"] if terms["y_var"] > 0 else math.nan  # r2


def expected(metric: str, losses: dict[str, np.ndarray], pred: np.ndarray) -> float:
    """The chunk's estimate of ``metric`` from its rows' predicted losses."""
    import numpy as np

    n = len(pred)
    if n == 0:
        return math.nan
    if metric == "mae":
        return float(losses["abs"].mean())
    if metric == "mape":
        return float(losses["ape"].mean())
    if metric == "mse":
        return float(losses["sq"].mean())
    if metric == "rmse":
        return math.sqrt(float(losses["sq"].mean()))
    sq, bias = losses["sq"], losses["signed"]
    mean_y = pred + bias                                  # E[y | x]
    var_y = np.maximum(sq - bias * bias, 0.0)             # Var(y | x) = E[e² | x] − E[e | x]²
    sst = float(np.sum(mean_y * mean_y + var_y) - n * mean_y.mean() ** 2 - var_y.sum() / n)
    return 1.0 - float(sq.sum()) / sst if sst > 0 else math.nan


def realised(metric: str, y: np.ndarray, pred: np.ndarray) -> float:
    """The metric on the true values (scikit-learn's definitions; R² NaN on a constant target)."""
    import numpy as np

    if len(y) == 0:
        return math.nan
    error = y - pred
    if metric == "mae":
        return float(np.mean(np.abs(error)))
    if metric == "mape":
        return float(np.mean(np.abs(error) / np.maximum(np.finfo(np.float64).eps, np.abs(y))))
    if metric == "mse":
        return float(np.mean(error * error))
    if metric == "rmse":
        return math.sqrt(float(np.mean(error * error)))
    sst = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum(error * error)) / sst if sst > 0 else math.nan


def chunk_rows(period: str, chunk: Chunk, wanted: list[str], predicted: dict[str, np.ndarray], pred: np.ndarray,
               y: np.ndarray | None, terms: dict[str, float]) -> list[dict[str, Any]]:
    import numpy as np

    pos = chunk.positions
    losses = {loss: values[pos] for loss, values in predicted.items()}
    known = pos[~np.isnan(y[pos])] if y is not None else pos[:0]
    out = []
    for metric in wanted:
        est = expected(metric, losses, pred[pos])
        se = sampling_error(metric, terms, chunk.rows)
        low, high = est - BAND_SE * se, est + BAND_SE * se
        if metric == "r2":
            high = min(1.0, high)
        else:
            low = max(0.0, low)
        out.append({
            "period": period, "chunk": chunk.key, "start": chunk.start, "end": chunk.end, "rows": chunk.rows,
            "metric": metric, "estimate": est, "lower": low, "upper": high, "sampling_error": se,
            "realised": realised(metric, y[known], pred[known]) if y is not None and len(known) else math.nan,
            "labelled": len(known), "alert_lower": None, "alert_upper": None, "alert": False,
            "low_confidence": chunk.rows < LOW_CONFIDENCE_ROWS, "method": "dle", "ess": math.nan,
            "disagree": False,
        })
    return out
