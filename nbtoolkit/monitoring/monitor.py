"""Windowed quality of a served model from its prediction log (rules and the webhook: :mod:`.alerts`).

Per window: volume, share routed to humans, mean confidence, accuracy (post-stratified by
routing, see :func:`stratified_accuracy`) and per-class F1 where outcomes exist, a label-free
accuracy estimate from the confidences (confidence-based performance estimation: with calibrated
probabilities the expected accuracy of a batch is the mean of its top-class probabilities, as
NannyML's CBPE uses), and input drift against the serving version's stored profile. Rules
(``accuracy<0.9``, ``drift_share>0.3``, ...) and anomaly rules (``anomaly:volume`` — a value
beyond k rolling standard deviations) fire alerts, which go to the returned report (the notebook
view), Python logging, and optionally a webhook.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import BadInput, NbtError, NotFound, did_you_mean
from ..vocabulary import renamed
from ..refs import check_name
from ..validation import count, number, sequence
from ..reports.monitoring import MonitorReport
from .alerts import AlertRule, evaluate_rules, post_webhook
from .log import PredictionLog
from .log_rows import _to_utc
from .window import window_estimate, window_metrics

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger("nbtoolkit.monitoring")

MIN_DRIFT_ROWS = 30
# More time windows than this between a log's first and last prediction is not a report anyone can
# read (a year of minutes is 525,600): refused with a hint instead of built one by one.
MAX_WINDOWS = 100_000


def require_log(plog: PredictionLog, name: str) -> None:
    """A read of a SQLite prediction log that was never written: NotFound, without creating the file."""
    url = str(plog.url)
    if url.startswith("sqlite:///") and not os.path.exists(url.removeprefix("sqlite:///")):
        raise NotFound(f"No predictions of {name!r}: the prediction log {plog.safe_url} does not exist yet. "
                       "Nothing is logged yet; serve it with nbtoolkit.Deployment or PredictionLog.log.")


def parse_window(text: str) -> Any:
    """``1h``, ``30min``, ``1D``, ``1W`` ... → a positive ``pandas.Timedelta``; BadInput otherwise."""
    from ..validation import duration

    return duration(text, "window")


# ------------------------------------------------------------------------------ monitor
@renamed(log="predictions_url")
def monitor(
    name: str,
    *,
    window: str = "1D",
    alerts: Sequence[str | AlertRule] = (),
    webhook: str | None = None,
    predictions_url: PredictionLog | str | None = None,
    version: str | int | None = None,
    start: Any = None,
    end: Any = None,
    drift: bool = True,
    webhook_timeout: float = 5.0,
    webhook_retries: int = 2,
    rows: int | None = None,
    reference: Any = None,
    calibrator: Any = None,
    notify: bool = True,
) -> MonitorReport:
    """Monitor model ``name`` from its prediction log, window by window, and fire alerts.

    Parameters
    ----------
    name : registered model name (as logged)
    window : window length (``1h``, ``1D``, ``7D`` ...); days start at midnight UTC
    alerts : rules such as ``"accuracy<0.9"``, ``"drift_share>0.3"``, ``"human_share>0.4"``,
        ``"estimated_accuracy<0.85"``, ``"contract>0.05"`` (the share of rows ``nbt serve`` served
        outside their version's data contract), or ``"anomaly:volume"`` / ``"anomaly:mean_confidence:2.5"``
    webhook : URL that receives a JSON POST when an alert fires (failures are reported, not raised)
    predictions_url : the prediction log, a URL or a PredictionLog (default: the configured one;
        old name ``log``)
    version, start, end : restrict to one version / a time range (start inclusive, end exclusive)
    drift : compute input drift per window against the serving version's stored profile
    rows : windows of this many predictions (oldest first) instead of time windows
    reference : the drift reference instead of a registered version's stored profile — a
        DataFrame, a :class:`~nbtoolkit.drift.Profile`, or the path of a saved profile (JSON) or of
        a CSV/Parquet file; with it, ``name`` need not be a registered model
    calibrator : a :class:`~nbtoolkit.estimation.Calibrator` (or ``False`` for none); default:
        the one stored with the serving version by ``%nbt calibrate``. With a calibrator and
        logged class probabilities, ``estimated_accuracy`` is the calibrated expected accuracy
        with a ±3 standard-error band (``estimated_accuracy_lower`` / ``_upper``); otherwise it is
        the mean top-class probability
    notify : log a warning per alert and post the webhook (False: only compute the report, as a
        pipeline trigger checking a rule does)

    Returns
    -------
    MonitorReport with ``.windows`` (one row per window), ``.alerts`` and ``.alerted``.
    """
    check_name(name)
    if rows is not None and (isinstance(rows, bool) or not isinstance(rows, int) or rows <= 0):
        raise BadInput(f"rows must be a positive whole number of predictions per window, got {rows!r}.")
    td = parse_window(window) if rows is None else None
    webhook_timeout = number(webhook_timeout, "webhook_timeout", low=0, low_open=True, high=600)
    webhook_retries = count(webhook_retries, "webhook_retries", zero=True, maximum=20)
    fixed_profile = _reference_profile(reference) if reference is not None and drift else None
    rules = [r if isinstance(r, AlertRule) else AlertRule.parse(r)
             for r in sequence(alerts, "alerts", of=(str, AlertRule))]
    if calibrator is not None and calibrator is not False:
        from ..estimation.calibration import Calibrator

        if not isinstance(calibrator, Calibrator):
            raise BadInput(f"calibrator must be a Calibrator (nbt.calibrate(...)) or False, got "
                           f"{type(calibrator).__name__}.")
    if webhook is not None and not re.match(r"^https?://", str(webhook)):
        raise BadInput(f"The webhook must be an http(s) URL, got {webhook!r}.")
    plog = predictions_url if isinstance(predictions_url, PredictionLog) else PredictionLog(predictions_url)
    require_log(plog, name)
    logged = plog.frame(name, version=version, start=start, end=end, inputs=drift, probabilities=True)
    notes: list[str] = []
    if logged.empty and version is None and start is None and end is None:
        known = plog.models()
        raise NotFound(f"No predictions of {name!r} in the prediction log at {plog.safe_url}."
                       + (did_you_mean(name, known, what="Logged models") if known else
                          " Nothing is logged yet; serve it with nbtoolkit.Deployment or PredictionLog.log."))
    if logged.empty:
        notes.append(f"No predictions of {name!r} in the log at {plog.safe_url}"
                     + (" for that range." if start is not None or end is not None else "."))
    found = _windows(logged, td, name=name, drift=drift, notes=notes, rows=rows, profile=fixed_profile,
                     calibrator=calibrator)
    fired = evaluate_rules(found, rules)
    report = MonitorReport(name=name, window=f"{rows} rows" if rows else str(window), windows=found, alerts=fired,
                           rules=[str(r) for r in rules], notes=notes, log_url=plog.safe_url)
    if not notify:
        return report
    for alert in fired:
        logger.warning("nbtoolkit alert on %s: %s", name, alert.message)
    if fired and webhook:
        error = post_webhook(webhook, report.payload(), timeout=webhook_timeout, retries=webhook_retries)
        report.sink_errors.extend([error] if error else [])
        report.webhook_delivered = error is None
    return report


def _windows(logged: pd.DataFrame, td: Any, *, name: str, drift: bool, notes: list[str],
             rows: int | None = None, profile: Any = None, calibrator: Any = None) -> list[dict[str, Any]]:
    import pandas as pd

    if logged.empty:
        return []
    if rows:  # by row count: consecutive windows of `rows` predictions, the last may be shorter
        parts = [(logged["ts"].iloc[i], logged.iloc[i:i + rows]) for i in range(0, len(logged), rows)]
    else:
        first, last = logged["ts"].min(), logged["ts"].max()
        count = (last - first.normalize()) // td + 1
        if count > MAX_WINDOWS:
            raise BadInput(
                f"The predictions of {name!r} span {first} to {last}: {count:,} windows of {_length(td)}, more "
                f"than {MAX_WINDOWS:,}; narrow the range (start=/end=, --since) or use a longer window.")
        parts = list(logged.groupby(pd.Grouper(key="ts", freq=td, origin="start_day"), sort=True))
    out = []
    drift_cache: dict[str, Any] = {} if profile is None else {"*": profile}
    calibrators: dict[str, Any] = {}
    for start, part in parts:
        if part.empty:
            continue
        end = part["ts"].iloc[-1] if rows else start + td
        row: dict[str, Any] = {"window_start": start, "window_end": end}
        row.update(window_metrics(part))
        row.update(window_estimate(part, name, calibrators, calibrator, notes))
        if drift:
            row.update(_window_drift(part, name, drift_cache, notes))
        out.append(row)
    return out


def _length(td: pd.Timedelta) -> str:
    """A window length as the user writes it: ``1h``, ``30min``, ``7D``, ``90s``."""
    seconds = int(td.total_seconds())
    for unit, size in (("D", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{td.total_seconds():g}s"


def _reference_profile(reference: Any) -> Any:
    """A drift reference for monitor: a Profile, a frame, or a file (profile JSON, CSV, Parquet)."""
    from pathlib import Path

    from ..profiles import Profile

    if isinstance(reference, Profile):
        return reference
    if isinstance(reference, (str, Path)):
        path = Path(reference)
        if not path.is_file():
            raise BadInput(f"No file {str(path)!r} for the drift reference; pass a saved profile "
                           "(Profile.to_json), a CSV/Parquet file or a DataFrame.")
        if path.suffix.lower() == ".json":
            return Profile.from_json(path.read_text())
        import pandas as pd

        readers: dict[str, Callable[[Path], pd.DataFrame]] = {
            ".csv": pd.read_csv, ".parquet": pd.read_parquet, ".pq": pd.read_parquet}
        reader = readers.get(path.suffix.lower())
        if reader is None:
            raise BadInput(f"Cannot read {str(path)!r} as a drift reference; use a .json profile, "
                           "a .csv or a .parquet file.")
        return Profile.from_frame(reader(path))
    from ..contract import as_frame

    return Profile.from_frame(as_frame(reference, what="reference data"))


def _window_drift(part: pd.DataFrame, name: str, cache: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """Drift of the window's inputs against the stored profile of the version that served most of it."""
    import pandas as pd

    out: dict[str, Any] = {"drift_share": math.nan, "drifted": None, "drifted_columns": ""}
    if len(part) < MIN_DRIFT_ROWS:
        return out
    version = "*" if "*" in cache else str(part["model_version"].mode().iloc[0])
    if version not in cache:
        cache[version] = _stored_profile(name, version, notes)
    profile = cache[version]
    if profile is None:
        return out
    from ..drift import drift as drift_check
    from ..reports.drift import DriftReport

    current = pd.DataFrame.from_records(list(part["inputs"]))
    columns = [c for c in current.columns if c in profile.columns]
    if not columns:
        return out
    from .data_quality import window_quality

    out.update(window_quality(current[columns], profile))  # missing / unseen / out-of-range vs the profile
    report = drift_check(current, reference=profile, columns=columns, log=False)
    assert isinstance(report, DriftReport)  # one comparison, not drift over time
    out["drift_share"] = drift_share(report)
    out["drifted"] = bool(report.drifted)
    out["drifted_columns"] = ",".join(report.drifted_columns)
    return out


def _stored_profile(name: str, version: str, notes: list[str]) -> Any:
    """The drift profile stored with ``name/version`` at registration, or None (with a note)."""
    from ..profiles import Profile
    from ..registry.artifacts import stored_profile

    try:
        _, text = stored_profile(f"{name}/{version}")
    except NbtError as exc:  # no such version, or registered without --data: a note, not a failure
        notes.append(f"No input drift for {name}/{version}: {' '.join(str(exc).split())}")
        return None
    return Profile.from_json(text)


def drift_share(report: Any) -> float:
    """Share of the tested columns that drifted in a drift report."""
    share = getattr(report, "share", None)
    if share is not None and not callable(share):
        return float(share)
    frame = report.to_frame()
    if "drifted" in frame.columns and len(frame):
        return float(frame["drifted"].astype(bool).mean())
    return math.nan


def since(value: str, *, now: Any = None) -> Any:
    """``7D`` → a UTC time that long before ``now``; a date/time string → itself (UTC)."""
    import pandas as pd

    try:
        td = pd.Timedelta(value)
    except (TypeError, ValueError):
        return _to_utc(value, "--since")
    now = pd.Timestamp(now) if now is not None else pd.Timestamp.utcnow().tz_localize(None)
    return (now - td).to_pydatetime()
