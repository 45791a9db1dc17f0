"""Matplotlib drawings for the evaluation reports (computed on demand, never at evaluate time)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure


# What each drawing reads of its report: the reports import this module to draw themselves, so it
# names the shape it needs instead of importing them back (no import circle).
class EvaluationReport(Protocol):
    """What :class:`~.evaluation.EvaluationReport` gives the drawings."""

    model: str
    confusion: Any  # a numpy array, or None
    predictions: Any  # evaluation.inputs.Predictions: y, pred, proba, classes

    @property
    def primary_metric(self) -> str: ...

    def slices_frame(self) -> pd.DataFrame: ...


class ThresholdReport(Protocol):
    """What :class:`~.threshold.ThresholdReport` gives its curve."""

    model: str
    chosen: float | None
    target_accuracy: float | None

    @property
    def table(self) -> Any: ...

    def at(self, threshold: float) -> dict[str, Any]: ...


class ComparisonReport(Protocol):
    """What :class:`~.evaluation.ComparisonReport` gives its bootstrap histogram."""

    metric: str
    difference: float
    ci: tuple[float, float]
    confidence: float
    verdict: str
    bootstrap: Any  # numpy array of resampled differences


def figure(ncols: int = 1, *, width: float = 5.0, height: float = 4.0) -> tuple[Figure, Any]:
    """A closed pyplot figure (returned, shown once by Jupyter); Agg when there is no display."""
    import matplotlib

    if ("matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND")
            and sys.platform.startswith("linux") and not os.environ.get("DISPLAY")):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    plt.close(fig)  # not auto-shown by the inline backend: the caller returns it
    return fig, axes[0]


def confusion(report: EvaluationReport, *, normalize: bool = False) -> Figure:
    import numpy as np

    cm = np.asarray(report.confusion, dtype="float64")
    if normalize:
        cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    labels = [str(c) for c in report.predictions.classes]
    fig, (ax,) = figure(width=1.2 + 0.6 * len(labels) if len(labels) > 6 else 5.0)
    im = ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, f"{cm[i, j]:.2f}" if normalize else f"{int(cm[i, j])}", ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black", fontsize=8)
    fig.colorbar(im, ax=ax)
    ax.set_title(f"Confusion matrix — {report.model}")
    fig.tight_layout()
    return fig


def _one_vs_rest(report: EvaluationReport) -> list[tuple[str, Any, Any]]:
    p = report.predictions
    if len(p.classes) == 2:
        return [(str(p.classes[1]), p.true_codes == 1, p.proba[:, 1])]
    return [(str(c), p.true_codes == i, p.proba[:, i]) for i, c in enumerate(p.classes)]


def roc(report: EvaluationReport) -> Figure:
    from sklearn.metrics import auc, roc_curve

    fig, (ax,) = figure()
    for label, truth, score in _one_vs_rest(report):
        if truth.all() or not truth.any():
            continue
        fpr, tpr, _ = roc_curve(truth, score)
        ax.plot(fpr, tpr, label=f"{label} (AUC {auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC — {report.model}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def pr(report: EvaluationReport) -> Figure:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    fig, (ax,) = figure()
    for label, truth, score in _one_vs_rest(report):
        if not truth.any():
            continue
        precision, recall, _ = precision_recall_curve(truth, score)
        ax.plot(recall, precision, label=f"{label} (AP {average_precision_score(truth, score):.3f})")
    ax.set(xlabel="recall", ylabel="precision", title=f"Precision–recall — {report.model}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def calibration(report: EvaluationReport, *, bins: int = 10) -> Figure:
    from sklearn.calibration import calibration_curve

    fig, (ax,) = figure()
    p = report.predictions
    correct = p.proba.argmax(axis=1) == p.true_codes
    frac, mean = calibration_curve(correct, p.confidence, n_bins=bins, strategy="quantile")
    ax.plot(mean, frac, marker="o", label="top-class confidence")
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="perfectly calibrated")
    ax.set(xlabel="mean confidence", ylabel="share correct", title=f"Calibration — {report.model}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def residuals(report: EvaluationReport) -> Figure:
    import numpy as np

    p = report.predictions
    resid = p.y_true - p.y_pred
    fig, (ax1, ax2) = figure(2)
    show = np.random.default_rng(0).choice(p.n, size=min(p.n, 20_000), replace=False)
    ax1.scatter(p.y_pred[show], resid[show], s=4, alpha=0.4)
    ax1.axhline(0, c="grey", lw=1)
    ax1.set(xlabel="predicted", ylabel="residual (true − predicted)", title=f"Residuals — {report.model}")
    ax2.hist(resid, bins=50)
    ax2.set(xlabel="residual", ylabel="rows", title="Residual distribution")
    fig.tight_layout()
    return fig


def slices(report: EvaluationReport, column: str | None = None) -> Figure:
    frame = report.slices_frame()
    primary = report.primary_metric
    columns = [column] if column else list(dict.fromkeys(frame["column"]))
    fig, axes = figure(len(columns))
    for ax, col in zip(axes, columns, strict=True):
        part = frame[frame["column"] == col]
        colors = ["#d62728" if w else "#1f77b4" for w in part["worst"]]
        ax.barh([str(v) for v in part["value"]], part[primary], color=colors)
        ax.set(xlabel=primary, title=f"{primary} by {col}")
    fig.tight_layout()
    return fig


def threshold_curve(report: ThresholdReport, marker: float | None = None) -> Figure:
    import numpy as np

    t = report.table
    fig, (ax,) = figure(width=6.0)
    ax.plot(t["threshold"], t["coverage"], label="coverage (auto-handled)")
    ax.plot(t["threshold"], t["accuracy"], label="accuracy on auto-handled")
    ax.plot(t["threshold"], t["human_share"], ls=":", label="share to a human")
    if report.target_accuracy is not None:
        ax.axhline(report.target_accuracy, c="grey", ls="--", lw=1, label=f"target {report.target_accuracy:g}")
    marker = report.chosen if marker is None else marker
    if marker is not None and np.isfinite(marker):
        row = report.at(marker)
        ax.axvline(marker, c="#d62728", lw=1)
        ax.plot([marker, marker], [row["coverage"], row["accuracy"]], "o", c="#d62728",
                label=f"t={marker:.2f}: coverage {row['coverage']:.1%}, accuracy {row['accuracy']:.1%}")
    ax.set(xlabel="confidence threshold", ylim=(0, 1.02), title=f"Human routing — {report.model}")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def bootstrap(report: ComparisonReport) -> Figure:
    fig, (ax,) = figure()
    ax.hist(report.bootstrap, bins=40, color="#1f77b4", alpha=0.8)
    low, high = report.ci
    for v in (low, high):
        ax.axvline(v, c="#d62728", ls="--", lw=1)
    ax.axvline(0, c="black", lw=1)
    ax.axvline(report.difference, c="#2ca02c", lw=2, label=f"observed {report.difference:+.4g}")
    ax.set(xlabel=f"{report.metric}: B − A", ylabel="resamples",
           title=f"{report.verdict} ({report.confidence:.0%} interval {low:+.4g} … {high:+.4g})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
