"""register(): log a fitted model as a new, verifiable registered version, or write nothing.

Everything that can be checked is checked before the first write (names, metric/param/tag keys
as MLflow will judge them, the storage format and its trusted types, the data). The writes then
happen in one MLflow run; if any of them fails, :func:`_undo` removes what was written — the
version, the logged model, the run's artefacts and the run itself — before the error is raised.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .. import config, store
from ..errors import BadInput, NbtError
from ..validation import mapping, text
from ..refs import check_alias, check_name
from ..reports.registry import RegisteredVersion
from . import formats
from .aliases import promote, refuse_near_miss_on_register
from .metadata import TRAINING, check_keys, check_metrics, hyperparameters, log_batch, log_dataset
from .tags import (CONTRACT_ARTIFACT, MODEL_ARTIFACT, PROFILE_ARTIFACT, SCHEMA_ARTIFACT, TAG_FINGERPRINT,
                   TAG_GIT, TAG_NOTEBOOK, TAG_PIPELINE_RUN, TAG_SHA, TAG_TASK, TAG_TRAINING_RUN)

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

log = logging.getLogger(__name__)


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
    serialization: str | None = None,
    sign: bool = False,
) -> RegisteredVersion:
    """Log a fitted model as a new registered version of ``name``.

    Parameters
    ----------
    model : a fitted scikit-learn estimator or pipeline (stored with skops), an XGBoost or
        LightGBM model (their own formats), or — with ``serialization="cloudpickle"`` — any other
        Python model, e.g. an ``mlflow.pyfunc.PythonModel``.
    name : registered model name
    X, y : training data; when given, the version stores its sha256 fingerprint, schema,
        data contract and drift profile, a signature and input example, and the data as the
        run's MLflow dataset input (context ``training``).
    metrics : values as given (e.g. from cross-validation); kept under these names, never
        overwritten by ``evaluate --log`` (which writes ``DATASET.METRIC``)
    params : logged beside the model's hyperparameters (``get_params(deep=True)``, flattened)
    tags : version tags
    alias : move this alias to the new version (recorded in the alias history)
    serialization : ``"skops"`` (default) or ``"cloudpickle"`` (any Python model; the version is
        tagged unsafe to load from untrusted sources)
    sign : sign the new version with the private key ``NBT_SIGNING_KEY`` (its stored files and
        ``nbt.*`` tags; see :mod:`nbtoolkit.registry.signing`), before ``alias`` moves to it

    Everything is checked before anything is written, and a failure while writing removes what
    was written: no run, artefact or version is left behind.
    """
    check_name(name)
    if alias is not None:
        check_alias(alias)
        refuse_near_miss_on_register(name, alias)  # a typo must not leave a version behind
    metrics = check_metrics(mapping(metrics, "metrics"))
    user_params = {k: str(v) for k, v in mapping(params, "params").items()}
    tags = {k: text(str(v), f"Tag {k!r}") for k, v in mapping(tags, "tags").items()}
    if description is not None:
        text(description, "description")
    if notebook is not None:
        text(notebook, "notebook", limit=1000)
    plan = formats.plan(model, serialization)
    if not isinstance(sign, bool):
        raise BadInput(f"sign must be True or False, got {sign!r}.")
    signer = _signer() if sign else None  # an unreadable or wrong key: refused before any write
    check_keys(metrics, user_params, tags)
    frame, profile_json, schema, contract_json, fingerprint = _describe_data(model, X, y)
    all_params = {**hyperparameters(model), **user_params}

    mlflow = store.mlflow_module()
    # a user a tracking server would refuse is refused here, before a run or a version exists
    store.require_model_permission(name, "EDIT", "adding a version")
    experiment_id = store.ensure_experiment()
    if mlflow.active_run() is None:
        store.require_experiment_permission(experiment_id, "logging the version's run",
                                            name=config.experiment_name())
    version_tags = {**tags, TAG_TASK: formats.task_of(model), "nbt.model_class": type(model).__name__,
                    **plan.tags(), **_classes_tag(model)}
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

    written: dict[str, Any] = {}
    with store.translate_errors():
        active = mlflow.active_run()
        if active is not None:  # e.g. %%nbt track: the version links to the training run
            version_tags[TAG_TRAINING_RUN] = active.info.run_id
        run = mlflow.start_run(
            experiment_id=active.info.experiment_id if active else experiment_id,
            run_name=f"register-{name}",
            nested=active is not None,
            tags={"nbt.kind": "register", "nbt.model_name": name, **{
                k: v for k, v in version_tags.items() if k != TAG_TASK}},
        )
        written["run_id"] = run.info.run_id
        try:
            run_id = run.info.run_id
            log_batch(run_id, all_params, {})  # before the model: MLflow copies params onto it
            if schema is not None:
                _log_texts(mlflow, {SCHEMA_ARTIFACT: json.dumps(schema), CONTRACT_ARTIFACT: contract_json,
                                    PROFILE_ARTIFACT: profile_json})
            flavor = formats.Flavor(plan)
            info = _log_model(mlflow, flavor, model, frame, plan)
            written["model_id"] = getattr(info, "model_id", None)
            # after the model, tied to it: MLflow 3's logged-model page shows them
            log_batch(run_id, {}, metrics, model_id=written["model_id"])
            if frame is not None:
                log_dataset(run_id, frame, fingerprint, name=TRAINING, context=TRAINING,
                            model_id=written["model_id"])
            version_tags[TAG_SHA] = flavor.sha256 or ""
            mv = mlflow.register_model(info.model_uri, name, tags=version_tags)
            written["version"] = (mv.name, mv.version)
            if description:
                store.client().update_model_version(name, mv.version, description=description)
            if signer is not None:  # inside: a signing failure removes the version like any other
                from .signing import sign_version

                sign_version(store.client().get_model_version(name, mv.version), signer)
                mv = store.client().get_model_version(name, mv.version)  # with its nbt.signed_by tag
        except BaseException as exc:
            _undo(mlflow, written)
            if isinstance(exc, NbtError) or not isinstance(exc, Exception):
                raise
            raise _failed(name, exc) from exc
        mlflow.end_run()
    result = RegisteredVersion(mv, metrics=metrics, params=user_params)
    if alias:
        # near misses were refused before anything was written; an alias another process created
        # meanwhile must not leave this version behind half-done
        promote(name, mv.version, alias=alias, new_alias=True)
        result.aliases.append(alias)
    return result


def _classes_tag(model: Any) -> dict[str, str]:
    """A classifier's ``classes_`` as the ``nbt.classes`` tag: what an outcome of the version may be
    (checked by ``record_outcomes`` and ``/outcomes``). Absent when they do not fit in a tag."""
    from .tags import TAG_CLASSES

    classes = getattr(model, "classes_", None)
    if classes is None or formats.task_of(model) != "classification":
        return {}
    try:
        text = json.dumps(classes.tolist() if hasattr(classes, "tolist") else list(classes))
    except (TypeError, ValueError):  # classes JSON cannot hold: the loaded model answers instead
        return {}
    return {TAG_CLASSES: text} if len(text) <= 4000 else {}


def _signer() -> Any:
    from .keys import library, signing_key

    key = signing_key()
    library()
    return key


def _failed(name: str, exc: BaseException) -> NbtError:
    if store.is_connection_error(exc):
        return store.unavailable(exc)
    refused = store.auth_error(exc, denied=f"permission to write model {name!r}")
    if refused is not None:
        return refused
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return NbtError(f"Registering {name!r} failed ({type(exc).__name__}: {first}); nothing was written. "
                    "Fix the cause and register again.")


def _undo(mlflow: ModuleType, written: Mapping[str, Any]) -> None:
    """Remove what a failed register wrote: version, logged model, run artefacts, run."""
    client = store.client()
    run_id = written.get("run_id")
    steps: list[tuple[str, Any]] = []
    if "version" in written:
        steps.append(("version", lambda: client.delete_model_version(*written["version"])))
    if written.get("model_id"):
        steps.append(("logged model", lambda: _delete_logged_model(client, written["model_id"])))
    if run_id:
        steps.append(("run", lambda: _delete_run(mlflow, client, run_id)))
    for what, step in steps:
        try:
            step()
        except Exception as exc:  # keep undoing the rest; say what stayed behind
            log.warning("could not remove the %s of a failed register: %s", what, exc)


def _delete_artifacts(uri: str) -> None:
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    with contextlib.suppress(OSError, NotImplementedError):  # a store that cannot delete keeps them
        get_artifact_repository(uri).delete_artifacts()


def _delete_logged_model(client: MlflowClient, model_id: str) -> None:
    _delete_artifacts(client.get_logged_model(model_id).artifact_location)
    client.delete_logged_model(model_id)


def _delete_run(mlflow: ModuleType, client: MlflowClient, run_id: str) -> None:
    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        mlflow.end_run(status="FAILED")
    _delete_artifacts(client.get_run(run_id).info.artifact_uri)
    tracking = client._tracking_client.store  # the SQL store can remove the run for good
    if hasattr(tracking, "_hard_delete_run"):
        tracking._hard_delete_run(run_id)
    else:  # a tracking server: mark it deleted (mlflow gc removes it)
        client.delete_run(run_id)


def _describe_data(model: Any, X: Any,
                   y: Any) -> tuple[Any, str | None, dict[str, Any] | None, str | None, str | None]:
    """Validate ``X``/``y`` and compute fingerprint, schema, contract and profile (no writes)."""
    if X is None:
        if y is not None:
            raise BadInput("Got y without X; pass --data X y (or X=..., y=...).")
        return None, None, None, None, None
    from ..contract import as_frame, fingerprint

    frame = as_frame(X, what="X")
    if len(frame) == 0:
        raise BadInput("The training data X is empty (0 rows); pass the frame the model was fitted on.")
    if y is not None:
        n_y = len(y) if hasattr(y, "__len__") else None
        if n_y != len(frame):
            raise BadInput(
                f"X has {len(frame)} rows but y has {n_y}; pass the matching training labels."
            )
    predict = formats.predictor(model)
    try:
        predict(frame.head(5))
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise BadInput(
            f"The model cannot predict on X ({type(exc).__name__}: {first}); pass the frame it was fitted on."
        ) from None
    from ..contract import Contract
    from ..profiles import Profile

    contract_json = Contract.from_frame(frame).to_json()
    contract = json.loads(contract_json)
    # The schema shown by lineage is the contract's column summary (same facts, computed once).
    schema = {"n_rows": contract["n_rows"], "columns": contract["columns"]}
    predicting = model if hasattr(model, "predict") and predict == getattr(model, "predict", None) else None
    profile_json = Profile.from_frame(frame, model=predicting, y=y).to_json()
    return frame, profile_json, schema, contract_json, fingerprint(frame, y)


def _log_texts(mlflow: ModuleType, texts: Mapping[str, str | None]) -> None:
    """Log several small text artefacts of the active run in one upload (one folder)."""
    with tempfile.TemporaryDirectory(prefix="nbt-meta-") as tmp:
        for path, content in texts.items():
            if content is None:
                continue
            target = Path(tmp, path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
        mlflow.log_artifacts(tmp)


def _log_model(mlflow: ModuleType, flavor: formats.Flavor, model: Any, frame: pd.DataFrame, plan: formats.Plan) -> Any:
    from mlflow.models import Model, infer_signature

    signature = example = None
    if frame is not None:
        example = frame.head(3)
        try:
            head = frame.head(100)
            with warnings.catch_warnings():
                # MLflow's 8-line hint on any integer column, whatever the data: that a missing
                # value would arrive as a float. The version's data contract already records
                # each column's kind and null rate, and `validate` / `nbt serve` check them.
                warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer",
                                        category=UserWarning)
                signature = infer_signature(head, formats.predictor(model)(head))
        except Exception as exc:  # a signature is a nicety; never fail registration on it
            log.debug("no signature: %s", exc)
    # Model.log is what mlflow.<flavor>.log_model calls; going through it directly lets us pass
    # validate_serving_input=False: _describe_data already ran predict on X, and MLflow's check
    # reloads the model as pyfunc and predicts again.
    return Model.log(
        artifact_path=None,
        name=MODEL_ARTIFACT,
        flavor=flavor,
        signature=signature if signature is not None else False,
        input_example=example,
        pip_requirements=formats.requirements(plan.packages),
        validate_serving_input=False,
        model=model,
    )


def pip_requirements(packages: Any = ("mlflow", "scikit-learn", "skops", "numpy", "pandas", "scipy")) -> list[str]:
    """Pinned requirements from the installed versions (no subprocess inference)."""
    return formats.requirements(tuple(packages))


def git_commit(root: Path | None = None) -> str | None:
    """``HEAD`` of the project's git repository (``+dirty`` when it has changes), or None."""
    root = root or config.project_root()
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5, check=False
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, timeout=5, check=False,
        )
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None
