"""Expected (label-free) and realised classification metrics, and their sampling errors.

Expected metrics (confidence-based performance estimation): with calibrated probabilities
``p[i, c]`` the chance that row ``i`` is of class ``c``, the expected confusion matrix of a chunk
is ``E[TP_c] = Σ p[i, c]·[ŷ_i = c]``, ``E[FP_c] = Σ (1 − p[i, c])·[ŷ_i = c]``,
``E[FN_c] = Σ p[i, c]·[ŷ_i ≠ c]``; accuracy is the mean of ``p[i, ŷ_i]``. ROC AUC is computed
on the model's own ranking (the raw scores) with each row counted as a positive with weight
``p`` and as a negative with weight ``1 − p`` — the expected ROC curve, walked row by row as
NannyML does (:func:`expected_auc`); the realised ROC AUC pools tied scores (:func:`weighted_auc`
with the true labels as weights: scikit-learn's ``roc_auc_score``). Multiclass metrics are macro
averages over the classes (one-vs-rest): per class, the expected metric on that class's column of
the calibrated probabilities, each class calibrated one-vs-rest and the rows renormalised
(:mod:`.calibration`), as NannyML's CBPE.

Sampling error (the band): from the labelled reference, each metric's standard error at chunk
size ``n`` is ``sqrt(Σ_terms std² / (n · share))`` per class — accuracy: the std of "correct";
precision: of "truly positive" among predicted positives; recall: of "predicted positive" among
true positives; F1: of "true positive" among rows that are predicted or truly positive; ROC AUC:
the DeLong placements of positives (among negatives) and negatives (among positives). Macro
averages combine classes as ``sqrt(Σ se_c²) / K``. Bands are ``estimate ± 3 se``, as NannyML's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

METRICS = ("accuracy", "roc_auc", "f1", "precision", "recall")
BAND_SE = 3.0


# ------------------------------------------------------------------------------ expected
def asked(metrics: object, known: Sequence[str], default: Sequence[str], *, other: Sequence[str],
          other_is: str, unknown: str) -> list[str]:
    """The metric names asked for (``"a,b"`` or a list; ``None``: ``default``), each in ``known``; a name
    of the other task (``other``) says so (``other_is``), an unknown one gets did-you-mean."""
    from ..errors import BadInput, did_you_mean

    if metrics is None:
        return list(default)
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    if not isinstance(metrics, (list, tuple, set, frozenset)):
        raise BadInput(f"metrics must be a list of metric names or 'a,b', got {type(metrics).__name__}; "
                       f"use any of {', '.join(known)}.")
    wanted = list(dict.fromkeys(str(m) for m in metrics))
    if not wanted:
        raise BadInput(f"metrics is empty; name at least one of {', '.join(known)}.")
    for m in wanted:
        if m in other:
            raise BadInput(f"Metric {m!r} is {other_is}: use {', '.join(known)}.")
        if m not in known:
            raise BadInput(f"Unknown metric {m!r} for {unknown}." + did_you_mean(m, known, what="Metrics"))
    return wanted


def expected(metric: str, cal: np.ndarray, raw: np.ndarray, pred: np.ndarray, classes: list[str]) -> float:
    """Expected ``metric`` of one chunk: calibrated ``cal`` (n × k), raw scores, predicted indices."""
    import numpy as np

    n = len(pred)
    if n == 0:
        return math.nan
    if metric == "accuracy":
        return float(cal[np.arange(n), pred].mean())
    return _per_class(metric, cal, raw, pred, classes, auc=expected_auc)


def realised(metric: str, y: np.ndarray, raw: np.ndarray, pred: np.ndarray, classes: list[str]) -> float:
    """The same metric on true class indices ``y`` (one-hot weights in place of probabilities)."""
    import numpy as np

    n = len(pred)
    if n == 0:
        return math.nan
    if metric == "accuracy":
        return float((y == pred).mean())
    onehot = np.zeros((n, len(classes)))
    onehot[np.arange(n), y] = 1.0
    return _per_class(metric, onehot, raw, pred, classes, auc=weighted_auc)


def _per_class(metric: str, w: np.ndarray, raw: np.ndarray, pred: np.ndarray, classes: list[str], *,
               auc: Callable[[np.ndarray, np.ndarray], float]) -> float:
    import numpy as np

    targets = [1] if len(classes) == 2 else range(len(classes))
    values = []
    for c in targets:
        p = w[:, c]
        if metric == "roc_auc":
            values.append(auc(raw[:, c], p))
            continue
        hit = pred == c
        tp, fp, fn = float(p[hit].sum()), float((1 - p[hit]).sum()), float(p[~hit].sum())
        if metric == "precision":
            values.append(tp / (tp + fp) if tp + fp > 0 else 0.0)
        elif metric == "recall":
            values.append(tp / (tp + fn) if tp + fn > 0 else 0.0)
        else:
            values.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else 0.0)
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def expected_auc(score: np.ndarray, weight: np.ndarray) -> float:
    """Expected ROC AUC of ``score`` with row i a positive of weight ``weight[i]``, computed as NannyML's
    CBPE does (``estimate_roc_auc``): rows taken one at a time in descending score — numpy's default
    sort reversed, tied scores not pooled, so a tie's area follows that order — the cumulative sums
    rounded to 5 decimals, the trapezoidal area. Pooling ties (:func:`weighted_auc`) differed by up
    to 1e-6 on NannyML's credit-card data, whose probabilities have 2 decimals; NaN without both."""
    import numpy as np

    w = weight[np.argsort(score)[::-1]]
    tps = np.r_[0.0, np.cumsum(w)]
    fps = np.r_[0.0, 1 + np.arange(len(w)) - tps[1:]]
    tps, fps = tps.round(5), fps.round(5)
    if tps[-1] <= 0 or fps[-1] <= 0:
        return math.nan
    return float(np.trapezoid(tps / tps[-1], fps / fps[-1]))


def weighted_auc(score: np.ndarray, weight: np.ndarray, order: np.ndarray | None = None) -> float:
    """ROC AUC of ``score`` where row i is positive with weight ``weight[i]`` and negative with
    ``1 − weight[i]`` (0/1 weights: exactly ``sklearn.metrics.roc_auc_score``); NaN without both.
    ``order``: ``argsort(-score)`` when already known."""
    import numpy as np

    if order is None:
        order = np.argsort(-score, kind="stable")
    s, w = score[order], weight[order]
    tps, fps = np.cumsum(w), np.cumsum(1.0 - w)
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last row of each distinct score
    tp, fp = np.r_[0.0, tps[last]], np.r_[0.0, fps[last]]
    if tp[-1] <= 1e-12 or fp[-1] <= 1e-12:
        return math.nan
    x, y = fp / fp[-1], tp / tp[-1]
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))


# ------------------------------------------------------------------------------ sampling error
def components(y: np.ndarray, raw: np.ndarray, pred: np.ndarray,
               classes: list[str]) -> dict[str, list[list[list[float]]]]:
    """Per metric, per class, the ``[std, share]`` terms of its standard error (see the module doc)."""
    out: dict[str, list[list[list[float]]]] = {"accuracy": [[_term((y == pred).astype(float), 1.0)]]}
    targets = [1] if len(classes) == 2 else range(len(classes))
    for metric in ("precision", "recall", "f1", "roc_auc"):
        out[metric] = []
        for c in targets:
            truth, hit = y == c, pred == c
            if metric == "precision":
                terms = [_term(truth[hit].astype(float), hit.mean())]
            elif metric == "recall":
                terms = [_term(hit[truth].astype(float), truth.mean())]
            elif metric == "f1":
                relevant = truth | hit
                terms = [_term((truth & hit)[relevant].astype(float), relevant.mean())]
            else:
                terms = _auc_terms(raw[:, c], truth)
            out[metric].append(terms)
    return out


def _term(values: np.ndarray, share: float) -> list[float]:
    import numpy as np

    return [float(np.std(values)) if len(values) else 0.0, float(share)]


def _auc_terms(score: np.ndarray, truth: np.ndarray) -> list[list[float]]:
    """DeLong: placement of each positive among the negatives and of each negative among positives."""
    import numpy as np

    pos, neg = np.sort(score[truth]), np.sort(score[~truth])
    if not len(pos) or not len(neg):
        return [[0.0, 0.0]]
    v10 = (np.searchsorted(neg, pos, side="left") + np.searchsorted(neg, pos, side="right")) / (2 * len(neg))
    v01 = 1 - (np.searchsorted(pos, neg, side="left") + np.searchsorted(pos, neg, side="right")) / (2 * len(pos))
    share = len(pos) / len(score)
    return [[float(np.std(v10)), share], [float(np.std(v01)), 1 - share]]


def standard_error(terms_by_class: list[list[list[float]]], n: int) -> float:
    """Standard error of a metric on a chunk of ``n`` rows from its reference components."""
    if n <= 0:
        return math.nan
    per_class = []
    for terms in terms_by_class:
        var = sum(std * std / (n * share) for std, share in terms if share > 0)
        per_class.append(var)
    return math.sqrt(sum(per_class)) / len(per_class) if per_class else math.nan
