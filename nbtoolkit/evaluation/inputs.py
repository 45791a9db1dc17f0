"""Resolve the model and the data of an evaluation, predict once, check everything first.

``Predictions`` is what every evaluation step works on: the labels encoded once against the
model's classes (``pandas.Index.get_indexer``, hash-based, O(n)), one ``predict`` and one
``predict_proba`` call, reused by metrics, slices, suites, compare and threshold.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

from ..errors import BadInput


@dataclass
class Model:
    """A fitted estimator and, when it came from the registry, its ``NAME/VERSION``.

    ``inputs`` are the columns the model predicts on: the registered version's signature, else
    the estimator's ``feature_names_in_``, else unknown (None). ``exclude`` are columns that are
    never inputs when ``inputs`` is unknown (the slice columns of an evaluation).
    """

    estimator: Any
    ref: str | None
    label: str
    inputs: list[str] | None = None
    exclude: tuple[str, ...] = ()

    def input_frame(self, X: Any) -> Any:
        """The model's input columns of ``X``; a frame may carry more (metadata to slice by).

        Without known inputs, the ``exclude`` columns are dropped when the frame is wider than
        the model's ``n_features_in_`` (or that is unknown). Arrays are passed as they are.
        """
        import pandas as pd

        if not isinstance(X, pd.DataFrame):
            return X
        by_name = {str(c): c for c in X.columns}  # signatures name columns by strings
        columns = list(by_name)
        if self.inputs is not None:
            if columns == self.inputs:
                return X
            missing = [c for c in self.inputs if c not in by_name]
            if not missing:
                return X[[by_name[c] for c in self.inputs]]
            if len(columns) == len(self.inputs):  # other names, same width: let the model judge
                return X
            shown = ", ".join(repr(c) for c in missing[:8]) + (", ..." if len(missing) > 8 else "")
            raise BadInput(
                f"X lacks {len(missing)} of the {len(self.inputs)} input columns of {self.label}: {shown}; "
                "pass a frame with every column the model was registered with (other columns may be added)."
            )
        drop = [c for c in X.columns if str(c) in set(self.exclude)]
        width = getattr(self.estimator, "n_features_in_", None)
        if drop and (not isinstance(width, numbers.Integral) or len(columns) > width):
            return X.drop(columns=drop)
        return X

    @property
    def name(self) -> str | None:
        return self.ref.split("/")[0] if self.ref else None

    @property
    def version(self) -> str | None:
        return self.ref.split("/")[1] if self.ref else None


def resolve_model(model: Any, *, what: str = "model") -> Model:
    """A REF string (``NAME``, ``NAME/3``, ``NAME@alias``) is loaded; an estimator is used as is."""
    from ..refs import ModelRef

    if isinstance(model, (str, ModelRef)):
        from .. import registry

        # Evaluating needs scikit-learn (and so scipy) anyway: imported before MLflow, not after it.
        # skops' import names every scipy ufunc by scanning sys.modules in import order for the
        # first module holding it (pickle's whichmodule); with scipy behind MLflow's ~2,000
        # modules that scan costs ~0.5 s of a cold evaluate. The names found are the same
        # (tests/test_cold_start.py).
        import sklearn.base  # noqa: F401

        estimator = registry.load(model)
        ref = getattr(estimator, "_nbt_ref", None)
        return Model(estimator, ref, str(model) if ref is None or str(model) == ref else f"{model} ({ref})",
                     _inputs(estimator))
    if isinstance(model, type) or not hasattr(model, "predict"):
        given = model.__name__ if isinstance(model, type) else type(model).__name__
        raise BadInput(
            f"The {what} must be a registered model reference (NAME, NAME/3, NAME@alias) or a "
            f"fitted estimator with .predict, got {given}."
        )
    from ..registry.formats import check_fitted

    check_fitted(model, doing="evaluating")
    ref = getattr(model, "_nbt_ref", None)
    return Model(model, ref, ref or type(model).__name__, _inputs(model))


def _inputs(estimator: Any) -> list[str] | None:
    """The signature's columns (set by ``registry.load``), else ``feature_names_in_``."""
    inputs = getattr(estimator, "_nbt_inputs", None)
    return list(inputs) if inputs else feature_names(estimator)


def task_of(estimator: Any) -> str:
    """``"classification"`` or ``"regression"`` (the registry's :func:`task_of`, then classes_)."""
    from ..registry.formats import task_of as estimator_type

    task = estimator_type(estimator)
    if task == "classification" or hasattr(estimator, "classes_"):
        return "classification"
    if task == "regression":
        return "regression"
    raise BadInput(
        f"Cannot tell whether {type(estimator).__name__} is a classifier or a regressor; "
        "evaluate a scikit-learn classifier, regressor or a pipeline ending in one."
    )


def check_X(X: Any) -> Any:
    """A DataFrame or 2-D array; lists become arrays. Never copies a frame."""
    import numpy as np
    import pandas as pd

    if isinstance(X, (pd.DataFrame, np.ndarray)):
        data = X
    elif isinstance(X, pd.Series):
        data = X.to_frame()
    elif isinstance(X, (list, tuple)):
        data = np.asarray(X)
    else:
        raise BadInput(f"X must be a pandas DataFrame or a 2-D array, got {type(X).__name__}.")
    if data.ndim != 2:
        raise BadInput(f"X must be 2-dimensional, got shape {data.shape!r}; use X.reshape(-1, 1) for one feature.")
    if len(data) == 0:
        raise BadInput("X is empty (0 rows); pass the rows to evaluate on.")
    if isinstance(data, pd.DataFrame):
        from ..contract import check_unique_columns

        check_unique_columns(data, "X")
    return data


def check_y(y: Any, n: int) -> Any:
    """``y`` as a 1-D numpy array of length ``n`` without missing labels."""
    import numpy as np
    import pandas as pd

    if isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise BadInput(f"y must be one column, got a DataFrame with {y.shape[1]} columns.")
        y = y.iloc[:, 0]
    arr = y.to_numpy() if isinstance(y, (pd.Series, pd.Index)) else np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise BadInput(f"y must be 1-dimensional (one label per row), got shape {arr.shape!r}.")
    if len(arr) != n:
        raise BadInput(f"X has {n} rows but y has {len(arr)}; pass labels for exactly the rows of X.")
    missing = int(pd.isna(arr).sum()) if arr.dtype.kind in "fOcMm" else 0
    if missing:
        raise BadInput(f"y has {missing} missing labels (NaN/None); drop those rows from X and y first.")
    return arr


@dataclass
class Predictions:
    """One model's predictions on ``X`` with the truth, encoded once."""

    task: str
    y_true: Any                 # original labels / targets (numpy)
    y_pred: Any                 # predicted labels / values (numpy)
    classes: Any = None         # model.classes_ (classification)
    true_codes: Any = None      # int index into classes
    pred_codes: Any = None
    proba: Any = None           # (n, k) predict_proba, or None

    @property
    def n(self) -> int:
        return len(self.y_true)

    @property
    def has_proba(self) -> bool:
        return self.proba is not None

    @property
    def correct(self) -> Any:
        return self.true_codes == self.pred_codes

    @property
    def confidence(self) -> Any:
        return self.proba.max(axis=1)

    def take(self, rows: Any) -> Predictions:
        """The predictions on a subset (boolean mask or positions), without predicting again."""
        def pick(a: Any) -> Any:
            return None if a is None else a[rows]

        return Predictions(self.task, pick(self.y_true), pick(self.y_pred), self.classes,
                           pick(self.true_codes), pick(self.pred_codes), pick(self.proba))


def predict(model: Model, X: Any, y: Any, *, need_proba: bool = False, want_proba: bool = True) -> Predictions:
    """Check ``y`` against the model, then call ``predict`` (and ``predict_proba``) once each."""
    import numpy as np
    import pandas as pd

    est = model.estimator
    X = check_X(X)
    y = check_y(y, len(X))
    task = task_of(est)
    has_proba = task == "classification" and hasattr(est, "predict_proba")
    if need_proba and not has_proba:
        raise BadInput(
            f"{model.label} ({type(est).__name__}) has no predict_proba, so it gives no confidence; "
            "use a probabilistic classifier (e.g. LogisticRegression, or wrap it in "
            "CalibratedClassifierCV)."
        )
    if task == "classification":
        classes = np.asarray(est.classes_)
        index = pd.Index(classes)
        true_codes = index.get_indexer(y)
        unseen = true_codes < 0
        if unseen.any():
            bad = pd.unique(y[unseen])
            shown = ", ".join(repr(_py(v)) for v in bad[:5]) + (", ..." if len(bad) > 5 else "")
            raise BadInput(
                f"y has labels the model never saw: {shown} ({int(unseen.sum())} rows); "
                f"{model.label} knows {', '.join(repr(c) for c in classes.tolist()[:12])}"
                f"{f' and {len(classes) - 12} more' if len(classes) > 12 else ''}. "
                "Drop those rows or retrain with them."
            )
    elif y.dtype.kind not in "iufb":
        raise BadInput(
            f"{model.label} is a regressor but y is not numeric (dtype {y.dtype}); pass numeric targets."
        )
    X = model.input_frame(X)
    y_pred = np.asarray(_call(model, "predict", X))
    if len(y_pred) != len(y):
        raise BadInput(f"{model.label} returned {len(y_pred)} predictions for {len(y)} rows.")
    if task == "regression":
        return Predictions(task, y.astype("float64", copy=False), y_pred.astype("float64", copy=False))
    proba = np.asarray(_call(model, "predict_proba", X), dtype="float64") if has_proba and (
        want_proba or need_proba) else None
    pred_codes = index.get_indexer(y_pred)
    if (pred_codes < 0).any():
        raise BadInput(f"{model.label} predicted labels outside its classes_ "
                       f"({_py(y_pred[pred_codes < 0][0])!r}); its predict and classes_ disagree.")
    return Predictions(task, y, y_pred, classes, true_codes, pred_codes, proba)


def _call(model: Model, method: str, X: Any) -> Any:
    try:
        return getattr(model.estimator, method)(X)
    except Exception as exc:
        if isinstance(exc, (KeyboardInterrupt, MemoryError)):
            raise
        first = str(exc).splitlines()[0][:240] if str(exc) else ""
        raise BadInput(
            f"{model.label} cannot {method} on X ({type(exc).__name__}: {first}); pass data with "
            "the columns and types it was trained on."
        ) from None


def feature_names(estimator: Any) -> list[str] | None:
    names = getattr(estimator, "feature_names_in_", None)
    return [str(n) for n in names] if names is not None else None


def _py(value: Any) -> Any:
    """A numpy scalar as a plain Python value (for messages and JSON)."""
    return value.item() if hasattr(value, "item") else value
