"""Reading a stored model folder back, in the format its tags record (:mod:`.formats` says which).

The folder has been downloaded and integrity-checked (:mod:`.loading`); here a skops file is audited
against the allow-list before skops builds anything (:func:`.formats.checked_skops`), XGBoost's and
LightGBM's own files are rebuilt only as the classes listed below, and cloudpickle is read only when
the caller allows it.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from ..errors import BadInput, NbtError
from .formats import BOOSTING_MODULES, CLOUDPICKLE, EXTRA, SKOPS, UnsafeModelWarning, checked_skops

#: Versions whose cloudpickle warning this process has shown (``load`` says it once).
_WARNED: set[str] = set()


def load_local(local: Path, tags: dict[str, str], where: str, *, unsafe_ok: bool = False) -> Any:
    """Read a downloaded, already integrity-checked model folder the way its tags say.

    A cloudpickle version is read only with ``unsafe_ok`` (the user allowed it, or a trusted
    signature vouches for its format tag): the tag alone proves nothing, since whoever can write
    to the store can set it.
    """
    from .tags import TAG_FLAVOR, TAG_FORMAT, TAG_TRUSTED

    flavor = tags.get(TAG_FLAVOR, "sklearn")  # versions registered before formats were recorded
    fmt = tags.get(TAG_FORMAT, SKOPS)
    if flavor in {"xgboost", "lightgbm"}:
        _require(flavor, where)
    if fmt == CLOUDPICKLE and not unsafe_ok:
        from ..errors import IntegrityError

        raise IntegrityError(
            f"{where} is stored with cloudpickle, which runs code from its file when it is read; refusing "
            "to load it. If you trust everyone who can write to this store, set NBT_ALLOW_UNSAFE=1 (or "
            "load(..., allow_unsafe=True)); or sign the version (nbt model sign) and set NBT_TRUSTED_KEYS.")
    if fmt == CLOUDPICKLE and where not in _WARNED:
        _WARNED.add(where)  # once per version and process, whatever the warning filters say
        warnings.warn(f"{where} is stored with cloudpickle: loading it runs code from its file. "
                      "Only load it from a source you trust.", UnsafeModelWarning, stacklevel=3)
    if fmt == CLOUDPICKLE:
        if flavor == "pyfunc":
            import mlflow.pyfunc

            return mlflow.pyfunc.load_model(str(local))
        import mlflow.sklearn

        return mlflow.sklearn.load_model(str(local))
    if fmt == SKOPS:
        import skops.io as sio

        data_file = local / "model.skops"
        if not data_file.is_file():
            raise NbtError(f"{where} has no model.skops file; it was not stored by nbtoolkit.")
        data = data_file.read_bytes()  # audited and loaded from the same bytes
        trusted = checked_skops(data, tags.get(TAG_TRUSTED), where)
        for root in {t.split(".")[0] for t in trusted} & set(BOOSTING_MODULES):
            _require(root, where)
        return sio.loads(data, trusted=trusted)
    if flavor == "xgboost" and fmt == "ubj":
        cls, data_file = _booster_file(local, flavor, XGBOOST_CLASSES, where)
        model = cls()
        model.load_model(str(data_file))
        return model
    if flavor == "lightgbm" and fmt == "lgb":
        cls, data_file = _booster_file(local, flavor, LIGHTGBM_CLASSES, where)
        return cls(model_file=str(data_file))
    raise NbtError(f"{where} is stored as {flavor}/{fmt}, which this nbtoolkit cannot read; upgrade it.")


#: The classes a version in XGBoost's / LightGBM's own file may be rebuilt as. MLflow's loaders
#: import and call whatever class the ``MLmodel`` file names (and LightGBM's unpickles when it says
#: "cloudpickle"): nbtoolkit reads that file itself and accepts only these.
XGBOOST_CLASSES = frozenset({"xgboost.core.Booster", "xgboost.sklearn.XGBClassifier", "xgboost.sklearn.XGBRegressor",
                             "xgboost.sklearn.XGBRanker", "xgboost.sklearn.XGBRFClassifier",
                             "xgboost.sklearn.XGBRFRegressor"})
LIGHTGBM_CLASSES = frozenset({"lightgbm.basic.Booster"})


def _booster_file(local: Path, flavor: str, classes: frozenset[str], where: str) -> tuple[Any, Path]:
    """The class (from ``classes``) and model file a boosting flavor's ``MLmodel`` names."""
    import importlib

    import yaml

    from ..errors import IntegrityError

    try:
        conf = yaml.safe_load((local / "MLmodel").read_text())["flavors"][flavor]
        model_class, data = str(conf.get("model_class", "")), str(conf["data"])
    except Exception as exc:  # no MLmodel, not YAML, no such flavor
        raise IntegrityError(f"{where} has no readable {flavor} flavor in its MLmodel file "
                             f"({type(exc).__name__}); refusing to load it.") from None
    if model_class not in classes:
        raise IntegrityError(f"The MLmodel file of {where} names the class {model_class!r}, which nbtoolkit does "
                             f"not load as a {flavor} model (only {', '.join(sorted(classes))}); refusing to load it "
                             "(nothing from the file was run). Re-register the model from its source.")
    data_file = local / data
    if Path(data).name != data or data in {"MLmodel", ""} or not data_file.is_file():
        raise IntegrityError(f"The MLmodel file of {where} names the model file {data!r}, which is not a file "
                             "beside it; refusing to load it.")
    module, _, name = model_class.rpartition(".")
    return getattr(importlib.import_module(module), name), data_file


def _require(library: str, where: str) -> None:
    import importlib

    try:
        importlib.import_module(library)
    except ImportError:
        raise BadInput(f"{where} is a {library} model but {library} is not installed; install the "
                       f"extra: pip install 'nbtoolkit[{EXTRA}]'.") from None
