"""register(): log a fitted scikit-learn model as a new, verifiable registered version."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from .. import config, store
from ..errors import BadInput, NotFitted
from ..refs import check_alias, check_name
from ..reports.registry import RegisteredVersion
from .aliases import promote
from .lookup import _check_metrics, _log_batch, tree_sha256
from .tags import (CONTRACT_ARTIFACT, MODEL_ARTIFACT, PROFILE_ARTIFACT, SCHEMA_ARTIFACT, TAG_FINGERPRINT,
                   TAG_GIT, TAG_NOTEBOOK, TAG_PIPELINE_RUN, TAG_SHA, TAG_TASK)

log = logging.getLogger(__name__)

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



def _describe_data(model: Any, X: Any, y: Any) -> tuple[Any, str | None, dict | None, str | None, str | None]:
    """Validate ``X``/``y`` and compute fingerprint, schema, contract and profile (no writes)."""
    if X is None:
        if y is not None:
            raise BadInput("Got y without X; pass --data X y (or X=..., y=...).")
        return None, None, None, None, None
    from ..data import as_frame, fingerprint

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
    from ..data import Contract
    from ..drift import Profile

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

