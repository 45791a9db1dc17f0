"""Triggers: a monitoring alert, or enough corrected outcomes, starts another pipeline.

A pipeline file's ``on:`` rules are checked after each of its runs (and by ``nbt monitor
--on-alert``). A rule holds when

- ``alert``: the model's latest monitoring window that fired the rule (:func:`nbtoolkit.monitor`
  over the newest windows of its prediction log, in windows of ``window``) has not started this
  pipeline yet, and no earlier window less than ``cooldown`` before it did;
- ``outcomes``: at least N outcomes were recorded since the serving version (the newest version in
  the log) was registered, and that version has not started this pipeline yet.

The pipeline named by ``run`` then runs (its pending partitions when it is partitioned) with two
parameters: ``trigger`` (the rule, one phrase) and ``evidence`` (what fired it: the metric, its
value, the window or the outcome count). Each firing is an MLflow run tagged ``nbt.kind=trigger``
with the rule, the evidence and the started run's outcome; its key (rule + window or version)
makes a rule fire once per piece of evidence, so a persisting alert or two concurrent checks do
not start the same pipeline twice for the same window.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import BadInput, NbtError
from .definition import Trigger

KIND = "trigger"
RECENT_WINDOWS = 8  # an alert rule is checked on the newest windows only (anomaly rules compare with 7)
TAG_KEY = "nbt.trigger.key"


def alert_trigger(model: str, pipeline: str | os.PathLike[str], rules: Sequence[Any], *, window: str) -> Trigger:
    """The trigger ``nbt monitor --on-alert PIPELINE`` checks: any of ``rules`` on ``model`` starts it."""
    from pathlib import Path

    from .spec import load_pipeline

    if not rules:
        raise BadInput("on_alert needs alert rules to fire on; add --alert RULE (e.g. drift_share>0.3).")
    loaded = load_pipeline(pipeline)  # one line when the file is missing or wrong
    text = " or ".join(str(r) for r in rules)
    return Trigger(model=model, run=loaded.path, run_text=str(Path(pipeline)), alert=text, window=window)


def check_triggers(triggers: Sequence[Trigger], *, source: str, run: Callable[..., Any],
                   report: Any = None) -> list[dict[str, Any]]:
    """Evaluate ``triggers`` (from the pipeline ``source``); start the pipelines of those that hold
    with ``run`` (:func:`~nbtoolkit.pipeline.run_pipeline`, handed in by its caller; ``report``: a
    monitoring report already computed, for ``nbt monitor --on-alert``).

    Returns one dict per trigger: ``rule``, ``status`` (``fired`` / ``quiet`` / ``already fired`` /
    ``cooling down`` / ``not checked``), ``evidence``, and for a fired one ``run_status`` and
    ``pipeline_run``. A trigger that cannot be checked (no prediction log yet, the store
    unreachable) is reported, never raised: the run that checks it has already succeeded.
    """
    out = []
    for trigger in triggers:
        row: dict[str, Any] = {"rule": trigger.describe(), "pipeline": str(trigger.run), "evidence": None}
        try:
            alert = trigger.alert is not None
            evidence = _alert_evidence(trigger, report) if alert else _outcome_evidence(trigger)
        except NbtError as exc:
            row.update(status="not checked", reason=str(exc))
            out.append(row)
            continue
        if evidence is None:
            row["status"] = "quiet"
            out.append(row)
            continue
        row["evidence"] = evidence
        key = f"{trigger.run}|{trigger.describe()}|{evidence['key']}"
        record, quiet = _claim(key, trigger, evidence, source)
        if record is None:
            row["status"] = quiet
            out.append(row)
            continue
        row.update(status="fired", **fire(trigger, evidence, run, record))
        out.append(row)
    return out


def fire(trigger: Trigger, evidence: dict[str, Any], run: Callable[..., Any],
         record: str | None = None) -> dict[str, Any]:
    """Run the trigger's pipeline with ``run`` and the evidence as parameters; note the outcome on the record."""
    from .spec import load_pipeline

    target = load_pipeline(trigger.run)
    params = {"trigger": trigger.describe(), "evidence": {k: v for k, v in evidence.items() if k != "key"}}
    error: str | None = None
    try:
        result = run(trigger.run, parameters=params, pending=target.partitions is not None, raise_on_failure=False)
        status = "passed" if getattr(result, "passed", True) else "failed"
        run_id = getattr(result, "run_id", None)
    except NbtError as exc:  # the started pipeline's file or parameters were refused: say so on the record
        status, run_id, error = "refused", None, str(exc)
    if record is not None:
        _finish(record, status, run_id, error)
    return {"run_status": status, "pipeline_run": run_id, **({"reason": error} if error else {})}


# ------------------------------------------------------------------------------------ evidence
def _alert_evidence(trigger: Trigger, report: Any = None) -> dict[str, Any] | None:
    """The latest window on which the rule fired (``report``: a monitoring report already computed)."""
    if report is None:
        from ..monitoring.alerts import AlertRule
        from ..monitoring.monitor import monitor

        rule = AlertRule.parse(str(trigger.alert))
        report = monitor(trigger.model, window=trigger.window, alerts=[rule], drift=rule.metric == "drift_share",
                         start=_recent(trigger), notify=False)
    if not report.alerts:
        return None
    latest = max(report.alerts, key=lambda a: str(a.window_start))
    start = str(latest.window_start)
    return {"key": f"window={start}", "model": trigger.model, "rule": latest.rule, "metric": latest.metric,
            "value": latest.value, "window": trigger.window, "window_start": start, "message": latest.message}


def _recent(trigger: Trigger) -> Any:
    """Where a check of an alert rule starts reading: ``RECENT_WINDOWS`` windows before the newest
    (an anomaly rule looks back 7), on the grid the whole log's windows have — so a check costs the
    same on the hundredth day as on the second, and a window keeps its start (and its firing key)."""
    from ..monitoring.log import PredictionLog
    from ..monitoring.monitor import parse_window

    span = PredictionLog().span(trigger.model)
    if span is None:
        return None
    import pandas as pd

    td = parse_window(trigger.window)
    origin = pd.Timestamp(span[0]).normalize()
    newest = (pd.Timestamp(span[1]) - origin) // td
    return origin + max(0, newest - RECENT_WINDOWS) * td


def _outcome_evidence(trigger: Trigger) -> dict[str, Any] | None:
    import pandas as pd

    from ..monitoring.log import PredictionLog
    from ..registry import resolve

    logged = PredictionLog().frame(trigger.model)
    if logged.empty:
        raise BadInput(f"The prediction log holds no predictions of {trigger.model!r} yet; "
                       "the outcomes trigger is checked once it does.")
    version = str(max(logged["model_version"].astype(str), key=_version_number))
    created = pd.Timestamp(resolve(f"{trigger.model}/{version}").creation_timestamp, unit="ms", tz="UTC")
    stamps = pd.to_datetime(logged["outcome_ts"], utc=True, errors="coerce")
    count = int((logged["outcome"].notna() & (stamps >= created)).sum())
    if trigger.outcomes is None or count < trigger.outcomes:
        return None
    return {"key": f"version={version}", "model": trigger.model, "serving_version": version,
            "outcomes": count, "since": created.isoformat()}


def _version_number(text: str) -> tuple[int, str]:
    return (int(text), text) if text.isdigit() else (-1, text)


# ------------------------------------------------------------------------------------ records
def _claim(key: str, trigger: Trigger, evidence: dict[str, Any], source: str) -> tuple[str | None, str]:
    """Record the firing under ``key`` (an MLflow run): ``(run id, "")``, or ``(None, why not)`` when
    that key fired before or an earlier firing of the rule is within its ``cooldown``."""
    from .. import store
    from ..locks import registry_lock

    client = store.client()
    with store.translate_errors(), registry_lock("triggers"):
        experiment = store.ensure_experiment()
        quoted = key.replace("'", "\\'")
        found = client.search_runs([experiment], filter_string=f"tags.`{TAG_KEY}` = '{quoted}'", max_results=1)
        if found:
            return None, "already fired"
        if trigger.cooldown is not None and _cooling(client, experiment, trigger, evidence, source):
            return None, "cooling down"
        run = client.create_run(experiment, run_name=f"trigger: {trigger.describe()}"[:250], tags={
            "nbt.kind": KIND, TAG_KEY: key, "nbt.trigger.rule": trigger.describe(), "nbt.trigger.source": source,
            "nbt.trigger.pipeline": str(trigger.run),
            "nbt.trigger.evidence": json.dumps({k: v for k, v in evidence.items() if k != "key"},
                                               default=str)[:4000]})
    return str(run.info.run_id), ""


def _cooling(client: Any, experiment: str, trigger: Trigger, evidence: dict[str, Any], source: str) -> bool:
    """Whether this rule fired for a window less than ``cooldown`` before the evidence's window."""
    import pandas as pd

    from ..validation import duration

    start = pd.Timestamp(evidence["window_start"])
    quoted = trigger.describe().replace("'", "\\'")
    earlier = client.search_runs([experiment], filter_string=f"tags.`nbt.trigger.rule` = '{quoted}'",
                                 max_results=200)
    for run in earlier:
        if run.data.tags.get("nbt.trigger.source") != source:
            continue
        try:
            then = pd.Timestamp(json.loads(run.data.tags.get("nbt.trigger.evidence") or "{}")["window_start"])
        except (KeyError, TypeError, ValueError):
            continue
        if then <= start < then + duration(trigger.cooldown, "cooldown"):
            return True
    return False


def _finish(record: str, status: str, run_id: str | None, error: str | None) -> None:
    from .. import store

    client = store.client()
    with store.translate_errors():
        client.set_tag(record, "nbt.trigger.run_status", status)
        if error:
            client.set_tag(record, "nbt.trigger.error", error[:4000])
        if run_id:
            client.set_tag(record, "nbt.trigger.pipeline_run", run_id)
        client.set_terminated(record, status="FINISHED" if status == "passed" else "FAILED")


def fired(source: str | None = None) -> list[dict[str, Any]]:
    """The recorded firings, newest first (``source``: only those checked by that pipeline)."""
    from .. import store

    client = store.client()
    with store.translate_errors():
        experiment = store.ensure_experiment()
        runs = client.search_runs([experiment], filter_string="tags.`nbt.kind` = 'trigger'",
                                  order_by=["attributes.start_time DESC"], max_results=500)
    rows = []
    for run in runs:
        tags = run.data.tags
        if source is not None and tags.get("nbt.trigger.source") != source:
            continue
        rows.append({"rule": tags.get("nbt.trigger.rule"), "evidence": json.loads(tags.get("nbt.trigger.evidence")
                                                                                 or "{}"),
                     "run_status": tags.get("nbt.trigger.run_status"), "pipeline_run": tags.get(
                         "nbt.trigger.pipeline_run"), "record": run.info.run_id, "source": tags.get(
                         "nbt.trigger.source")})
    return rows
