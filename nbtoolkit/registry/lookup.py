"""Reading the registry: resolve references, browse, lineage (loading a model: :mod:`.loading`).

Nothing here writes; the writers (register, metrics and tags on a version) are in
:mod:`.versioning`.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import store
from ..errors import Cmd, ModelNotFound, NbtError, StoreUnavailable, did_you_mean, say
from ..locks import is_lock_name
from ..refs import ModelRef, check_name, parse_ref
from ..reports.registry import Lineage, ModelsTable, VersionsTable, user_tags
from .tags import (SCHEMA_ARTIFACT, TAG_FINGERPRINT, TAG_FLAVOR, TAG_FORMAT, TAG_GIT, TAG_NOTEBOOK,
                   TAG_PIPELINE_RUN, TAG_SHA, TAG_THRESHOLD, TAG_TRAINING_RUN)

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion


# --------------------------------------------------------------------------------- resolve
def resolve(ref: str | ModelRef) -> ModelVersion:
    """The MLflow ``ModelVersion`` a reference points at; :class:`ModelNotFound` otherwise."""
    r = parse_ref(ref)
    with store.denied_as(f"READ permission on model {r.name!r}, which reading it needs"):
        return _resolve(r)


def _resolve(r: ModelRef) -> Any:
    _require_store(r.name)
    c = store.client()
    if r.version:  # one query on the common path; the model is looked up only to explain a miss
        try:
            return store.read(c.get_model_version, r.name, r.version)
        except ModelNotFound:
            _require_model(r.name)
            known = [str(v.version) for v in _all_versions(r.name)]
            raise ModelNotFound(
                f"Model {r.name!r} has no version {r.version}; versions: "
                f"{', '.join(known) or 'none'}."
            ) from None
    rm = _require_model(r.name)
    if r.alias:
        _require_alias(r.name, r.alias, rm.aliases or {})
        try:
            return store.read(c.get_model_version_by_alias, r.name, r.alias)
        except NbtError:
            raise
        except Exception:  # MLflow's error for an alias removed since the read above: say that, by state
            _require_alias(r.name, r.alias, _require_model(r.name).aliases or {})
            raise
    latest = _all_versions(r.name)
    if not latest:
        raise ModelNotFound(f"Model {r.name!r} has no versions yet; register one first.")
    return latest[0]


def _require_alias(name: str, alias: str, aliases: Any) -> None:
    if alias not in aliases:
        hint = (did_you_mean(alias, aliases, what="Aliases"),) if aliases else (
            " It has no aliases yet; set one with ", Cmd("promote"), " NAME VERSION --alias A.")
        raise ModelNotFound(say(f"Model {name!r} has no alias {alias!r}.", *hint))


def _require_store(name: str) -> None:
    """A lookup on an embedded store never created: refuse without creating the database."""
    if store.is_new_store():
        raise ModelNotFound(say(f"No model named {name!r}. No models are registered yet; use ", Cmd("register"), "."))


def _require_model(name: str) -> Any:
    _require_store(name)
    c = store.client()
    try:
        return store.read(c.get_registered_model, name)
    except ModelNotFound:
        known = [m.name for m in store.read(c.search_registered_models, max_results=1000)]
        hint = (did_you_mean(name, known),) if known else (" No models are registered yet; use ", Cmd("register"), ".")
        raise ModelNotFound(say(f"No model named {name!r}.", *hint)) from None


def _all_versions(name: str) -> list[Any]:
    c = store.client()
    versions = store.read(c.search_model_versions, f"name='{name}'", max_results=10000)
    return sorted(versions, key=lambda v: int(v.version), reverse=True)


def logged_model_id(mv: ModelVersion) -> str | None:
    """The MLflow 3 logged model behind a version (its ``models:/m-...`` source)."""
    model_id = getattr(mv, "model_id", None)
    source = str(getattr(mv, "source", "") or "")
    if not model_id and source.startswith("models:/m-"):
        model_id = source.removeprefix("models:/")
    return model_id or None


def run_metrics(mv: ModelVersion) -> dict[str, float]:
    """The metrics logged on a version (on the run that logged it)."""
    if not mv.run_id:
        return {}
    return dict(store.read(store.client().get_run, mv.run_id).data.metrics)


def read_artifact_text(mv: ModelVersion, artifact: str) -> str | None:
    """A text artefact of the version's run (``nbt/profile.json`` ...) or None when absent."""
    if not mv.run_id:
        return None
    mlflow = store.mlflow_module()
    with tempfile.TemporaryDirectory(prefix="nbt-art-") as tmp:
        try:
            with store.translate_errors():
                path = mlflow.artifacts.download_artifacts(
                    run_id=mv.run_id, artifact_path=artifact, dst_path=tmp
                )
        except Exception as exc:  # absent artefact: MLflow raises OSError/MlflowException
            if isinstance(exc, StoreUnavailable):
                raise
            return None
        return Path(path).read_text()


# --------------------------------------------------------------------------------- browse
def models() -> ModelsTable:
    """Registered models: name, latest version, aliases, last update."""
    c = store.client()
    rows = []
    for rm in store.read(c.search_registered_models, max_results=1000):
        if is_lock_name(rm.name):  # a held nbtoolkit.locks marker, not a model
            continue
        versions = _all_versions(rm.name)
        rows.append({
            "name": rm.name,
            "latest_version": str(versions[0].version) if versions else None,
            "versions": len(versions),
            "aliases": {a: str(v) for a, v in (rm.aliases or {}).items()},
            "last_updated": _ts(rm.last_updated_timestamp),
        })
    return ModelsTable(sorted(rows, key=lambda r: r["name"]))


def versions(name: str) -> VersionsTable:
    """Versions of ``name`` with metrics, aliases, data fingerprint and created time."""
    check_name(name)
    rm = _require_model(name)
    held: dict[str, list[str]] = {}
    for alias, version in (rm.aliases or {}).items():
        held.setdefault(str(version), []).append(alias)
    rows = []
    for mv in _all_versions(name):
        tags = mv.tags or {}
        rows.append({
            "version": str(mv.version),
            "aliases": sorted(held.get(str(mv.version), [])),
            "created": _ts(mv.creation_timestamp),
            "metrics": run_metrics(mv),
            "data_fingerprint": tags.get(TAG_FINGERPRINT),
            "threshold": tags.get(TAG_THRESHOLD),
            "run_id": mv.run_id,
            "description": mv.description or "",
            "tags": user_tags(tags),
        })
    return VersionsTable(name, rows)



def lineage(ref: str | ModelRef) -> Lineage:
    """Where a version came from: data, schema, params, metrics, code, notebook, pipeline run."""
    mv = resolve(ref)
    tags = mv.tags or {}
    params: dict[str, str] = {}
    metrics: dict[str, float] = {}
    datasets: list[dict[str, str]] = []
    if mv.run_id:
        run = store.read(store.client().get_run, mv.run_id)
        params, metrics = dict(run.data.params), dict(run.data.metrics)
        for item in (run.inputs.dataset_inputs if run.inputs else []):
            context = next((t.value for t in item.tags if t.key == "mlflow.data.context"), "")
            datasets.append({"name": item.dataset.name, "digest": item.dataset.digest, "context": context})
    evaluated = {d["name"] for d in datasets if d["context"] == "evaluation"}
    sources = {k: (f"evaluate on {k.split('.', 1)[0]}" if "." in k and k.split(".", 1)[0] in evaluated
                   else "given at registration") for k in metrics}
    schema_text = read_artifact_text(mv, SCHEMA_ARTIFACT)
    return Lineage(
        name=mv.name,
        version=mv.version,
        aliases=list(mv.aliases or []),
        created=_ts(mv.creation_timestamp),
        data_fingerprint=tags.get(TAG_FINGERPRINT),
        schema=json.loads(schema_text) if schema_text else None,
        params=params,
        metrics=metrics,
        git_commit=tags.get(TAG_GIT),
        notebook=tags.get(TAG_NOTEBOOK),
        pipeline_run=tags.get(TAG_PIPELINE_RUN),
        run_id=mv.run_id,
        artifact_sha256=tags.get(TAG_SHA),
        tags=dict(tags),
        datasets=datasets,
        metric_sources=sources,
        model_format="/".join(x for x in (tags.get(TAG_FLAVOR), tags.get(TAG_FORMAT)) if x) or None,
        training_run=tags.get(TAG_TRAINING_RUN),
        description=mv.description or None,
    )


def _ts(ms: int | None) -> str | None:
    if not ms:
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))
