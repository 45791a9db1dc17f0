"""Versioning on MLflow: register, load, promote, rollback, models, versions, lineage.

A registered version carries, as MLflow model-version tags (``nbt.*``), everything needed to
trust it later: the sha256 of its stored files (checked on every :func:`load`), the data
fingerprint, git commit and notebook. Its schema and drift profile are JSON artefacts of the run
that logged it (``nbt/schema.json``, ``nbt/profile.json``); its metrics are that run's metrics,
which is where :func:`promote` gates read them.

Alias history lives in registered-model tags ``nbt.alias_history.<alias>`` (a JSON list of the
previous holders, most recent last), so :func:`rollback` survives kernel restarts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import operator
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from . import config, store
from .errors import BadInput, GateFailed, IntegrityError, ModelNotFound, NotFitted, did_you_mean
from .refs import ModelRef, check_alias, check_name, parse_ref
from .reports.registry import Lineage, ModelsTable, PromotionResult, RegisteredVersion, VersionsTable

log = logging.getLogger(__name__)

TAG_SHA = "nbt.artifact_sha256"
TAG_FINGERPRINT = "nbt.data_fingerprint"
TAG_GIT = "nbt.git_commit"
TAG_NOTEBOOK = "nbt.notebook"
TAG_PIPELINE_RUN = "nbt.pipeline_run"
TAG_THRESHOLD = "nbt.threshold"
TAG_TASK = "nbt.task"
ALIAS_HISTORY = "nbt.alias_history."
SCHEMA_ARTIFACT = "nbt/schema.json"
PROFILE_ARTIFACT = "nbt/profile.json"
CONTRACT_ARTIFACT = "nbt/contract.json"
MODEL_ARTIFACT = "model"
HISTORY_KEEP = 50
# Written by MLflow into a downloaded registered model, never stored: not part of the hash.
_DOWNLOAD_ONLY = frozenset({"registered_model_meta"})

# Packages whose installed versions make a scikit-learn model's explicit requirements.
_SKLEARN_REQUIREMENTS = ("mlflow", "scikit-learn", "skops", "numpy", "pandas", "scipy")


# --------------------------------------------------------------------------------- register
def register(
    model: Any,
    name: str,
    *,
    X: Any = None,
    y: Any = None,
    metrics: Mapping[str, float] | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    alias: str | None = None,
    notebook: str | None = None,
    description: str | None = None,
) -> RegisteredVersion:
    """Log a fitted scikit-learn model as a new registered version of ``name``.

    Parameters
    ----------
    model : fitted scikit-learn estimator or pipeline
    name : registered model name
    X, y : training data; when given, the version stores its sha256 fingerprint, schema,
        data contract and drift profile, and a signature and input example.
    metrics, params, tags : logged on the version's run (metrics) / run (params) / version (tags)
    alias : move this alias to the new version (recorded in the alias history)

    Everything is checked before anything is written: a bad argument leaves no run and no version.
    """
    check_name(name)
    if alias is not None:
        check_alias(alias)
    _check_fitted(model)
    metrics = _check_metrics(metrics or {})
    params = {str(k): str(v) for k, v in (params or {}).items()}
    tags = {str(k): str(v) for k, v in (tags or {}).items()}
    frame, profile_json, schema, contract_json, fingerprint = _describe_data(model, X, y)

    mlflow = store.mlflow_module()
    experiment_id = store.ensure_experiment()
    version_tags = {
        **tags,
        TAG_TASK: _task_of(model),
        "nbt.model_class": type(model).__name__,
    }
    if fingerprint:
        version_tags[TAG_FINGERPRINT] = fingerprint
    commit = git_commit()
    if commit:
        version_tags[TAG_GIT] = commit
    notebook = notebook or config.notebook_path()
    if notebook:
        version_tags[TAG_NOTEBOOK] = notebook
    pipeline_run = os.environ.get("NBT_PIPELINE_RUN_ID")
    if pipeline_run:
        version_tags[TAG_PIPELINE_RUN] = pipeline_run

    with store.translate_errors():
        active = mlflow.active_run()
        run = mlflow.start_run(
            experiment_id=active.info.experiment_id if active else experiment_id,
            run_name=f"register-{name}",
            nested=active is not None,
            tags={"nbt.kind": "register", "nbt.model_name": name, **{
                k: v for k, v in version_tags.items() if k != TAG_TASK}},
        )
        try:
            run_id = run.info.run_id
            _log_batch(run_id, params, metrics)
            if schema is not None:
                _log_texts(mlflow, {SCHEMA_ARTIFACT: json.dumps(schema), CONTRACT_ARTIFACT: contract_json,
                                    PROFILE_ARTIFACT: profile_json})
            info = _log_sklearn(mlflow, model, frame)
            version_tags[TAG_SHA] = _artifact_sha256(mlflow, info.model_uri)
            mv = mlflow.register_model(info.model_uri, name, tags=version_tags)
            if description:
                store.client().update_model_version(name, mv.version, description=description)
        except BaseException:
            mlflow.end_run(status="FAILED")
            raise
        mlflow.end_run()
    result = RegisteredVersion(mv, metrics=metrics, params=params)
    if alias:
        promote(name, mv.version, alias=alias)
        result.aliases.append(alias)
    return result


def _check_fitted(model: Any) -> None:
    try:
        from sklearn.base import BaseEstimator
        from sklearn.exceptions import NotFittedError
        from sklearn.utils.validation import check_is_fitted
    except ImportError:  # pragma: no cover
        raise BadInput("scikit-learn is required to register models.") from None
    if isinstance(model, type):
        raise BadInput(
            f"Got the class {model.__name__}, not a fitted model; create it, call .fit(X, y), "
            "then register the instance."
        )
    if not isinstance(model, BaseEstimator) or not hasattr(model, "predict"):
        raise BadInput(
            f"Cannot register a {type(model).__name__}: expected a fitted scikit-learn estimator "
            "or pipeline (an object with fit/predict)."
        )
    try:
        check_is_fitted(model)
    except NotFittedError:
        raise NotFitted(
            f"This {type(model).__name__} instance is not fitted yet; call .fit(X, y) before "
            "registering it."
        ) from None
    except TypeError:  # estimators that check_is_fitted cannot judge
        pass


def _check_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in metrics.items():
        try:
            out[str(k)] = float(v)
        except (TypeError, ValueError):
            raise BadInput(f"Metric {k!r} must be a number, got {v!r}.") from None
    return out


def _describe_data(model: Any, X: Any, y: Any) -> tuple[Any, str | None, dict | None, str | None, str | None]:
    """Validate ``X``/``y`` and compute fingerprint, schema, contract and profile (no writes)."""
    if X is None:
        if y is not None:
            raise BadInput("Got y without X; pass --data X y (or X=..., y=...).")
        return None, None, None, None, None
    from .data import as_frame, fingerprint

    frame = as_frame(X, what="X")
    if len(frame) == 0:
        raise BadInput("The training data X is empty (0 rows); pass the frame the model was fitted on.")
    if y is not None:
        n_y = len(y) if hasattr(y, "__len__") else None
        if n_y != len(frame):
            raise BadInput(
                f"X has {len(frame)} rows but y has {n_y}; pass the matching training labels."
            )
    try:
        model.predict(frame.head(5))
    except Exception as exc:
        raise BadInput(
            f"The model cannot predict on X ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
            "pass the frame it was fitted on."
        ) from None
    from .data import Contract
    from .drift import Profile

    contract_json = Contract.from_frame(frame).to_json()
    contract = json.loads(contract_json)
    # The schema shown by lineage is the contract's column summary (same facts, computed once).
    schema = {"n_rows": contract["n_rows"], "columns": contract["columns"]}
    profile_json = Profile.from_frame(frame, model=model, y=y).to_json()
    return frame, profile_json, schema, contract_json, fingerprint(frame, y)


def _log_texts(mlflow: Any, texts: Mapping[str, str | None]) -> None:
    """Log several small text artefacts of the active run in one upload (one folder)."""
    with tempfile.TemporaryDirectory(prefix="nbt-meta-") as tmp:
        for path, text in texts.items():
            if text is None:
                continue
            target = Path(tmp, path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        mlflow.log_artifacts(tmp)


def _log_batch(run_id: str, params: Mapping[str, str], metrics: Mapping[str, float]) -> None:
    if not params and not metrics:
        return
    from mlflow.entities import Metric, Param

    now = int(time.time() * 1000)
    store.client().log_batch(
        run_id,
        metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
        params=[Param(k, v) for k, v in params.items()],
    )


def pip_requirements(packages: Iterable[str] = _SKLEARN_REQUIREMENTS) -> list[str]:
    """Pinned requirements from the installed versions (no subprocess inference)."""
    reqs = []
    for pkg in packages:
        try:
            reqs.append(f"{pkg}=={metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            continue
    return reqs


def _log_sklearn(mlflow: Any, model: Any, frame: Any) -> Any:
    import mlflow.sklearn
    from mlflow.models import infer_signature

    signature = example = None
    if frame is not None:
        example = frame.head(3)
        try:
            signature = infer_signature(frame.head(100), model.predict(frame.head(100)))
        except Exception as exc:  # a signature is a nicety; never fail registration on it
            log.debug("no signature: %s", exc)
    from mlflow.models import Model

    # Model.log is what mlflow.sklearn.log_model calls; going through it directly lets us pass
    # validate_serving_input=False: _describe_data already ran model.predict on X, and MLflow's
    # check reloads the model as pyfunc and predicts again (~0.4 s of a ~0.3 s budget).
    return Model.log(
        artifact_path=None,
        name=MODEL_ARTIFACT,
        flavor=_SklearnFlavor,
        sk_model=model,
        signature=signature if signature is not None else False,
        input_example=example,
        pip_requirements=pip_requirements(),
        validate_serving_input=False,
    )


class _SklearnFlavor:
    """``mlflow.sklearn`` as a flavor for ``Model.log`` that accepts ``validate_serving_input``."""

    __name__ = "mlflow.sklearn"

    @staticmethod
    def save_model(*, validate_serving_input: bool = True, **kwargs: Any) -> Any:
        import mlflow.sklearn

        return mlflow.sklearn.save_model(**kwargs)


def _artifact_sha256(mlflow: Any, model_uri: str) -> str:
    with tempfile.TemporaryDirectory(prefix="nbt-sha-") as tmp:
        local = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=tmp)
        return tree_sha256(Path(local))


def tree_sha256(root: Path) -> str:
    """sha256 over every file under ``root``: its relative path and the sha256 of its bytes."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name not in _DOWNLOAD_ONLY):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        h.update(f"{path.relative_to(root).as_posix()}\0{digest}\n".encode())
    return h.hexdigest()


def git_commit(root: Path | None = None) -> str | None:
    """``HEAD`` of the project's git repository (``+dirty`` when it has changes), or None."""
    root = root or config.project_root()
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, timeout=5,
        )
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _task_of(model: Any) -> str:
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(model):
        return "classification"
    if is_regressor(model):
        return "regression"
    return "other"


# --------------------------------------------------------------------------------- resolve
def resolve(ref: str | ModelRef) -> Any:
    """The MLflow ``ModelVersion`` a reference points at; :class:`ModelNotFound` otherwise."""
    r = parse_ref(ref)
    c = store.client()
    rm = _require_model(r.name)
    if r.version:
        try:
            return store.read(c.get_model_version, r.name, r.version)
        except ModelNotFound:
            known = [str(v.version) for v in _all_versions(r.name)]
            raise ModelNotFound(
                f"Model {r.name!r} has no version {r.version}; versions: "
                f"{', '.join(known) or 'none'}."
            ) from None
    if r.alias:
        aliases = rm.aliases or {}
        if r.alias not in aliases:
            raise ModelNotFound(
                f"Model {r.name!r} has no alias {r.alias!r}."
                + (did_you_mean(r.alias, aliases, what="Aliases") if aliases else
                   " It has no aliases yet; set one with %nbt promote NAME VERSION --alias A.")
            )
        return store.read(c.get_model_version_by_alias, r.name, r.alias)
    latest = _all_versions(r.name)
    if not latest:
        raise ModelNotFound(f"Model {r.name!r} has no versions yet; register one first.")
    return latest[0]


def _require_model(name: str) -> Any:
    c = store.client()
    try:
        return store.read(c.get_registered_model, name)
    except ModelNotFound:
        known = [m.name for m in store.read(c.search_registered_models, max_results=1000)]
        raise ModelNotFound(
            f"No model named {name!r}." + (did_you_mean(name, known) if known else
                                          " No models are registered yet; use %nbt register.")
        ) from None


def _all_versions(name: str) -> list[Any]:
    c = store.client()
    versions = store.read(c.search_model_versions, f"name='{name}'", max_results=10000)
    return sorted(versions, key=lambda v: int(v.version), reverse=True)


def run_metrics(mv: Any) -> dict[str, float]:
    """The metrics logged on a version (on the run that logged it)."""
    if not mv.run_id:
        return {}
    return dict(store.read(store.client().get_run, mv.run_id).data.metrics)


def log_version_metrics(ref: str | ModelRef, metrics: Mapping[str, float]) -> Any:
    """Log ``metrics`` onto a version so that :func:`promote` gates can read them."""
    mv = resolve(ref)
    metrics = _check_metrics(metrics)
    with store.translate_errors():
        _log_batch(mv.run_id, {}, metrics)
    return mv


def set_version_tag(ref: str | ModelRef, key: str, value: str) -> Any:
    mv = resolve(ref)
    with store.translate_errors():
        store.client().set_model_version_tag(mv.name, mv.version, key, str(value))
    return mv


def read_artifact_text(mv: Any, artifact: str) -> str | None:
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
            if isinstance(exc, store.StoreUnavailable):
                raise
            return None
        return Path(path).read_text()


# --------------------------------------------------------------------------------- load
def load(ref: str | ModelRef) -> Any:
    """Load the native model of ``ref`` after verifying its sha256 (refuses a changed artefact)."""
    mv = resolve(ref)
    mlflow = store.mlflow_module()
    expected = (mv.tags or {}).get(TAG_SHA)
    with tempfile.TemporaryDirectory(prefix="nbt-load-") as tmp:
        with store.translate_errors():
            local = Path(mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{mv.name}/{mv.version}", dst_path=tmp))
        if expected:
            actual = tree_sha256(local)
            if actual != expected:
                raise IntegrityError(
                    f"The stored files of {mv.name}/{mv.version} changed since registration "
                    f"(sha256 {actual[:12]}... != recorded {expected[:12]}...); refusing to load. "
                    "Re-register the model from its source."
                )
        import mlflow.sklearn

        with store.translate_errors():
            model = mlflow.sklearn.load_model(str(local))
    try:
        model._nbt_ref = f"{mv.name}/{mv.version}"  # lets evaluate/compare name the version
    except AttributeError:  # pragma: no cover
        pass
    return model


# --------------------------------------------------------------------------------- gates
_GATE = re.compile(r"^\s*(?P<metric>[A-Za-z_][\w.\-/]*)\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<value>[^\s]+)\s*$")
_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
        "==": operator.eq, "!=": operator.ne}


@dataclass(frozen=True)
class Gate:
    """``METRIC OP VALUE`` (e.g. ``accuracy>=0.9``) or ``beats=REF`` (see evaluation.compare)."""

    metric: str
    op: str
    value: float | str

    @classmethod
    def parse(cls, text: str) -> Gate:
        text = str(text).strip()
        m = re.match(r"^beats\s*=\s*(?P<ref>\S+)$", text)
        if m:
            return cls("beats", "=", str(parse_ref(m["ref"])))
        m = _GATE.match(text)
        if not m:
            raise BadInput(
                f"Malformed gate {text!r}; write METRIC>=VALUE (also <=, >, <, ==), e.g. "
                "'accuracy>=0.9', or beats=NAME@champion."
            )
        try:
            value = float(m["value"])
        except ValueError:
            raise BadInput(f"Gate {text!r} compares with {m['value']!r}, which is not a number.") from None
        return cls(m["metric"], m["op"], value)

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}" if self.metric != "beats" else f"beats={self.value}"


def check_gates(mv: Any, gates: Sequence[str | Gate]) -> list[dict[str, Any]]:
    """Evaluate gates on a version; returns one row per gate (raises on unknown metrics)."""
    parsed = [g if isinstance(g, Gate) else Gate.parse(g) for g in gates]
    metrics = run_metrics(mv) if any(g.metric != "beats" for g in parsed) else {}
    rows = []
    for g in parsed:
        if g.metric == "beats":
            rows.append(_beats_gate(mv, str(g.value)))
            continue
        if g.metric not in metrics:
            raise BadInput(
                f"Gate {str(g)!r}: version {mv.name}/{mv.version} has no metric {g.metric!r}."
                + (did_you_mean(g.metric, metrics, what="Its metrics") if metrics else
                   " It has no metrics; log some with %nbt evaluate ... --log or --metric k=v.")
            )
        observed = metrics[g.metric]
        rows.append({"gate": str(g), "observed": observed, "passed": bool(_OPS[g.op](observed, g.value))})
    return rows


def _beats_gate(mv: Any, other: str) -> dict[str, Any]:
    """``beats=REF``: a stored ``compare`` verdict of this version against ``other``."""
    target = resolve(other)
    key = f"nbt.compare.{target.name}.{target.version}"
    verdict = (mv.tags or {}).get(key)
    if verdict is None:
        raise BadInput(
            f"Gate 'beats={other}': no comparison of {mv.name}/{mv.version} against "
            f"{target.name}/{target.version} is recorded; run %nbt compare {other} "
            f"{mv.name}/{mv.version} X y --log first."
        )
    return {"gate": f"beats={other}", "observed": verdict, "passed": verdict == "B better"}


# --------------------------------------------------------------------------------- aliases
def promote(
    name: str,
    version: str | int,
    *,
    alias: str,
    require: Sequence[str | Gate] = (),
) -> PromotionResult:
    """Move ``alias`` to ``version`` when every gate in ``require`` holds; else raise GateFailed.

    Concurrency rule: every move of one alias (promote or rollback, from any process or
    machine) runs under a registry lock (:func:`nbtoolkit.locks.registry_lock`), so racing moves
    apply one after the other and the end state is that of some serial order. A promote racing a
    rollback therefore ends either as "rollback, then promote" (the alias holds the promoted
    version, the rolled-back-to version is its previous holder) or as "promote, then rollback"
    (the rollback undoes that promote); the alias and its history never disagree. Gates are
    checked before the lock is taken, on the version's logged metrics.
    """
    check_name(name)
    check_alias(alias)
    version = str(version).strip()
    if not version.isdigit():
        raise BadInput(f"Version must be a number, got {version!r}.")
    mv = resolve(ModelRef(name, version))
    gates = [g if isinstance(g, Gate) else Gate.parse(g) for g in require]
    rows = check_gates(mv, gates)
    failed = [r for r in rows if not r["passed"]]
    if failed:
        detail = "; ".join(f"{r['gate']} (observed {_fmt(r['observed'])})" for r in failed)
        raise GateFailed(
            f"Refused to move {name}@{alias} to version {version}: gate failed: {detail}."
        )
    c = store.client()
    with _alias_lock(name, alias):
        rm = store.read(c.get_registered_model, name)
        previous = (rm.aliases or {}).get(alias)
        with store.translate_errors():
            if previous is not None and str(previous) != version:
                history = _history(rm, alias) + [str(previous)]
                c.set_registered_model_tag(name, ALIAS_HISTORY + alias, json.dumps(history[-HISTORY_KEEP:]))
            c.set_registered_model_alias(name, alias, version)
    return PromotionResult(name=name, alias=alias, version=version,
                           previous=str(previous) if previous is not None else None,
                           gates=rows, action="promote")


def rollback(name: str, *, alias: str) -> PromotionResult:
    """Move ``alias`` back to the version that held it before the last promotion."""
    check_name(name)
    check_alias(alias)
    _require_model(name)  # an unknown model fails before the lock is taken
    with _alias_lock(name, alias):  # see promote(): moves of one alias are serialised
        rm = _require_model(name)
        current = (rm.aliases or {}).get(alias)
        if current is None:
            raise ModelNotFound(
                f"Model {name!r} has no alias {alias!r} to roll back."
                + (did_you_mean(alias, rm.aliases, what="Aliases") if rm.aliases else "")
            )
        history = _history(rm, alias)
        existing = {str(v.version) for v in _all_versions(name)}
        while history and (history[-1] not in existing or history[-1] == str(current)):
            history.pop()  # skip deleted versions and no-op entries
        if not history:
            raise BadInput(
                f"{name}@{alias} (version {current}) has no earlier holder to roll back to."
            )
        target = history.pop()
        c = store.client()
        with store.translate_errors():
            c.set_registered_model_tag(name, ALIAS_HISTORY + alias, json.dumps(history))
            c.set_registered_model_alias(name, alias, target)
    return PromotionResult(name=name, alias=alias, version=target, previous=str(current),
                           gates=[], action="rollback")


def _alias_lock(name: str, alias: str) -> Any:
    from .locks import registry_lock

    return registry_lock(f"{name}@{alias}")


def _history(rm: Any, alias: str) -> list[str]:
    raw = (rm.tags or {}).get(ALIAS_HISTORY + alias)
    if not raw:
        return []
    try:
        return [str(v) for v in json.loads(raw)]
    except ValueError:
        return []


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


# --------------------------------------------------------------------------------- browse
def models() -> ModelsTable:
    """Registered models: name, latest version, aliases, last update."""
    c = store.client()
    rows = []
    for rm in store.read(c.search_registered_models, max_results=1000):
        if rm.name.startswith("nbt-lock."):  # a held nbtoolkit.locks marker, not a model
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
        })
    return VersionsTable(name, rows)


def lineage(ref: str | ModelRef) -> Lineage:
    """Where a version came from: data, schema, params, metrics, code, notebook, pipeline run."""
    mv = resolve(ref)
    tags = mv.tags or {}
    params: dict[str, str] = {}
    metrics: dict[str, float] = {}
    if mv.run_id:
        run = store.read(store.client().get_run, mv.run_id)
        params, metrics = dict(run.data.params), dict(run.data.metrics)
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
        tags={k: v for k, v in tags.items()},
    )


def _ts(ms: int | None) -> str | None:
    if not ms:
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))
