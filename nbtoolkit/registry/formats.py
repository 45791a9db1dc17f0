"""How a model is stored and read back: one format per model kind, and the skops trust rule.

==========================  ============  ===========================================  =====
model                       flavor        file                                         safe
==========================  ============  ===========================================  =====
scikit-learn estimator or   ``sklearn``   ``model.skops``: skops, types trusted only   yes
Pipeline (any step)                       from nbtoolkit's allow-list (:mod:`.trust`)
XGBoost (sklearn API or     ``xgboost``   ``model.ubj``: XGBoost's own binary JSON     yes
``Booster``)
LightGBM ``Booster``        ``lightgbm``  ``model.lgb``: LightGBM's text model         yes
LightGBM sklearn API        ``lightgbm``  ``model.skops`` holding the text model       yes
anything else, asked for    ``sklearn`` / ``model.pkl``: cloudpickle                   no
(``serialization=           ``python_
"cloudpickle"``)            function``
==========================  ============  ===========================================  =====

skops never unpickles: it rebuilds objects of *trusted* types only, but it *calls* some of them
(a constructor node calls its type with arguments from the file). So trust is decided by
nbtoolkit's code, from the file itself, never from a tag or a module name: :func:`.trust.audit`
reads the file's ``schema.json`` and skops' list of the types it does not trust by default, and
each must be on the allow-list for the kind of node it appears in — a class generated from
scikit-learn's ``all_estimators()`` (``trusted_types.json``), one of the few hand-reviewed
functions, or a ``functools.partial`` of such a function — and checks the file's shape (its zip
members, tree node arrays). The same audit refuses a model at registration (:class:`BadInput`,
naming the type and ``serialization="cloudpickle"``) and a file at load (:class:`IntegrityError`),
before skops builds anything; only then is exactly the audited list handed to skops. The list
recorded on the version (:data:`~.tags.TAG_TRUSTED`) is information: a file whose types differ
from it is refused too. XGBoost's and LightGBM's own files are read by nbtoolkit too, never by
MLflow's flavor loaders (which import the class the ``MLmodel`` file names, or unpickle): only the
classes in :data:`.readers.XGBOOST_CLASSES` / :data:`.readers.LIGHTGBM_CLASSES` are rebuilt.
Reading a stored folder back is :mod:`.readers`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from ..errors import BadInput, NotFitted

SKOPS, CLOUDPICKLE = "skops", "cloudpickle"
#: What ``register(serialization=...)`` / ``--format`` accepts (boosting models use their own).
FORMATS = (SKOPS, CLOUDPICKLE)
#: Boosting libraries: their objects' state is their own model file (UBJ bytes, model text).
BOOSTING_MODULES = ("xgboost", "lightgbm")
EXTRA = "boost"  # pip install 'nbtoolkit[boost]'

_BASE_REQUIREMENTS = ("mlflow", "scikit-learn", "numpy", "pandas", "scipy")


class UnsafeModelWarning(UserWarning):
    """Loading a cloudpickle model runs code from its file: only load it from a trusted source."""


@dataclass(frozen=True)
class Plan:
    """How one model will be stored, decided (and checked) before anything is written."""

    flavor: str                 # sklearn | xgboost | lightgbm | pyfunc
    format: str                 # skops | ubj | lgb | cloudpickle
    trusted: tuple[str, ...] = ()
    packages: tuple[str, ...] = _BASE_REQUIREMENTS
    #: the skops bytes dumped to find the untrusted types: written as they are, not dumped again
    data: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def safe(self) -> bool:
        return self.format != CLOUDPICKLE

    def tags(self) -> dict[str, str]:
        from .tags import TAG_FLAVOR, TAG_FORMAT, TAG_TRUSTED, TAG_UNSAFE

        out = {TAG_FLAVOR: self.flavor, TAG_FORMAT: self.format}
        if self.format == SKOPS:
            out[TAG_TRUSTED] = json.dumps(list(self.trusted))
        if not self.safe:
            out[TAG_UNSAFE] = "true"
        return out


# --------------------------------------------------------------------------------- kinds
def library_of(model: Any) -> str:
    """Top-level package of the model's class (``sklearn``, ``xgboost``, ``__main__``...)."""
    return type(model).__module__.split(".")[0]


def is_python_model(model: Any) -> bool:
    from mlflow.pyfunc import PythonModel

    return isinstance(model, PythonModel)


def plan(model: Any, serialization: str | None = None) -> Plan:
    """Decide the flavor and format of ``model`` and check it can be stored that way (no writes)."""
    serialization = SKOPS if serialization is None else serialization
    if not isinstance(serialization, str) or serialization not in FORMATS:
        raise BadInput(f"Unknown model format {serialization!r}; use one of: {', '.join(FORMATS)} "
                       "(XGBoost and LightGBM models are stored in their own formats automatically).")
    if isinstance(model, type):
        raise BadInput(f"Got the class {model.__name__}, not a fitted model; create it, call "
                       ".fit(X, y), then register the instance.")
    library = library_of(model)
    if serialization == CLOUDPICKLE:
        check_fitted(model, sklearn_only=True)
        if is_python_model(model):
            return Plan("pyfunc", CLOUDPICKLE, packages=(*_BASE_REQUIREMENTS, "cloudpickle"))
        if not hasattr(model, "predict"):
            raise BadInput(f"Cannot register a {type(model).__name__}: it has no predict method; "
                           "wrap it in an mlflow.pyfunc.PythonModel.")
        return Plan("sklearn", CLOUDPICKLE, packages=(*_BASE_REQUIREMENTS, "cloudpickle"))
    if library == "xgboost":
        check_fitted(model, sklearn_only=True)
        return Plan("xgboost", "ubj", packages=(*_BASE_REQUIREMENTS, "xgboost"))
    if library == "lightgbm":
        check_fitted(model, sklearn_only=True)
        if type(model).__name__ == "Booster":
            return Plan("lightgbm", "lgb", packages=(*_BASE_REQUIREMENTS, "lightgbm"))
        trusted, _ = trusted_types(model)
        return Plan("lightgbm", SKOPS, trusted, packages=(*_BASE_REQUIREMENTS, "skops", "lightgbm"))
    if is_python_model(model):
        raise BadInput(f"A {type(model).__name__} (mlflow.pyfunc.PythonModel) is stored only with "
                       "cloudpickle: register it with --format cloudpickle (serialization="
                       "'cloudpickle') and load it only from sources you trust.")
    _check_sklearn(model)
    trusted, data = trusted_types(model)
    boost = tuple(sorted({t.split(".")[0] for t in trusted} & set(BOOSTING_MODULES)))
    return Plan("sklearn", SKOPS, trusted, packages=(*_BASE_REQUIREMENTS, "skops", *boost), data=data)


def _check_sklearn(model: Any) -> None:
    from sklearn.base import BaseEstimator

    if not isinstance(model, BaseEstimator) or not hasattr(model, "predict"):
        raise BadInput(
            f"Cannot register a {type(model).__name__} safely: expected a fitted scikit-learn "
            "estimator or pipeline, an XGBoost or a LightGBM model. For any other Python model "
            "use --format cloudpickle (serialization='cloudpickle'), loaded only from trusted sources."
        )
    check_fitted(model, sklearn_only=True)


def check_fitted(model: Any, *, doing: str = "registering", sklearn_only: bool = False) -> None:
    """Refuse an unfitted estimator with :class:`NotFitted` (scikit-learn's ``check_is_fitted``).

    ``doing`` ends the message ("before registering it"); ``sklearn_only`` leaves models that
    are not scikit-learn estimators alone (a cloudpickled object with a ``fit`` of its own).
    """
    from sklearn.base import BaseEstimator
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    if sklearn_only and not isinstance(model, BaseEstimator):
        return
    try:
        check_is_fitted(model)
    except NotFittedError:
        raise NotFitted(f"This {type(model).__name__} instance is not fitted yet; call .fit(X, y) "
                        f"before {doing} it.") from None
    except TypeError:  # not an estimator check_is_fitted can judge; trust .predict
        pass


# --------------------------------------------------------------------------------- skops trust
def trusted_types(model: Any) -> tuple[tuple[str, ...], bytes]:
    """The types skops needs trusted to load ``model`` (and its skops bytes); refuses a model
    holding anything outside nbtoolkit's allow-list (:func:`.trust.audit`)."""
    import skops.io as sio

    from .trust import audit

    try:
        data = sio.dumps(model)
    except Exception as exc:  # skops cannot represent the object at all (lambdas, locals...)
        raise BadInput(
            f"skops cannot store this {type(model).__name__} ({type(exc).__name__}: "
            f"{_first_line(exc)}); register it with --format cloudpickle (serialization="
            "'cloudpickle') and load it only from sources you trust."
        ) from None
    untrusted, problem = audit(data)
    if problem is not None:
        raise BadInput(
            f"This {type(model).__name__} {problem.text}, outside the types nbtoolkit trusts "
            "(docs/models.md, Safe loading); register it with --format cloudpickle (serialization='cloudpickle') "
            "and load it only from sources you trust."
        )
    return tuple(untrusted), data


def checked_skops(data: bytes, recorded: str | None, where: str) -> list[str]:
    """The trusted list to hand skops for the file ``data`` of version ``where``, decided from the
    file alone; :class:`IntegrityError` when it holds anything nbtoolkit does not trust, or types
    other than the recorded list ``recorded`` (the JSON of :data:`~.tags.TAG_TRUSTED`)."""
    from ..errors import IntegrityError
    from .tags import TAG_TRUSTED
    from .trust import audit, first_difference

    untrusted, problem = audit(data)
    if problem is not None:
        raise IntegrityError(f"The model.skops of {where} {problem.text}; refusing to load it (nothing "
                             "from the file was run). Re-register the model from its source.")
    if recorded is not None:
        try:
            listed = json.loads(recorded)
        except ValueError:
            listed = None
        if not isinstance(listed, list) or not all(isinstance(t, str) for t in listed):
            raise IntegrityError(f"{where} records its trusted types ({TAG_TRUSTED}) as {recorded[:80]!r}, "
                                 "not a list of type names; refusing to load it.")
        unexpected = first_difference(untrusted, listed)
        if unexpected is not None:
            held = "holds" if unexpected in untrusted else "does not hold"
            raise IntegrityError(f"The model.skops of {where} {held} the type {unexpected!r}, unlike the "
                                 f"trusted types recorded at registration ({TAG_TRUSTED}); refusing to "
                                 "load it. Re-register the model from its source.")
    return untrusted


# --------------------------------------------------------------------------------- predicting
def predictor(model: Any) -> Callable[[Any], Any]:
    """``predict(frame)`` for any supported model (native boosters and PythonModels included)."""
    name = type(model).__name__
    if library_of(model) == "xgboost" and name == "Booster":
        return model.inplace_predict
    if is_python_model(model):
        return lambda frame: model.predict(None, frame)
    return model.predict


def task_of(model: Any) -> str:
    """``classification``, ``regression`` or ``other`` (scikit-learn's estimator type)."""
    from sklearn.base import BaseEstimator, is_classifier, is_regressor

    if not isinstance(model, BaseEstimator):  # native boosters, PythonModels: no sklearn tags
        return "other"
    if is_classifier(model):
        return "classification"
    if is_regressor(model):
        return "regression"
    return "other"


def requirements(packages: Sequence[str]) -> list[str]:
    """Pinned requirements from the installed versions (no subprocess inference)."""
    reqs = []
    for pkg in dict.fromkeys(packages):
        try:
            reqs.append(f"{pkg}=={metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            continue
    return reqs


# --------------------------------------------------------------------------------- save
class Flavor:
    """A flavor for ``mlflow.models.Model.log``: saves with the planned format, then hashes.

    ``Model.log`` uploads exactly the folder ``save_model`` wrote (serving-input validation is
    off), so hashing it here gives the stored files' sha256 without downloading them again.
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.__name__ = f"mlflow.{'pyfunc' if plan.flavor == 'pyfunc' else plan.flavor}"
        self.sha256: str | None = None

    def save_model(self, *, path: str, model: Any, validate_serving_input: bool = True,
                   **kwargs: Any) -> None:
        p = self.plan
        if p.flavor == "sklearn" and p.data is not None:
            _save_skops(p, model, Path(path), **kwargs)
        elif p.flavor == "sklearn":
            import mlflow.sklearn

            mlflow.sklearn.save_model(model, path, serialization_format=p.format,
                                      skops_trusted_types=list(p.trusted) or None, **kwargs)
        elif p.flavor == "xgboost":
            import mlflow.xgboost

            mlflow.xgboost.save_model(model, path, model_format=p.format, **kwargs)
        elif p.flavor == "lightgbm":
            import mlflow.lightgbm

            extra = {"serialization_format": SKOPS, "skops_trusted_types": list(p.trusted)} \
                if p.format == SKOPS else {}
            mlflow.lightgbm.save_model(model, path, **extra, **kwargs)
        else:
            import mlflow.pyfunc

            mlflow.pyfunc.save_model(path, python_model=model, **kwargs)
        from .integrity import tree_sha256

        self.sha256 = tree_sha256(Path(path))


def _save_skops(plan: Plan, model: Any, path: Path, *, mlflow_model: Any, signature: Any = None,
                input_example: Any = None, pip_requirements: Sequence[str] = ()) -> None:
    """What ``mlflow.sklearn.save_model(serialization_format="skops")`` writes — the same
    ``MLmodel`` (sklearn + python_function flavors, trusted types), environment files and input
    example — from the bytes already dumped by :func:`trusted_types`. MLflow would dump the model
    again and load it back to check it: for a 100-tree forest that is most of a register."""
    import sklearn
    import yaml
    from mlflow import pyfunc
    from mlflow.models.utils import _save_example
    from mlflow.utils.environment import (_CONDA_ENV_FILE_NAME, _PYTHON_ENV_FILE_NAME, _REQUIREMENTS_FILE_NAME,
                                          _process_pip_requirements, _PythonEnv)

    assert plan.data is not None
    path.mkdir(parents=True, exist_ok=False)
    _save_example(mlflow_model, input_example, str(path))
    if signature:
        mlflow_model.signature = signature
    data_file = "model.skops"
    (path / data_file).write_bytes(plan.data)
    pyfunc.add_to_model(mlflow_model, loader_module="mlflow.sklearn", model_path=data_file,
                        conda_env=_CONDA_ENV_FILE_NAME, python_env=_PYTHON_ENV_FILE_NAME, code=None,
                        predict_fn="predict")
    mlflow_model.add_flavor("sklearn", pickled_model=data_file, sklearn_version=sklearn.__version__,
                            serialization_format=SKOPS, code=None, skops_trusted_types=list(plan.trusted))
    mlflow_model.model_size_bytes = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    mlflow_model.save(str(path / "MLmodel"))
    conda_env, reqs, _ = _process_pip_requirements(None, list(pip_requirements), None)
    with open(path / _CONDA_ENV_FILE_NAME, "w") as f:
        yaml.safe_dump(conda_env, stream=f, default_flow_style=False)
    (path / _REQUIREMENTS_FILE_NAME).write_text("\n".join(reqs))
    _PythonEnv.current().to_yaml(os.path.join(path, _PYTHON_ENV_FILE_NAME))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""
