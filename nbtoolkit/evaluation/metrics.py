"""Metrics of one set of predictions, equal to scikit-learn's on the same predictions.

Counting metrics (accuracy, balanced accuracy, precision/recall/F1) are read off one confusion
matrix built with ``numpy.bincount`` on the label codes; they follow scikit-learn's definitions
exactly (macro averages over the labels present in y_true or y_pred, zero division gives 0,
balanced accuracy over the labels present in y_true). Ranking and probabilistic metrics (ROC AUC,
log loss, Brier) and the regression metrics call scikit-learn.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import BadInput, did_you_mean
from .inputs import Predictions, _py

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class MetricInfo:
    task: str                 # "classification" | "regression"
    higher_is_better: bool
    needs_proba: bool = False
    binary_only: bool = False


METRICS: dict[str, MetricInfo] = {
    "accuracy": MetricInfo("classification", True),
    "balanced_accuracy": MetricInfo("classification", True),
    "precision": MetricInfo("classification", True, binary_only=True),
    "recall": MetricInfo("classification", True, binary_only=True),
    "f1": MetricInfo("classification", True, binary_only=True),
    "precision_macro": MetricInfo("classification", True),
    "recall_macro": MetricInfo("classification", True),
    "f1_macro": MetricInfo("classification", True),
    "roc_auc": MetricInfo("classification", True, needs_proba=True),
    "log_loss": MetricInfo("classification", False, needs_proba=True),
    "brier": MetricInfo("classification", False, needs_proba=True),
    "mae": MetricInfo("regression", False),
    "rmse": MetricInfo("regression", False),
    "r2": MetricInfo("regression", True),
    "mape": MetricInfo("regression", False),
}
PRIMARY = {"classification": "accuracy", "regression": "rmse"}


def default_metrics(p: Predictions) -> list[str]:
    binary = p.task == "classification" and len(p.classes) == 2
    return [m for m, info in METRICS.items() if info.task == p.task
            and (p.has_proba or not info.needs_proba) and (binary or not info.binary_only)]


def check_metric_names(names: list[str] | None, *, task: str, has_proba: bool, n_classes: int,
                       label: str = "the model") -> list[str] | None:
    """Refuse unknown metrics, metrics of the other task and probability metrics without proba."""
    if names is None:
        return None
    out = []
    for name in names:
        info = METRICS.get(name)
        if info is None:
            raise BadInput(f"Unknown metric {name!r}." + did_you_mean(name, METRICS, what="Metrics"))
        if info.task != task:
            valid = ", ".join(m for m, i in METRICS.items() if i.task == task)
            raise BadInput(
                f"{name!r} is a {info.task} metric but {label} is a "
                f"{'regressor' if task == 'regression' else 'classifier'}; its metrics are: {valid}."
            )
        if info.needs_proba and not has_proba:
            raise BadInput(
                f"{name!r} needs predicted probabilities but {label} has no predict_proba; "
                "drop the metric or use a probabilistic classifier."
            )
        if info.binary_only and n_classes != 2:
            raise BadInput(f"{name!r} is for binary classifiers; with {n_classes} classes use {name}_macro.")
        out.append(name)
    return out


def confusion(p: Predictions) -> Any:
    """Confusion matrix over ``p.classes`` (rows: true, columns: predicted)."""
    import numpy as np

    k = len(p.classes)
    return np.bincount(p.true_codes * k + p.pred_codes, minlength=k * k).reshape(k, k)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    import numpy as np

    out = np.zeros(np.shape(num), dtype="float64")
    np.divide(num, den, out=out, where=den > 0)
    return out


def per_class(p: Predictions, cm: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Precision, recall, F1 and support of each class (scikit-learn's ``average=None``)."""
    cm = confusion(p) if cm is None else cm
    tp = cm.diagonal()
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    prec, rec = _safe_div(tp, predicted), _safe_div(tp, support)
    f1 = _safe_div(2 * tp, support + predicted)
    return [{"class": _py(c), "precision": float(prec[i]), "recall": float(rec[i]),
             "f1": float(f1[i]), "support": int(support[i])} for i, c in enumerate(p.classes)]


def classification_metrics(p: Predictions, names: list[str] | None = None, *,
                           cm: np.ndarray | None = None) -> dict[str, float | None]:
    """Scalar metrics of a classifier's predictions; None where a metric is undefined."""
    names = names or default_metrics(p)
    cm = confusion(p) if cm is None else cm
    n = cm.sum()
    tp = cm.diagonal()
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    present = (support + predicted) > 0  # scikit-learn macro-averages over these labels
    out: dict[str, float | None] = {}
    for name in names:
        if name == "accuracy":
            out[name] = float(tp.sum() / n) if n else None
        elif name == "balanced_accuracy":
            recall = tp[support > 0] / support[support > 0]
            out[name] = float(recall.mean()) if len(recall) else None
        elif name in {"precision_macro", "recall_macro", "f1_macro"}:
            if name == "precision_macro":
                values = _safe_div(tp, predicted)
            elif name == "recall_macro":
                values = _safe_div(tp, support)
            else:
                values = _safe_div(2 * tp, support + predicted)
            out[name] = float(values[present].mean()) if present.any() else None
        elif name in {"precision", "recall", "f1"}:  # binary: the positive class is classes_[1]
            den = {"precision": predicted[1], "recall": support[1], "f1": support[1] + predicted[1]}[name]
            num = 2 * tp[1] if name == "f1" else tp[1]
            out[name] = float(num / den) if den else 0.0
        elif name in {"roc_auc", "log_loss", "brier"}:
            out[name] = _proba_metric(name, p)
        else:  # pragma: no cover - guarded by check_metric_names
            raise BadInput(f"Unknown metric {name!r}.")
    return out


def _proba_metric(name: str, p: Predictions) -> float | None:
    import numpy as np
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    k = len(p.classes)
    labels = np.arange(k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "roc_auc":
            present = np.unique(p.true_codes)
            if len(present) < 2 or (k > 2 and len(present) < k):
                return None  # undefined: ROC AUC needs every class among the true labels
            if k == 2:
                return float(roc_auc_score(p.true_codes, p.proba[:, 1]))
            return float(roc_auc_score(p.true_codes, p.proba, multi_class="ovr", labels=labels))
        if name == "log_loss":
            return float(log_loss(p.true_codes, p.proba, labels=labels))
        if k == 2:
            return float(brier_score_loss(p.true_codes, p.proba[:, 1], pos_label=1))
        return float(brier_score_loss(p.true_codes, p.proba, labels=labels))


def regression_metrics(p: Predictions, names: list[str] | None = None) -> dict[str, float | None]:
    from sklearn.metrics import (
        mean_absolute_error,
        mean_absolute_percentage_error,
        r2_score,
        root_mean_squared_error,
    )

    fns = {"mae": mean_absolute_error, "rmse": root_mean_squared_error, "r2": r2_score,
           "mape": mean_absolute_percentage_error}
    out: dict[str, float | None] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in names or default_metrics(p):
            if name == "r2" and p.n < 2:
                out[name] = None
                continue
            out[name] = float(fns[name](p.y_true, p.y_pred))
    return out


def compute(p: Predictions, names: list[str] | None = None) -> dict[str, float | None]:
    """All scalar metrics (or ``names``) of ``p``."""
    if p.task == "classification":
        return classification_metrics(p, names)
    return regression_metrics(p, names)
