"""Confidence thresholds for human routing: coverage vs accuracy of auto-handled predictions.

A prediction is handled automatically when its confidence (the top predicted probability) is at
least the threshold; the rest go to a human. The table is computed for every candidate at once
from the sorted confidences and a cumulative count of correct predictions (exact, O(n log n)).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import BadInput, CheckFailed
from .inputs import predict, resolve_model

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from ..reports.evaluation import ThresholdReport

DEFAULT_STEP = 0.01


def candidates(thresholds: Any = None) -> Any:
    """Candidate thresholds: an explicit list, a number of evenly spaced points, or 0..1 by 0.01."""
    import numpy as np

    if thresholds is None:
        return np.round(np.arange(0, 1 + DEFAULT_STEP / 2, DEFAULT_STEP), 4)
    if isinstance(thresholds, int) and not isinstance(thresholds, bool):
        if not 2 <= thresholds <= 100_000:
            raise BadInput(f"thresholds must be 2 to 100000 points, got {thresholds!r}.")
        return np.linspace(0, 1, thresholds)
    if isinstance(thresholds, (str, bytes, dict)) or not hasattr(thresholds, "__len__"):
        raise BadInput(f"thresholds must be a list of confidences in [0, 1] or a number of points, got "
                       f"{type(thresholds).__name__}.")
    try:
        values = np.unique(np.asarray(thresholds, dtype="float64"))
    except (TypeError, ValueError):
        raise BadInput(f"thresholds must be numbers in [0, 1], got {thresholds!r}.") from None
    if values.size == 0 or not np.isfinite(values).all() or values.min() < 0 or values.max() > 1:
        raise BadInput(f"Thresholds must lie in [0, 1], got {thresholds!r}.")
    return values


def coverage_table(confidence: np.ndarray, correct: np.ndarray, thresholds: np.ndarray) -> dict[str, Any]:
    """Columns threshold, coverage, accuracy, human_share, n_auto for each threshold (auto: conf ≥ t)."""
    import numpy as np

    order = np.argsort(confidence, kind="stable")
    conf = np.asarray(confidence)[order]
    hits = np.concatenate([[0], np.cumsum(np.asarray(correct)[order])])
    n = len(conf)
    first = np.searchsorted(conf, thresholds, side="left")  # rows from here on are auto-handled
    n_auto = n - first
    correct_auto = hits[-1] - hits[first]
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = np.where(n_auto > 0, correct_auto / np.maximum(n_auto, 1), np.nan)
    coverage = n_auto / n
    return {"threshold": np.asarray(thresholds, dtype="float64"), "coverage": coverage,
            "accuracy": accuracy, "human_share": 1 - coverage, "n_auto": n_auto}


def threshold(
    model: Any,
    X: Any,
    y: Any,
    *,
    target_accuracy: float | None = None,
    thresholds: Any = None,
    save: bool = False,
) -> ThresholdReport:
    """Coverage and accuracy of auto-handled predictions for each confidence threshold.

    Parameters
    ----------
    model : REF (``NAME``, ``NAME/3``, ``NAME@alias``) or a fitted classifier with predict_proba
    X, y : held-out rows and their true labels
    target_accuracy : pick the lowest threshold whose auto-handled accuracy reaches this, in (0, 1]
    thresholds : candidate thresholds (list, or a number of evenly spaced points; default 0..1 by 0.01)
    save : store the chosen threshold on the version as tag ``nbt.threshold`` (a deployment
        reads it); needs a REF and a ``target_accuracy`` that some threshold reaches

    Returns
    -------
    ThresholdReport
        ``.table`` (one row per candidate), ``.chosen`` (or None), ``.at(t)``, ``.plot()``.
    """
    from ..reports.evaluation import ThresholdReport

    if target_accuracy is not None and (
            isinstance(target_accuracy, bool) or not isinstance(target_accuracy, (int, float))
            or not 0 < target_accuracy <= 1):
        raise BadInput(f"target accuracy must be in (0, 1], e.g. 0.95, got {target_accuracy!r}.")
    if save and target_accuracy is None:
        raise BadInput("--save stores the threshold chosen by --target-accuracy; give one "
                       "(or call evaluation.save_threshold(REF, value)).")
    grid = candidates(thresholds)
    m = resolve_model(model)
    if save and m.ref is None:
        raise BadInput(f"--save stores the threshold on a registered version, but {m.label} is not one; "
                       "pass a REF such as NAME@champion.")
    p = predict(m, X, y, need_proba=True)
    confidence = p.confidence
    correct = p.proba.argmax(axis=1) == p.true_codes  # the prediction the confidence belongs to
    table = coverage_table(confidence, correct, grid)
    chosen = None
    if target_accuracy is not None:
        ok = (table["n_auto"] > 0) & (table["accuracy"] >= target_accuracy)
        if ok.any():
            chosen = float(table["threshold"][ok.argmax()])
    report = ThresholdReport(model=m.label, ref=m.ref, table=table, chosen=chosen,
                             target_accuracy=target_accuracy, confidence=confidence, correct=correct,
                             saver=save_threshold)
    if save:
        if chosen is None:
            raise CheckFailed(
                f"No threshold reaches accuracy {target_accuracy:g} on the auto-handled rows (best "
                f"{report.best_accuracy:.4g}); nothing saved. Lower --target-accuracy or improve the model.",
                report,
            )
        save_threshold(m.ref, chosen)
        report.saved = True
    return report


def save_threshold(ref: Any, value: float) -> Any:
    """Store a confidence threshold on a registered version (tag ``nbt.threshold``)."""
    from .. import registry

    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise BadInput(f"A confidence threshold must be a number in [0, 1], got {value!r}.")
    if not isinstance(ref, str):
        ref = getattr(ref, "_nbt_ref", None) or getattr(ref, "ref", None)
        if not isinstance(ref, str):
            raise BadInput("save_threshold needs a registered version: pass a REF such as NAME/3.")
    return registry.set_version_tag(ref, registry.TAG_THRESHOLD, str(float(value)))
