"""What a version records about itself, beside the model: hyperparameters, metrics (with their
source: given at registration, or ``DATASET.METRIC`` from an evaluation), MLflow dataset inputs
(training / evaluation data, digest = nbtoolkit's fingerprint) and tags; and the checks of metric,
parameter and tag keys as MLflow will judge them, made before anything is written.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from typing import Any

from .. import store
from ..errors import BadInput
from ..refs import check_name
from .lookup import logged_model_id, resolve

#: Hyperparameter values longer than this are cut (MLflow allows 6,000; tables stay readable).
PARAM_VALUE_MAX = 250
TRAINING, EVALUATION = "training", "evaluation"


def log_version_metrics(ref: Any, metrics: Mapping[str, float], *, dataset: str | None = None,
                        X: Any = None, y: Any = None) -> Any:
    """Log ``metrics`` onto a version so that :func:`promote` gates can read them.

    With ``dataset`` (e.g. ``"test"``) each metric is named ``DATASET.METRIC`` (``test.accuracy``),
    so it never replaces a value given at registration; it is tied to the version's MLflow logged
    model and, when ``X`` is given, to the evaluation data, recorded as a dataset input of the
    version's run (context ``evaluation``, digest = the data fingerprint).
    """
    mv = resolve(ref)
    run_id = mv.run_id
    if not run_id:
        raise BadInput(f"{mv.name}/{mv.version} was registered without an MLflow run, which would hold its "
                       "metrics; register the model with nbtoolkit.register (or %nbt register).")
    metrics = check_metrics(metrics)
    frame = digest = None
    if dataset is not None:
        check_name(dataset, what="dataset name")
        metrics = {f"{dataset}.{k}": v for k, v in metrics.items()}
        if X is not None:
            from ..contract import as_frame, fingerprint

            frame = as_frame(X, what="X")
            digest = fingerprint(frame, y)
    check_keys(metrics, {}, {})
    model_id = logged_model_id(mv)
    evaluated_on = dataset if frame is not None else None  # the dataset input the metrics are tied to
    with store.translate_errors():
        if evaluated_on is not None:
            log_dataset(run_id, frame, digest, name=evaluated_on, context=EVALUATION, model_id=model_id)
        log_batch(run_id, {}, metrics, model_id=model_id,
                  dataset=None if evaluated_on is None else (evaluated_on, dataset_digest(digest)))
    return mv


def set_version_tag(ref: Any, key: str, value: str) -> Any:
    mv = resolve(ref)
    with store.translate_errors():
        store.client().set_model_version_tag(mv.name, mv.version, key, str(value))
    return mv


def check_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in metrics.items():
        try:
            out[str(k)] = float(v)
        except (TypeError, ValueError):
            raise BadInput(f"Metric {k!r} must be a number, got {v!r}.") from None
        if math.isinf(out[str(k)]):
            raise BadInput(f"Metric {k!r} is {v!r}; give a finite number.")
    return out


def check_keys(metrics: Mapping[str, float], params: Mapping[str, str], tags: Mapping[str, str]) -> None:
    """Metric, parameter and tag keys as MLflow will judge them — before anything is written."""
    from mlflow.exceptions import MlflowException
    from mlflow.utils.validation import (MAX_ENTITY_KEY_LENGTH, _validate_metric_name, _validate_param_name,
                                         _validate_tag_name)

    for what, keys, check in (("metric", metrics, _validate_metric_name), ("parameter", params, _validate_param_name),
                              ("tag", tags, _validate_tag_name)):
        for key in keys:
            shown = key if len(key) <= 60 else key[:57] + "..."
            try:
                check(key)
                if len(key) > MAX_ENTITY_KEY_LENGTH:
                    raise MlflowException("too long")
            except MlflowException:
                raise BadInput(
                    f"Invalid {what} name {shown!r}; use at most {MAX_ENTITY_KEY_LENGTH} letters, digits "
                    "and _ - . : / or spaces (no '..' or leading '/')."
                ) from None


def hyperparameters(model: Any) -> dict[str, str]:
    """``get_params(deep=True)`` flattened to strings: nested estimators by class name, step
    lists by step names, long values cut to :data:`PARAM_VALUE_MAX` characters."""
    get = getattr(model, "get_params", None)
    if get is None:
        return {}
    try:
        raw = get(deep=True)
    except Exception:  # a custom estimator whose get_params fails: the version still registers
        return {}
    from mlflow.utils.validation import MAX_ENTITY_KEY_LENGTH, validate_param_and_metric_name

    out = {}
    for raw_key, raw_value in raw.items():
        value = raw_value
        if hasattr(value, "get_params") and not isinstance(value, type):
            value = type(value).__name__
        elif isinstance(value, (list, tuple)) and value and all(
                isinstance(s, tuple) and len(s) >= 2 and isinstance(s[0], str) for s in value):
            value = [s[0] for s in value]  # Pipeline.steps / ColumnTransformer.transformers
        text = value if isinstance(value, str) else repr(value)
        if len(text) > PARAM_VALUE_MAX:
            text = text[:PARAM_VALUE_MAX - 3] + "..."
        key = str(raw_key)
        if len(key) <= MAX_ENTITY_KEY_LENGTH and validate_param_and_metric_name(key):
            out[key] = text
    return out


def log_batch(run_id: str, params: Mapping[str, str], metrics: Mapping[str, float], *,
              model_id: str | None = None, dataset: tuple[str, str | None] | None = None) -> None:
    """Log params and metrics on a run (metrics optionally tied to a logged model and a dataset)."""
    if not params and not metrics:
        return
    from mlflow.entities import Metric, Param

    now = int(time.time() * 1000)
    name, digest = dataset or (None, None)
    client = store.client()
    metric_rows = [Metric(k, v, now, 0, model_id=model_id, dataset_name=name, dataset_digest=digest)
                   for k, v in metrics.items()]
    param_rows = [Param(k, v) for k, v in params.items()]
    for start in range(0, max(len(param_rows), 1), 100):  # MLflow takes 100 params per batch
        client.log_batch(run_id, metrics=metric_rows if start == 0 else [],
                         params=param_rows[start:start + 100])


def dataset_digest(fingerprint: str | None) -> str | None:
    """MLflow keeps 36 characters of a dataset digest: the head of nbtoolkit's sha256."""
    return fingerprint[:36] if fingerprint else None


def log_dataset(run_id: str, frame: Any, fingerprint: str | None, *, name: str, context: str,
                model_id: str | None = None) -> None:
    """Record ``frame`` as an MLflow dataset input of the run (digest = the data fingerprint)."""
    from mlflow.entities import Dataset, DatasetInput, InputTag, LoggedModelInput
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    # The entity mlflow.data.from_pandas would build, minus its schema inference (a third of a
    # linear model's register): the schema is in nbt/schema.json, the digest is our fingerprint.
    profile = {"num_rows": len(frame), "num_elements": int(frame.size)}
    dataset = Dataset(name=name, digest=dataset_digest(fingerprint) or "", source_type="code",
                      source=json.dumps({"tags": {"nbt.context": context}}), profile=json.dumps(profile))
    entity = DatasetInput(dataset, tags=[InputTag(MLFLOW_DATASET_CONTEXT, context)])
    store.client().log_inputs(run_id, datasets=[entity],
                              models=[LoggedModelInput(model_id)] if model_id else None)
