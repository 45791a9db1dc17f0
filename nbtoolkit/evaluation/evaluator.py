"""``evaluate``: metrics, per-slice metrics and an edge-case suite for one model on one dataset."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BadInput
from . import metrics as M
from .inputs import predict, resolve_model, task_of
from .slices import prepare as prepare_slices
from .slices import slice_table
from .suite import Suite, run_suite

if TYPE_CHECKING:  # pragma: no cover
    from ..reports.evaluation import EvaluationReport


def evaluate(
    model: Any,
    X: Any,
    y: Any,
    *,
    slices: Sequence[Any] | str | None = None,
    suite: str | Path | dict[str, Any] | Suite | None = None,
    metrics: Sequence[str] | None = None,
    log: bool = False,
    dataset: str = "test",
) -> EvaluationReport:
    """Evaluate a classifier or regressor (detected) on ``X``, ``y``.

    Parameters
    ----------
    model : REF (``NAME``, ``NAME/3``, ``NAME@alias``) or a fitted estimator / pipeline
    X, y : rows (DataFrame or 2-D array) and their truth
    slices : column names of ``X`` (or arrays of one value per row); the same metrics are given
        per value (numeric columns with many values in quartiles) with sizes, the worst flagged
    suite : an edge-case suite (YAML path, YAML text or dict; see :mod:`.suite`)
    metrics : restrict to these metrics (default: every one that applies)
    log : log the scalar metrics onto the version's run (``promote --require`` gates read them);
        ``model`` must then be a REF. They are named ``DATASET.METRIC`` (``test.accuracy``), tied
        to the version's MLflow logged model, and ``X`` is recorded as its evaluation dataset.
    dataset : name of the evaluation data for ``log`` (default ``"test"``)

    Returns
    -------
    EvaluationReport
        ``.metrics``, ``.per_class``, ``.confusion``, ``.slices``, ``.suite``, ``.passed`` (every
        suite case passed), ``.plot(kind=...)``.
    """
    from ..reports.evaluation import EvaluationReport, SuiteReport

    if isinstance(slices, str):
        slices = [slices]
    if slices is not None and not isinstance(slices, (list, tuple)):
        raise BadInput(f"slices must be a list of column names (or of arrays, one value per row), got "
                       f"{type(slices).__name__}.")
    slices = list(slices or [])
    if metrics is not None:
        from ..validation import sequence

        metrics = sequence(metrics, "metrics")
    m = resolve_model(model)
    if log and m.ref is None:
        raise BadInput(f"--log writes metrics onto a registered version, but {m.label} is not one; "
                       "pass a REF such as NAME/3 or NAME@challenger.")
    if log:
        from ..refs import check_name

        check_name(dataset, what="dataset name")
    suite_obj = Suite.load(suite) if suite is not None else None
    task = task_of(m.estimator)
    classes = getattr(m.estimator, "classes_", None)
    names = M.check_metric_names(list(metrics) if metrics is not None else None, task=task,
                                 has_proba=task == "classification" and hasattr(m.estimator, "predict_proba"),
                                 n_classes=len(classes) if classes is not None else 0, label=m.label)
    prepared = prepare_slices(X, slices)  # bad slice columns fail before predicting
    # slice columns are metadata unless the model takes them (its inputs, when known, decide)
    m = replace(m, exclude=tuple(c for c in slices if isinstance(c, str)))
    p = predict(m, X, y)
    cm = M.confusion(p) if task == "classification" else None
    values = M.classification_metrics(p, names, cm=cm) if cm is not None else M.regression_metrics(p, names)
    per_class = M.per_class(p, cm) if cm is not None else []
    slice_rows = slice_table(p, prepared) if slices else []
    suite_report = None
    if suite_obj is not None:
        suite_report = SuiteReport(suite_obj.name, run_suite(suite_obj, m, X, y, p))
    report = EvaluationReport(
        model=m.label, ref=m.ref, task=task, metrics=values, per_class=per_class, confusion=cm,
        slices=slice_rows, suite=suite_report, predictions=p,
    )
    if log:
        from .. import registry

        registry.log_version_metrics(m.ref, report.loggable_metrics(), dataset=dataset, X=X, y=y)
        report.logged = True
    return report
