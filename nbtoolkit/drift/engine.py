"""``drift()``: compare current data with a reference frame, a Profile or a model's stored profile.

An orchestration over three modes (over time, frame vs reference, profile vs profile); the
arguments become a frozen :class:`.settings.Settings`, the inputs are checked in :mod:`.inputs`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

from ..errors import Arg, BadInput, CheckFailed, did_you_mean, say
from ..validation import names as column_names  # `names` is a local list in drift()
from ..vocabulary import renamed
from .columns import skipped
from .inputs import MIN_ROWS, checked_frame, column_list, is_path, read_table, resolve_reference
from ..profiles import Profile
from .scale import is_dask_frame, profile_dask
from .settings import CORRECTIONS, DEFAULT_SHARE, Settings

if TYPE_CHECKING:  # pragma: no cover
    from ..reports.drift import DriftColumn
    from ..reports.drift import DriftReport
    from ..reports.drift_timeline import DriftTimeline

__all__ = ["CORRECTIONS", "DEFAULT_SHARE", "MIN_ROWS", "drift"]  # the constants' old home


@renamed(raise_on_drift="fail")
def drift(
    current: Any,
    reference: Any = None,
    *,
    model: Any = None,
    columns: Iterable[str] | str | None = None,
    method: str | Mapping[str, str] = "auto",
    threshold: float | Mapping[str, float] | Literal["reference"] | None = None,
    drift_share: float | None = None,
    correction: str | None = None,
    multivariate: bool | str = False,
    fail: bool = False,
    log: bool = True,
    predictions: bool = True,
    chunk_size: int | None = None,
    chunk_number: int | None = None,
    window: str | None = None,
    timestamp: str | None = None,
    threshold_sd: float = 3.0,
) -> DriftReport | DriftTimeline:
    """Test every column of ``current`` for drift against a reference; return a DriftReport.

    Parameters
    ----------
    current : DataFrame, dask DataFrame, Profile, or the path of a CSV or Parquet file
        The data to check (a path is read as ``nbt data drift`` reads it); or its profile built
        ``like=`` the reference profile (for data too large for memory:
        ``Profile.from_parquet(path, like=reference_profile)``). A dask
        DataFrame is profiled per partition on the reference's bins (:mod:`.scale`).
    reference : DataFrame, Profile or the path of a CSV or Parquet file, optional
        Reference data, or its :class:`Profile`. Without it, ``model`` names a registered version
        whose stored profile is the reference (no raw reference data needed).
    model : str or fitted estimator, optional
        ``NAME``, ``NAME/3`` or ``NAME@alias``; or an estimator. When the reference profile holds
        the model's outputs, the model's predictions and confidences on ``current`` are tested too
        (prediction drift).
    columns : list of str or "a,b", optional
        Only these columns.
    method : "auto", a statistic of :data:`nbtoolkit.profiles.methods.STATISTICS`, or a dict
        column -> method (the statistics and their defaults: the table "Drift statistics" on the
        data page). ``auto``: p-value tests (KS, chi-square) when either side has at most
        1000 rows, distances (Wasserstein normed by the reference std, Jensen–Shannon) above.
    threshold : float or dict column -> float, optional
        p-value below which (p-value tests) or distance from which (distances) a column drifted.
        Defaults: each statistic's own (0.05 for the p-values, 0.1 for the distances).
    drift_share : float, optional
        The dataset drifted when at least this share of tested columns drifted (default
        ``%config Nbt.drift_share`` or 0.5), or when the multivariate check flags.
    correction : "bonferroni", "holm" or "fdr_bh", optional
        Multiple-testing adjustment of the p-values across columns.
    multivariate : bool
        Also train a domain classifier (reference vs current, 5-fold ROC AUC); needs a raw
        reference frame.
    fail : bool
        Raise :class:`~nbtoolkit.errors.CheckFailed` (carrying the report) when the dataset
        drifted (old name ``raise_on_drift``).
    log : bool
        Log the summary to the active MLflow run when there is one.
    predictions : bool
        Also test the model's outputs (prediction and confidence drift) when ``model`` is given
        and its profile holds them (default). ``False`` checks the inputs only and never loads the
        model, which is much faster from a cold process.
    chunk_size, chunk_number, window, timestamp : drift over time
        Cut both frames into chunks of N rows, into N chunks, or by time (``window="1D"`` with
        ``timestamp=COLUMN``) and return a :class:`~nbtoolkit.reports.drift_timeline.DriftTimeline`
        (chunk × column: statistic, threshold, missing share, drifted, note; plus the PCA
        reconstruction error with ``multivariate=True`` or ``"pca"``, a domain classifier's
        cross-validated AUROC per chunk with ``"classifier"`` — see :mod:`.domain` — or both with
        ``"both"``). ``threshold="reference"`` (the default
        there) learns each column's limit as the mean + ``threshold_sd`` sd of its statistic over
        the reference chunks; see :mod:`.timeline`.

    Missing values are left out of the tests. A column the reference has values for and whose
    current values are all missing (or infinite) has no distribution to test: it is drifted, with
    method ``"missing"`` (statistic 1.0, the current missing share; threshold the reference's) —
    the column stopped arriving, which "no drift" would hide. Over time the same holds per chunk,
    and a chunk's rising missing share gets a note.

    Each column's row also gives its data quality, from the two profiles: the missing share of
    reference and current, the current categories the reference never had (``unseen_values``,
    ``unseen_rate``) and the share of current numbers outside the reference ``[min, max]``
    (``out_of_range_rate``) — shown in the table, ``to_frame()``, the JSON and the verdict line; they
    do not change the drift verdict (:func:`nbtoolkit.quality` gives them per chunk, with alerts).
    """
    from ..contract import as_frame

    columns = column_names(columns, "columns")
    if is_path(current):  # read as `nbt data drift` reads its files
        current = read_table(current, what="current file")
    if is_path(reference):
        reference = read_table(reference, what="reference file")
    if threshold == "reference" or chunk_size is not None or chunk_number is not None or window is not None:
        return _over_time(current, reference, model=model, columns=columns, method=method,
                          threshold=threshold, threshold_sd=threshold_sd, chunk_size=chunk_size,
                          chunk_number=chunk_number, window=window, timestamp=timestamp,
                          multivariate=multivariate, fail=fail)
    settings = Settings.from_arguments(method, threshold, drift_share, correction)
    if is_dask_frame(reference):  # larger than memory: profiled partition by partition, see .scale
        reference = profile_dask(reference, model=None if isinstance(model, str) else model)
    cur_profile = current if isinstance(current, Profile) else None
    dask_current = cur_profile is None and is_dask_frame(current)
    cur = None if cur_profile is not None or dask_current else checked_frame(as_frame(current, what="current data"),
                                                                      "current data")
    raw_ref, ref_profile, estimator, source = resolve_reference(reference, model, predictions=predictions)
    if cur is not None:
        report = _frames_report(cur, raw_ref, ref_profile, estimator, source, columns, settings,
                                multivariate=multivariate)
    else:
        if ref_profile is None:
            ref_profile = Profile.from_frame(raw_ref, model=estimator)
        if dask_current:
            cur_profile = profile_dask(current, like=ref_profile, model=estimator if ref_profile.outputs else None)
        assert cur_profile is not None  # the Profile given as current, or the dask frame's
        report = _profiles_report(cur_profile, ref_profile, source, columns, settings)
    return _finish(report, log=log, raise_on_drift=fail)


def _over_time(current: Any, reference: Any, *, model: Any, threshold: Any, multivariate: bool | str,
               fail: bool, **settings: Any) -> DriftTimeline:
    """Drift over time (chunks or windows): see :mod:`.timeline`."""
    from .timeline import drift_timeline

    if model is not None:
        raise BadInput(say("Drift over time learns its thresholds from reference chunks; pass ",
                           Arg("reference", "DataFrame"), " instead of ", Arg("model"), "."))
    timeline = drift_timeline(current, reference, threshold="reference" if threshold is None else threshold,
                              multivariate=multivariate if isinstance(multivariate, str) else bool(multivariate),
                              **settings)
    if fail and timeline.drifted:
        raise CheckFailed(timeline.summary(), timeline)
    return timeline


def _frames_report(cur: Any, raw_ref: Any, ref_profile: Profile | None, estimator: Any, source: str,
                   columns: Any, settings: Settings, *, multivariate: bool | str) -> DriftReport:
    """Current frame against a reference frame or profile: exact KS on raw values where both exist,
    the model's outputs when the reference profile holds them, the domain classifier if asked."""
    names = column_list(columns, ref_profile, raw_ref, cur)
    for col in list(settings.methods) + list(settings.thresholds):
        if col not in names and (ref_profile is None or col not in ref_profile.columns):
            raise BadInput(f"Per-column setting for unknown column {col!r}." + did_you_mean(col, names))
    if ref_profile is None:
        ref_profile = Profile.from_frame(raw_ref, columns=names, model=estimator)
    outputs = list(ref_profile.outputs) if estimator is not None and ref_profile.outputs else []
    cur_profile = Profile.from_frame(cur, like=ref_profile, columns=names)
    output_rows = _output_rows(cur, estimator, ref_profile, outputs, settings) if outputs else []
    feature_rows = [settings.compare(name, ref_profile.columns[name], cur_profile.columns[name],
                                     raw=lambda name=name: _raw_pair(raw_ref, cur, name, ref_profile.columns[name]))
                    for name in names]
    multi = None
    if multivariate:
        if raw_ref is None:
            raise BadInput("The multivariate check trains a classifier on raw rows; pass the "
                           "reference frame (reference=...), not a stored profile.")
        from .multivariate import domain_classifier

        multi = domain_classifier(raw_ref, cur, [r.column for r in feature_rows if r.tested], ref_profile)
    return settings.report(feature_rows + output_rows, multivariate=multi, reference=source,
                           n_reference=ref_profile.n_rows, n_current=len(cur),
                           extra_columns=[str(c) for c in cur.columns if str(c) not in ref_profile.columns])


def _finish(report: DriftReport, *, log: bool, raise_on_drift: bool) -> DriftReport:
    if log:
        _log_to_mlflow(report)
    if raise_on_drift and report.drifted:
        raise CheckFailed(report.failure_message(), report)
    return report


def _profiles_report(cur: Profile, ref: Profile, source: str, columns: Any, settings: Settings) -> DriftReport:
    """Compare two profiles (current profiled ``like=`` the reference, e.g. chunk by chunk)."""
    names = [c for c in ref.columns if c in cur.columns and (c not in ref.outputs or c in cur.outputs)]
    if columns is not None:
        wanted = [c.strip() for c in columns.split(",")] if isinstance(columns, str) else list(columns)
        for col in wanted:
            if col not in names:
                raise BadInput(f"Unknown column {col!r}: not in both profiles." + did_you_mean(col, names))
        names = wanted
    missing = [c for c in ref.columns if c not in cur.columns and c not in ref.outputs]
    if missing:
        raise BadInput(f"Column(s) {missing!r} are in the reference profile but not in the current one.")
    for name in names:
        a, b = ref.columns[name], cur.columns[name]
        if a.get("kind") == "numeric" and b.get("kind") == "numeric" and (
                a["grid"], a["cuts"]) != (b["grid"], b["cuts"]):
            raise BadInput(f"Column {name!r} of the current profile uses other bins than the reference; "
                           "build it with Profile.from_frame(current, like=reference_profile).")
    rows = [settings.compare(name, ref.columns[name], cur.columns[name],
                             label="prediction" if name in ref.outputs else None) for name in names]
    return settings.report(rows, reference=source, n_reference=ref.n_rows, n_current=cur.n_rows)


def _raw_pair(raw_ref: Any, cur: Any, name: str, entry: dict[str, Any]) -> tuple[Any, Any] | None:
    """Finite raw values of both sides (for exact KS) when the reference frame is at hand."""
    if raw_ref is None or entry["kind"] != "numeric":
        return None
    import numpy as np

    a = raw_ref[name].to_numpy(dtype="float64", na_value=np.nan)
    try:
        b = cur[name].to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError):
        return None
    return a[np.isfinite(a)], b[np.isfinite(b)]


def _output_rows(cur: Any, estimator: Any, ref: Profile, outputs: list[str], settings: Settings) -> list[DriftColumn]:
    from ..profiles import model_outputs, profile_column

    try:
        produced = model_outputs(estimator, cur)
    except Exception as exc:
        reason = (f"the model cannot predict on the current data "
                  f"({type(exc).__name__}: {' '.join(str(exc).split())[:120]})")
        return [skipped(name, "prediction", reason) for name in outputs]
    rows = []
    for name in outputs:
        if name not in produced:
            rows.append(skipped(name, "prediction", "the model produced no such output"))
            continue
        entry = profile_column(produced[name], like=ref.columns[name])
        row = settings.compare(name, ref.columns[name], entry, label="prediction")
        rows.append(replace(row, note="model output" + (f"; {row.note}" if row.note else "")))
    return rows


def _log_to_mlflow(report: DriftReport) -> None:
    """Log the verdict and per-column statistics to the active MLflow run, if any (cheap)."""
    import re
    import sys

    if "mlflow" not in sys.modules:  # no run can be active if MLflow was never imported
        return
    from .. import store

    mlflow = store.mlflow_module()
    if mlflow.active_run() is None:
        return
    metrics = {"drift.share": report.share, "drift.n_drifted": float(report.n_drifted),
               "drift.dataset_drifted": float(report.drifted)}
    for row in report.rows:
        if row.statistic is not None:
            safe = re.sub(r"[^0-9A-Za-z_\-. /]", "_", row.column)
            metrics[f"drift.{safe}.{row.method}"] = float(min(row.statistic, 1e300))
    with store.translate_errors():
        mlflow.log_metrics(metrics)
        mlflow.log_dict(report.to_dict(), "nbt/drift_report.json")
