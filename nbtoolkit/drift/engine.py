"""``drift()``: compare current data with a reference frame, a Profile or a model's stored profile."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import BadInput, CheckFailed, NotFound, did_you_mean
from ..vocabulary import renamed
from ..validation import fraction, number
from ..validation import names as column_names  # `names` is a local list in drift()
from . import stats
from .columns import compare_column, skipped
from .profile import Profile
from .scale import is_dask_frame, profile_dask

if TYPE_CHECKING:  # pragma: no cover
    from ..reports.drift import DriftReport
    from ..reports.drift_timeline import DriftTimeline

CORRECTIONS = ("none", "bonferroni", "holm", "fdr_bh")
DEFAULT_SHARE = 0.5
MIN_ROWS = 2


@renamed(raise_on_drift="fail")
def drift(
    current: Any,
    reference: Any = None,
    *,
    model: Any = None,
    columns: Iterable[str] | str | None = None,
    method: str | Mapping[str, str] = "auto",
    threshold: float | Mapping[str, float] | None = None,
    drift_share: float | None = None,
    correction: str | None = None,
    multivariate: bool = False,
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
    current : DataFrame, dask DataFrame or Profile
        The data to check; or its profile built ``like=`` the reference profile (for data too
        large for memory: ``Profile.from_parquet(path, like=reference_profile)``). A dask
        DataFrame is profiled per partition on the reference's bins (:mod:`.scale`).
    reference : DataFrame or Profile, optional
        Reference data, or its :class:`Profile`. Without it, ``model`` names a registered version
        whose stored profile is the reference (no raw reference data needed).
    model : str or fitted estimator, optional
        ``NAME``, ``NAME/3`` or ``NAME@alias``; or an estimator. When the reference profile holds
        the model's outputs, the model's predictions and confidences on ``current`` are tested too
        (prediction drift).
    columns : list of str or "a,b", optional
        Only these columns.
    method : "auto", "ks", "psi", "wasserstein", "jensenshannon" or "chisquare", or a dict
        column -> method. ``auto``: p-value tests (KS, chi-square) when either side has at most
        1000 rows, distances (Wasserstein normed by the reference std, Jensen–Shannon) above.
    threshold : float or dict column -> float, optional
        p-value below which (p-value tests) or distance from which (distances) a column drifted.
        Defaults: 0.05 for p-values, 0.1 for distances.
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
        (chunk × column: statistic, threshold, drifted; plus the PCA reconstruction error with
        ``multivariate=True``). ``threshold="reference"`` (the default there) learns each
        column's limit as the mean + ``threshold_sd`` sd of its statistic over the reference chunks;
        see :mod:`.timeline`.
    """
    from ..data import as_frame

    columns = column_names(columns, "columns")
    if threshold == "reference" or chunk_size is not None or chunk_number is not None or window is not None:
        return _over_time(current, reference, model=model, columns=columns, method=method,
                          threshold=threshold, threshold_sd=threshold_sd, chunk_size=chunk_size,
                          chunk_number=chunk_number, window=window, timestamp=timestamp,
                          multivariate=multivariate, fail=fail)
    settings = _settings(method, threshold, drift_share, correction)
    if is_dask_frame(reference):  # larger than memory: profiled partition by partition, see .scale
        reference = profile_dask(reference, model=None if isinstance(model, str) else model)
    cur_profile = current if isinstance(current, Profile) else None
    dask_current = cur_profile is None and is_dask_frame(current)
    cur = None if cur_profile is not None or dask_current else _frame(as_frame(current, what="current data"),
                                                                      "current data")
    raw_ref, ref_profile, estimator, source = _reference(reference, model, predictions=predictions)
    if cur is not None:
        report = _frames_report(cur, raw_ref, ref_profile, estimator, source, columns, settings,
                                multivariate=multivariate)
    else:
        if ref_profile is None:
            ref_profile = Profile.from_frame(raw_ref, model=estimator)
        if dask_current:
            cur_profile = profile_dask(current, like=ref_profile, model=estimator if ref_profile.outputs else None)
        report = _profiles_report(cur_profile, ref_profile, source, columns, settings)
    return _finish(report, log=log, raise_on_drift=fail)


@dataclass(frozen=True)
class _Settings:
    """How each column is tested (per-column method and threshold, with defaults) and how the
    dataset verdict is reached (share of drifted columns, p-value correction)."""

    methods: Mapping[str, str]
    default_method: str
    thresholds: Mapping[str, float]
    default_threshold: float | None
    share: float
    correction: str | None

    def compare(self, name: str, ref: dict[str, Any], cur: dict[str, Any], *, raw: Any = None,
                label: str | None = None) -> dict[str, Any]:
        """One column's row (see :func:`.columns.compare_column`)."""
        return compare_column(name, ref, cur, method=self.methods.get(name, self.default_method),
                              explicit=name in self.methods,
                              threshold=self.thresholds.get(name, self.default_threshold), raw=raw, label=label)

    def report(self, rows: list[dict[str, Any]], **describe: Any) -> DriftReport:
        """The report over ``rows``, p-values adjusted first when a correction is set."""
        from ..reports.drift import DriftReport

        _apply_correction(rows, self.correction)
        return DriftReport(rows, drift_share=self.share, correction=self.correction, **describe)


def _settings(method: Any, threshold: Any, drift_share: float | None, correction: str | None) -> _Settings:
    from .. import config

    methods, default_method = _methods(method)
    thresholds, default_threshold = _thresholds(threshold, methods, default_method)
    correction = _correction(correction)
    share = drift_share if drift_share is not None else config.drift_threshold()
    share = DEFAULT_SHARE if share is None else fraction(share, "drift_share", zero=False,
                                                         hint=" (e.g. 0.5: half the columns)")
    return _Settings(methods, default_method, thresholds, default_threshold, share, correction)


def _over_time(current: Any, reference: Any, *, model: Any, threshold: Any, multivariate: bool,
               fail: bool, **settings: Any) -> DriftTimeline:
    """Drift over time (chunks or windows): see :mod:`.timeline`."""
    from .timeline import drift_timeline

    if model is not None:
        raise BadInput("Drift over time learns its thresholds from reference chunks; pass "
                       "reference=DataFrame instead of model=.")
    timeline = drift_timeline(current, reference, threshold="reference" if threshold is None else threshold,
                              multivariate=bool(multivariate), **settings)
    if fail and timeline.drifted:
        raise CheckFailed(timeline.summary(), timeline)
    return timeline


def _frames_report(cur: Any, raw_ref: Any, ref_profile: Profile | None, estimator: Any, source: str,
                   columns: Any, settings: _Settings, *, multivariate: bool) -> DriftReport:
    """Current frame against a reference frame or profile: exact KS on raw values where both exist,
    the model's outputs when the reference profile holds them, the domain classifier if asked."""
    names = _columns(columns, ref_profile, raw_ref, cur)
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

        multi = domain_classifier(raw_ref, cur, [r["column"] for r in feature_rows
                                                if r["method"] != "skipped"], ref_profile)
    return settings.report(feature_rows + output_rows, multivariate=multi, reference=source,
                           n_reference=ref_profile.n_rows, n_current=len(cur),
                           extra_columns=[str(c) for c in cur.columns if str(c) not in ref_profile.columns])


def _finish(report: Any, *, log: bool, raise_on_drift: bool) -> Any:
    if log:
        _log_to_mlflow(report)
    if raise_on_drift and report.drifted:
        raise CheckFailed(report.failure_message(), report)
    return report


def _profiles_report(cur: Profile, ref: Profile, source: str, columns: Any, settings: _Settings) -> DriftReport:
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


# ------------------------------------------------------------------------------ arguments
def _methods(method: Any) -> tuple[dict[str, str], str]:
    valid = ("auto", *stats.METHODS)
    per = dict(method) if isinstance(method, Mapping) else {}
    default = per.pop("*", "auto") if per else (method or "auto")
    for col, m in [("*", default), *per.items()]:
        if m not in valid:
            raise BadInput(f"Unknown drift method {m!r}" + (f" for column {col!r}" if col != "*" else "")
                           + f"; use one of {', '.join(valid)}.")
    return per, default


def _thresholds(threshold: Any, methods: Mapping[str, str] | None = None,
                default_method: str = "auto") -> tuple[dict[str, float], float | None]:
    """Thresholds as floats: positive and finite; below 1 where the column's test gives a p-value."""
    per = dict(threshold) if isinstance(threshold, Mapping) else {}
    default = per.pop("*", None) if per else threshold
    checked: dict[str, float] = {}
    for col, value in [("*", default), *per.items()]:
        if value is None and col == "*":
            continue
        where = f" for column {col!r}" if col != "*" else ""
        method = (methods or {}).get(col, default_method)
        if method in stats.P_VALUE_METHODS:  # a p-value: 1.5 would flag every column
            checked[col] = number(value, f"Drift threshold{where}", low=0, high=1, low_open=True,
                                  high_open=True, hint=f" ({method} gives a p-value; e.g. 0.05)")
        else:
            checked[col] = number(value, f"Drift threshold{where}", low=0, low_open=True)
    default = checked.pop("*", None)
    return checked, default


def _correction(correction: str | None) -> str | None:
    if correction in (None, "", "none"):
        return None
    if correction not in CORRECTIONS:
        raise BadInput(f"Unknown correction {correction!r}; use one of {', '.join(CORRECTIONS)}.")
    return correction


def _frame(frame: Any, what: str) -> Any:
    if frame.shape[1] == 0 or len(frame) == 0:
        raise BadInput(f"The {what} is empty ({len(frame)} rows, {frame.shape[1]} columns); "
                       "drift needs rows to compare.")
    if len(frame) < MIN_ROWS:
        raise BadInput(f"The {what} has {len(frame)} row; drift tests compare distributions and "
                       f"need at least {MIN_ROWS} rows (a few hundred for a meaningful result).")
    if frame.columns.duplicated().any():
        dup = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise BadInput(f"The {what} has duplicated column names {dup!r}; rename them first.")
    if any(not isinstance(c, str) for c in frame.columns):
        frame = frame.rename(columns=str)
    return frame


def _reference(reference: Any, model: Any, *, predictions: bool = True) -> tuple[Any, Profile | None, Any, str]:
    from ..data import as_frame

    estimator = model if model is not None and not isinstance(model, str) else None
    if isinstance(reference, Profile):
        return None, reference, estimator, f"profile ({reference.n_rows} rows)"
    if reference is not None:
        frame = _frame(as_frame(reference, what="reference data"), "reference data")
        if isinstance(model, str) and predictions:
            from .. import registry

            estimator = registry.load(model)
        return frame, None, estimator, f"reference frame ({len(frame)} rows)"
    if model is None:
        raise BadInput("No reference: pass reference=DataFrame or Profile, or model='NAME@alias' "
                       "(a version registered with --data stores its profile).")
    if estimator is not None:
        raise BadInput("An estimator alone is no reference; pass reference=DataFrame as well, or "
                       "model='NAME@alias' for a registered version's stored profile.")
    return None, *_stored_profile(model, predictions=predictions)


def _stored_profile(ref: str, *, predictions: bool = True) -> tuple[Profile, Any, str]:
    from .. import registry
    from ..registry.artifacts import stored_profile

    mv, text = stored_profile(ref)
    profile = Profile.from_json(text)
    # predictions=False: inputs only; the model (skops, sklearn) is then never loaded
    estimator = registry.load(ref) if profile.outputs and predictions else None
    return profile, estimator, f"{mv.name}/{mv.version} profile ({profile.n_rows} rows)"


def _columns(columns: Any, profile: Profile | None, raw_ref: Any, cur: Any) -> list[str]:
    if profile is not None:
        known = [c for c in profile.columns if c not in profile.outputs]
    else:
        known = [str(c) for c in raw_ref.columns]
    if isinstance(columns, str):
        columns = [c.strip() for c in columns.split(",") if c.strip()]
    if columns is not None:
        columns = list(columns)
        if not columns:
            raise BadInput("columns is empty; name at least one column or leave it out.")
        for col in columns:
            if col not in known:
                raise BadInput(f"Unknown column {col!r}: not in the reference." + did_you_mean(col, known))
        known = columns
    missing = [c for c in known if c not in cur.columns]
    if missing:
        raise BadInput(f"Column(s) {missing!r} are in the reference but not in the current data; "
                       "fix the data or pass columns=[...] to compare a subset.")
    return known


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


def _output_rows(cur: Any, estimator: Any, ref: Profile, outputs: list[str], settings: _Settings) -> list[dict]:
    from .profile import model_outputs, profile_column

    try:
        produced = model_outputs(estimator, cur)
    except Exception as exc:
        reason = f"the model cannot predict on the current data ({type(exc).__name__}: {str(exc)[:120]})"
        return [skipped(name, "prediction", reason) for name in outputs]
    rows = []
    for name in outputs:
        if name not in produced:
            rows.append(skipped(name, "prediction", "the model produced no such output"))
            continue
        entry = profile_column(produced[name], like=ref.columns[name])
        row = settings.compare(name, ref.columns[name], entry, label="prediction")
        row["note"] = "model output" + (f"; {row['note']}" if row["note"] else "")
        rows.append(row)
    return rows


def _apply_correction(rows: list[dict[str, Any]], correction: str | None) -> None:
    tested = [r for r in rows if r["method"] in stats.P_VALUE_METHODS and r["p_value"] is not None]
    if not correction or not tested:
        return
    adjusted = stats.adjust([r["p_value"] for r in tested], correction)
    for row, p in zip(tested, adjusted):
        row["p_value"] = p
        row["drifted"] = p < row["threshold"]
        row["note"] = f"{row['note']}; {correction}-adjusted p" if row["note"] else f"{correction}-adjusted p"


def _log_to_mlflow(report: Any) -> None:
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
        if row["statistic"] is not None:
            safe = re.sub(r"[^0-9A-Za-z_\-. /]", "_", row["column"])
            metrics[f"drift.{safe}.{row['method']}"] = float(min(row["statistic"], 1e300))
    with store.translate_errors():
        mlflow.log_metrics(metrics)
        mlflow.log_dict(report.to_dict(), "nbt/drift_report.json")
