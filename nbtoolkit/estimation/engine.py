"""``estimate()``: label-free performance per chunk, calibrated on a labelled reference period."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import BadInput, did_you_mean
from ..limits import outside, reference_limits, sd_multiplier
from ..vocabulary import renamed
from . import metrics as M
from .calibration import Calibrator

if TYPE_CHECKING:  # pragma: no cover - the report module loads with the result
    from ..reports.estimation import EstimationResult

LOW_CONFIDENCE_ROWS = 50
PROBA_TOLERANCE = 1e-3
DEFAULT_METRICS = M.METRICS


@renamed(alert_sd="threshold_sd")
def estimate(
    reference: Any,
    analysis: Any,
    *,
    target: str,
    prediction: str,
    proba: str | Mapping[Any, str] | None = None,
    metrics: Iterable[str] | str | None = None,
    chunk_size: int | None = None,
    chunk_number: int | None = None,
    window: str | None = None,
    timestamp: str | None = None,
    threshold_sd: float = 3.0,
    thresholds: Mapping[str, tuple[float | None, float | None]] | None = None,
    calibrator: Calibrator | None = None,
    method: str = "cbpe",
    features: Iterable[str] | str | None = None,
) -> EstimationResult:
    """Estimate performance per chunk of ``analysis`` without its labels: a classifier's from its
    probabilities (CBPE), a regressor's (no ``proba``) from loss models learned on the reference (DLE,
    :mod:`nbtoolkit.estimation.regression`).

    Parameters
    ----------
    reference : DataFrame
        A labelled period the model was not trained on (e.g. validation or the first weeks of
        production): ``target``, ``prediction`` and the probability column(s).
    analysis : DataFrame
        The period to estimate; when it also holds ``target`` (even partly), the realised value is
        shown beside the estimate.
    target, prediction : column names of the true and the predicted class (or value: regression).
    proba : column name of the positive class's probability (binary; the positive class is the
        larger label, e.g. 1 or True — or name it with ``{"yes": "p_yes"}``), or ``{class: column}``
        for every class (multiclass); left out for a regressor.
    metrics : any of ``accuracy, roc_auc, f1, precision, recall`` (macro averages for multiclass);
        regression: ``mae, mse, rmse, mape, r2``. Default: all of the task's.
    chunk_size, chunk_number, window : chunk by N rows, into N chunks (default 10) or by time
        (``"1D"``, with ``timestamp=COLUMN``). The reference is chunked the same way.
    threshold_sd : alert limits are the mean ± ``threshold_sd`` standard deviations of each metric's
        realised value across the reference chunks (clipped to [0, 1]; :mod:`nbtoolkit.limits`).
    thresholds : ``{metric: (lower, upper)}`` overrides the learned limits (``None`` = no limit).
    calibrator : a fitted :class:`Calibrator` (e.g. stored with a model version by
        :func:`calibrate`); by default one is fitted on ``reference``.
    method : ``"cbpe"`` (calibration on the whole reference, as NannyML's CBPE), ``"shift"`` (per
        analysis chunk, the reference reweighted by a domain classifier's density ratio before
        calibrating; ``ess`` and ``low_confidence`` per chunk) or ``"auto"`` (both, ``method``
        column; ``disagree`` marks chunks where they differ beyond their bands). See
        :mod:`nbtoolkit.estimation.shift`.
    features : the model's input columns, for the domain classifier of ``method="shift"|"auto"``
        (identifiers and timestamps are left out, with a note); regression: the loss models' inputs
        (default: the reference's columns but target, prediction, timestamp and identifiers).

    Returns
    -------
    EstimationResult: ``.to_frame()`` (chunk, start, end, rows, metric, estimate, lower, upper,
    realised, alert, ...), ``.plot()``, ``.alerted``.
    """
    from ..chunking import chunker
    from ..contract import as_frame
    from ..reports.estimation import EstimationResult

    from ..validation import mapping

    from .shift import MIN_ESS, ShiftAware, check_features, check_method, mark

    method = check_method(method, regression=proba is None)  # before any dispatch on the task
    thresholds = mapping(thresholds, "thresholds") or None
    if calibrator is not None and not isinstance(calibrator, Calibrator):
        raise BadInput(f"calibrator must be a Calibrator (nbt.calibrate(...)), got {type(calibrator).__name__}.")
    chunks_of = chunker(chunk_size=chunk_size, chunk_number=chunk_number, window=window, timestamp=timestamp)
    k = sd_multiplier(threshold_sd, "threshold_sd")
    if proba is None:  # a regressor: direct loss estimation
        from .regression import estimate_regression

        if calibrator is not None:
            raise BadInput("calibrator= calibrates a classifier's probabilities; a regression estimate (no "
                           "proba=) takes none: leave it out, or pass proba= for a classifier.")
        return estimate_regression(reference, analysis, target=target, prediction=prediction, metrics=metrics,
                                   features=features, chunks_of=chunks_of, threshold_sd=k, thresholds=thresholds)
    wanted = _metrics(metrics)
    from .regression import threshold_overrides

    limits_override = threshold_overrides(thresholds, wanted, M.METRICS)
    ref = as_frame(reference, what="reference data")
    cur = as_frame(analysis, what="analysis data")
    from .regression import refuse_continuous

    refuse_continuous(ref, target, prediction)  # a regressor's columns with proba=
    spec = _Spec.of(ref, target=target, prediction=prediction, proba=proba)
    ref_data = spec.extract(ref, "reference data", labels="required")
    cur_data = spec.extract(cur, "analysis data", labels="optional")
    named = check_features(features, method, ref, cur, [target])
    cur_chunks = chunks_of.split(cur, what="analysis data")
    notes: list[str] = []
    try:
        ref_chunks = chunks_of.split(ref, what="reference data")
    except BadInput as exc:
        ref_chunks = []
        notes.append(f"No alert limits learned: {exc}")

    if calibrator is None:
        calibrator = Calibrator.fit(ref_data["raw"], ref_data["y"], spec.classes)
    elif list(calibrator.classes) != spec.classes:
        raise BadInput(f"The calibrator was fitted on classes {calibrator.classes!r}, the data has "
                       f"{spec.classes!r}; refit it on this model's reference data.")
    comps = calibrator.components or M.components(ref_data["y"], ref_data["raw"], ref_data["pred"], spec.classes)
    if not calibrator.components:
        calibrator.components = comps
    ref_data["cal"] = calibrator.calibrate(ref_data["raw"])
    # method="shift" calibrates each analysis chunk on its own reweighted reference
    cur_data["cal"] = calibrator.calibrate(cur_data["raw"]) if method != "shift" else None
    shifted = None
    if method != "cbpe":  # shift-aware: each analysis chunk calibrated on the reweighted reference
        shifted = ShiftAware(ref, cur, named, ref_data["raw"], ref_data["y"], spec.classes)
        notes += shifted.notes
    methods = ["cbpe", "shift"] if method == "auto" else [method]

    rows = []
    for period, data, chunks in (("reference", ref_data, ref_chunks), ("analysis", cur_data, cur_chunks)):
        for i, chunk in enumerate(chunks):
            for how in methods:
                cal, ess = None, float(len(ref))  # reference chunks keep the reference's own calibration
                if how == "shift" and period == "analysis" and shifted is not None:
                    cal, ess = shifted.chunk(chunk.positions, data["raw"], i)
                rows += _chunk_rows(period, chunk, data, spec.classes, wanted, comps, method=how, ess=ess,
                                    cal=cal, min_ess=MIN_ESS)
    # Alert limits: each metric's realised value over the reference chunks (or the overrides).
    limits = {m: limits_override.get(m) or _learned([r["realised"] for r in rows if r["period"] == "reference"
                                                     and r["metric"] == m], k) for m in wanted}
    for row in rows:
        low, high = limits[row["metric"]]
        est = row["estimate"]
        row["alert_lower"], row["alert_upper"] = low, high
        row["alert"] = outside(est, (low, high))
    small = [r for r in rows if r["period"] == "analysis" and r["rows"] < LOW_CONFIDENCE_ROWS
             and r["metric"] == wanted[0] and r["method"] == methods[0]]
    if small:
        notes.append(f"{len(small)} analysis chunk(s) have fewer than {LOW_CONFIDENCE_ROWS} rows; their "
                     "estimates are marked low_confidence (wide bands).")
    if method != "cbpe":
        notes += mark(rows, method, M.BAND_SE)
    return EstimationResult(rows=rows, metrics=list(wanted), classes=spec.classes,
                            chunking=chunks_of.describe(), calibrated=calibrator.calibrated_classes,
                            threshold_sd=k, notes=notes, n_reference=len(ref), n_analysis=len(cur),
                            method=method)


def _chunk_rows(period: str, chunk: Any, data: dict[str, Any], classes: list[str], wanted: list[str],
                comps: dict[str, Any], *, method: str = "cbpe", ess: float = math.nan, cal: Any = None,
                min_ess: float = 0.0) -> list[dict[str, Any]]:
    pos = chunk.positions
    reweighted = cal is not None  # shift-aware: the calibration rests on `ess` reference rows, not all
    pred, raw, cal = data["pred"][pos], data["raw"][pos], data["cal"][pos] if cal is None else cal
    y = data["y"][pos] if data["y"] is not None else None
    known = y >= 0 if y is not None else None
    labelled = int(known.sum()) if known is not None else 0
    out = []
    for metric in wanted:
        est = M.expected(metric, cal, raw, pred, classes)
        se = M.standard_error(comps[metric], chunk.rows)
        if reweighted:
            se *= math.sqrt(1.0 + chunk.rows / ess)
        real = math.nan
        if labelled and y is not None and known is not None:
            real = M.realised(metric, y[known], raw[known], pred[known], classes)
        out.append({
            "period": period, "chunk": chunk.key, "start": chunk.start, "end": chunk.end,
            "rows": chunk.rows, "metric": metric, "estimate": est,
            "lower": max(0.0, est - M.BAND_SE * se) if not math.isnan(est) else math.nan,
            "upper": min(1.0, est + M.BAND_SE * se) if not math.isnan(est) else math.nan,
            "sampling_error": se, "realised": real, "labelled": labelled,
            "alert_lower": None, "alert_upper": None, "alert": False,
            "low_confidence": chunk.rows < LOW_CONFIDENCE_ROWS or (reweighted and ess < min_ess),
            "method": method, "ess": ess, "disagree": False,
        })
    return out


def _learned(values: list[float], k: float) -> tuple[float | None, float | None]:
    return reference_limits(values, k, floor=0.0, ceiling=1.0)


# ------------------------------------------------------------------------------ arguments
def _metrics(metrics: Any) -> list[str]:
    from .regression import REGRESSION_METRICS

    return M.asked(metrics, M.METRICS, DEFAULT_METRICS, other=REGRESSION_METRICS,
                   other_is="a regressor's, and proba= makes this a classifier's estimate (leave proba out for "
                        "a regressor)", unknown="estimation")


def label_strings(values: Any) -> Any:
    """Labels as strings, with 1 and 1.0 (and True) spelled the same way."""
    import numpy as np
    import pandas as pd

    s = pd.Series(values).reset_index(drop=True)
    if pd.api.types.is_bool_dtype(s):
        return s.astype(str).to_numpy(dtype=object)
    if pd.api.types.is_numeric_dtype(s):
        arr = s.to_numpy(dtype="float64", na_value=np.nan)
        finite = arr[np.isfinite(arr)]
        ok = np.isfinite(arr)
        integral = bool(len(finite)) and bool(np.all(finite == np.round(finite)))
        text = (np.where(ok, arr, 0).astype(np.int64).astype(str) if integral else arr.astype(str)).astype(object)
        text[~ok] = None
        return text
    kept = s.astype(object).where(s.notna(), None)
    return np.array([None if v is None else str(v) for v in kept.tolist()], dtype=object)


def _sort_labels(labels: Iterable[str]) -> list[str]:
    labels = list(dict.fromkeys(labels))
    try:
        return sorted(labels, key=float)
    except ValueError:
        return sorted(labels)


class _Spec:
    """Which columns hold what, and the class order of the probability matrix."""

    def __init__(self, target: str, prediction: str, columns: dict[str, str], classes: list[str],
                 binary_column: str | None) -> None:
        self.target, self.prediction = target, prediction
        self.columns, self.classes, self.binary_column = columns, classes, binary_column

    @classmethod
    def of(cls, ref: Any, *, target: str, prediction: str, proba: Any) -> _Spec:
        for what, col in (("target", target), ("prediction", prediction)):
            if not isinstance(col, str) or not col:
                raise BadInput(f"{what}= must name a column, got {col!r}.")
        if target not in ref.columns:
            raise BadInput(f"The target column {target!r} is not in the reference data; the reference "
                           "period needs its true labels." + did_you_mean(target, map(str, ref.columns)))
        if prediction not in ref.columns:
            raise BadInput(f"The prediction column {prediction!r} is not in the reference data."
                           + did_you_mean(prediction, map(str, ref.columns)))
        seen = [v for v in dict.fromkeys(_distinct_labels(ref[target]) + _distinct_labels(ref[prediction]))
                if v is not None]
        if not seen:  # an empty reference, or one whose labels are all missing: no class to calibrate
            raise BadInput(f"The reference data has no labels in {target!r} or {prediction!r} ({len(ref)} rows); "
                           "estimation needs a labelled reference period.")
        if isinstance(proba, str):
            classes = _sort_labels(seen)
            if len(classes) == 1:
                pair = {"0": ["0", "1"], "1": ["0", "1"], "False": ["False", "True"], "True": ["False", "True"]}
                if classes[0] not in pair:
                    raise BadInput(f"The reference has one class only ({classes[0]!r}); name the positive "
                                   "class with proba={'CLASS': 'COLUMN'}.")
                classes = pair[classes[0]]
            if len(classes) > 2:
                raise BadInput(f"proba={proba!r} names one column, but the reference has {len(classes)} "
                               f"classes ({_first(classes)}); pass proba={{class: column}} for each.")
            return cls(target, prediction, {classes[1]: proba}, classes, proba)
        if not isinstance(proba, Mapping) or not proba:
            raise BadInput(f"proba must be a column name or a {{class: column}} dict, got {proba!r}.")
        keys = [label_strings([k])[0] for k in proba]
        columns = dict(zip(keys, map(str, proba.values())))
        if len(columns) == 1:  # binary with the positive class named
            (positive, column), = columns.items()
            others = [c for c in _sort_labels(seen) if c != positive]
            if len(others) > 1:
                raise BadInput(f"proba names one class ({positive!r}) but the reference has "
                               f"{len(others) + 1} classes; give a column for every class.")
            negative = others[0] if others else f"not {positive}"
            return cls(target, prediction, {positive: column}, [negative, positive], column)
        missing = [c for c in _sort_labels(seen) if c not in columns]
        if missing:
            raise BadInput(f"The proba dict has no column for class(es) {missing!r} seen in the reference; "
                           "give a probability column for every class.")
        classes = _sort_labels(columns)
        if len(classes) == 2:
            return cls(target, prediction, {classes[1]: columns[classes[1]]}, classes, columns[classes[1]])
        return cls(target, prediction, columns, classes, None)

    def extract(self, frame: Any, what: str, *, labels: str) -> dict[str, Any]:
        """Raw probability matrix, predicted and true class indices (-1: unknown) of ``frame``."""
        import numpy as np

        if len(frame) == 0:
            raise BadInput(f"The {what} is empty; estimation needs rows.")
        for col in [self.prediction, *self.columns.values()]:
            if col not in frame.columns:
                raise BadInput(f"Column {col!r} is not in the {what}." + did_you_mean(col, map(str, frame.columns)))
        index = {c: i for i, c in enumerate(self.classes)}
        raw = np.zeros((len(frame), len(self.classes)))
        for c, col in self.columns.items():
            raw[:, index[c]] = _probabilities(frame[col], col, what)
        if self.binary_column is not None:
            raw[:, 0] = 1.0 - raw[:, 1]
        else:
            sums = raw.sum(axis=1)
            bad = np.flatnonzero(np.abs(sums - 1.0) > PROBA_TOLERANCE)
            if len(bad):
                raise BadInput(f"The class probabilities of the {what} do not sum to 1 (row {int(bad[0])}: "
                               f"{float(sums[bad[0]]):.4g}, {len(bad)} row(s) in all); pass predict_proba's columns.")
        pred = _indices(frame[self.prediction], index, what, self.prediction, allow_missing=False)
        y = None
        if self.target in frame.columns:
            y = _indices(frame[self.target], index, what, self.target, allow_missing=True)
            if labels == "required" and (y < 0).any():
                raise BadInput(f"The reference data has {int((y < 0).sum())} row(s) without a target "
                               f"({self.target!r}); drop them or fill in their labels.")
        elif labels == "required":
            raise BadInput(f"The target column {self.target!r} is not in the reference data.")
        return {"raw": raw, "pred": pred, "y": y}


def _probabilities(series: Any, col: str, what: str) -> Any:
    import numpy as np
    import pandas as pd

    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        raise BadInput(f"Probability column {col!r} of the {what} is {series.dtype}, not numbers in [0, 1].")
    p = series.to_numpy(dtype="float64", na_value=np.nan)
    bad = np.flatnonzero(~np.isfinite(p) | (p < 0) | (p > 1))
    if len(bad):
        raise BadInput(f"Probability column {col!r} of the {what} has values outside [0, 1] "
                       f"(row {int(bad[0])}: {p[bad[0]]!r}; {len(bad)} row(s) in all).")
    return p


def _distinct_labels(series: Any) -> list[str | None]:
    import pandas as pd

    _, uniques = pd.factorize(series, use_na_sentinel=True)
    return label_strings(pd.Series(uniques, dtype=series.dtype if len(uniques) else object)).tolist()


def _indices(series: Any, index: dict[str, int], what: str, col: str, *, allow_missing: bool) -> Any:
    """Class position of every value (-1: missing), hashing the column once (pd.factorize)."""
    import numpy as np
    import pandas as pd

    codes, uniques = pd.factorize(series.reset_index(drop=True), use_na_sentinel=True)
    names = label_strings(pd.Series(uniques, dtype=series.dtype if len(uniques) else object))
    lookup = np.array([index.get(v, -2) if v is not None else -1 for v in names] + [-1], dtype=np.intp)
    out = lookup[codes]
    unknown = np.flatnonzero(out == -2)
    if len(unknown):
        i = int(unknown[0])
        raise BadInput(f"Column {col!r} of the {what} holds class {series.iloc[i]!r} (row {i}), which has no "
                       f"probability column; known classes: {', '.join(index)}.")
    missing = np.flatnonzero(out == -1)
    if len(missing) and not allow_missing:
        raise BadInput(f"Column {col!r} of the {what} has a missing value at row {int(missing[0])}.")
    return out


def _first(labels: list[str], limit: int = 8) -> str:
    """``0, 1, ..., 7 and 2 more``: a list cut short says so (it read as the whole list)."""
    rest = len(labels) - limit
    return ", ".join(labels[:limit]) + (f" and {rest} more" if rest > 0 else "")
