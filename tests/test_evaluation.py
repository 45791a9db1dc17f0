"""evaluate: metrics equal scikit-learn's, slices, plots, bad input (in-memory models)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.svm import LinearSVC

from nbtoolkit.errors import BadInput, NotFitted
from nbtoolkit.evaluation import evaluate


@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=600), "b": rng.normal(size=600),
                      "channel": rng.choice(["email", "chat", "phone"], size=600),
                      "age": rng.integers(18, 80, size=600)})
    y = np.where(X["a"] + 0.5 * rng.normal(size=600) > 0, "yes", "no")
    model = LogisticRegression().fit(X[["a", "b"]], y)
    return X[["a", "b"]].assign(channel=X["channel"], age=X["age"]), y, model


@pytest.fixture(scope="module")
def binary_model(binary):
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline

    X, y, _ = binary
    ct = ColumnTransformer([("num", "passthrough", ["a", "b"])])
    return make_pipeline(ct, LogisticRegression()).fit(X, y)


def test_multiclass_metrics_equal_sklearn(iris, iris_model):
    X, y = iris
    r = evaluate(iris_model, X, y)
    pred, proba = iris_model.predict(X), iris_model.predict_proba(X)
    assert r.task == "classification" and r.n == 150
    assert r.metrics["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert r.metrics["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    for avg in ("precision", "recall", "f1"):
        fn = getattr(skm, f"{avg}_score" if avg != "f1" else "f1_score")
        assert r.metrics[f"{avg}_macro"] == pytest.approx(fn(y, pred, average="macro"))
    assert r.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr"))
    assert r.metrics["log_loss"] == pytest.approx(skm.log_loss(y, proba))
    assert r.metrics["brier"] == pytest.approx(skm.brier_score_loss(y, proba, labels=[0, 1, 2]))
    np.testing.assert_array_equal(r.confusion, skm.confusion_matrix(y, pred))
    p, rc, f, s = skm.precision_recall_fscore_support(y, pred)
    assert [c["precision"] for c in r.per_class] == pytest.approx(p)
    assert [c["recall"] for c in r.per_class] == pytest.approx(rc)
    assert [c["f1"] for c in r.per_class] == pytest.approx(f)
    assert [c["support"] for c in r.per_class] == list(s)


def test_binary_metrics_with_string_labels(binary, binary_model):
    X, y, _ = binary
    r = evaluate(binary_model, X, y)
    pred, proba = binary_model.predict(X), binary_model.predict_proba(X)[:, 1]
    assert r.metrics["precision"] == pytest.approx(skm.precision_score(y, pred, pos_label="yes"))
    assert r.metrics["recall"] == pytest.approx(skm.recall_score(y, pred, pos_label="yes"))
    assert r.metrics["f1"] == pytest.approx(skm.f1_score(y, pred, pos_label="yes"))
    assert r.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(y == "yes", proba))
    assert r.metrics["brier"] == pytest.approx(skm.brier_score_loss(y, proba, pos_label="yes"))
    assert r.metrics["log_loss"] == pytest.approx(skm.log_loss(y, binary_model.predict_proba(X)))


def test_macro_averages_match_sklearn_when_a_class_is_absent(iris, iris_model):
    X, y = iris
    keep = (y != 0).to_numpy()  # class 0 absent from y (and from predictions)
    r = evaluate(iris_model, X[keep], y[keep])
    pred = iris_model.predict(X[keep])
    assert r.metrics["f1_macro"] == pytest.approx(skm.f1_score(y[keep], pred, average="macro"))
    assert r.metrics["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y[keep], pred))
    assert r.metrics["roc_auc"] is None  # undefined when a class never occurs


def test_classifier_without_proba(binary):
    X, y, _ = binary
    svc = LinearSVC().fit(X[["a", "b"]], y)
    r = evaluate(svc, X[["a", "b"]], y)
    assert "roc_auc" not in r.metrics and "accuracy" in r.metrics
    with pytest.raises(BadInput, match="needs predicted probabilities"):
        evaluate(svc, X[["a", "b"]], y, metrics=["roc_auc"])


def test_regression_metrics_equal_sklearn():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.uniform(1, 10, 400), "z": rng.normal(size=400)})
    y = 3 * X["x"] + rng.normal(size=400) + 5
    model = LinearRegression().fit(X, y)
    r = evaluate(model, X, y, slices=["x"])
    pred = model.predict(X)
    assert r.task == "regression"
    assert r.metrics["mae"] == pytest.approx(skm.mean_absolute_error(y, pred))
    assert r.metrics["rmse"] == pytest.approx(skm.root_mean_squared_error(y, pred))
    assert r.metrics["r2"] == pytest.approx(skm.r2_score(y, pred))
    assert r.metrics["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y, pred))
    frame = r.slices_frame()
    assert len(frame) == 4 and frame["n"].sum() == 400  # quartile bins of a many-valued number
    worst = frame[frame["worst"]]
    assert len(worst) == 1 and worst["rmse"].iloc[0] == frame["rmse"].max()
    fig = r.plot()  # residuals
    assert len(fig.axes) == 2
    with pytest.raises(BadInput, match="No 'roc' plot for a regression"):
        r.plot("roc")


def test_slices_match_direct_computation(binary, binary_model):
    X, y, _ = binary
    r = evaluate(binary_model, X, y, slices=["channel", "age"])
    frame = r.slices_frame()
    pred = binary_model.predict(X)
    for value in ("chat", "email", "phone"):
        row = frame[(frame["column"] == "channel") & (frame["value"] == value)].iloc[0]
        mask = (X["channel"] == value).to_numpy()
        assert row["n"] == mask.sum()
        assert row["accuracy"] == pytest.approx(skm.accuracy_score(y[mask], pred[mask]))
        assert row["f1_macro"] == pytest.approx(skm.f1_score(y[mask], pred[mask], average="macro"))
    chan = frame[frame["column"] == "channel"]
    assert chan.loc[chan["worst"], "accuracy"].iloc[0] == chan["accuracy"].min()
    assert (frame[frame["column"] == "age"]["n"].sum()) == len(X)
    assert "worst channel=" in r.summary()
    html = r._repr_html_()
    assert "Per slice" in html and html.count('class="nbt-bad"') == len(frame.groupby("column"))  # worst per column
    assert r.to_dict()["slices"][0]["column"] == "channel"


def test_plots_are_figures_built_on_demand(binary, binary_model):
    from matplotlib.figure import Figure

    X, y, _ = binary
    r = evaluate(binary_model, X, y, slices=["channel"])
    for kind in ("confusion", "roc", "pr", "calibration", "slices"):
        fig = r.plot(kind)
        assert isinstance(fig, Figure) and fig.axes, kind


def test_loggable_metrics_include_worst_slice(binary, binary_model):
    X, y, _ = binary
    r = evaluate(binary_model, X, y, slices=["channel"])
    logged = r.loggable_metrics()
    assert logged["worst_slice_accuracy"] == pytest.approx(r.slices_frame()["accuracy"].min())
    assert logged["accuracy"] == r.metrics["accuracy"]


@pytest.mark.parametrize("case, message", [
    ("short_y", "X has 600 rows but y has 599"),
    ("unseen", "labels the model never saw: 'maybe'"),
    ("regressor_roc", "'roc_auc' is a classification metric but"),
    ("one_value_slice", "has a single value"),
    ("unknown_slice", "is not a column of X"),
    ("unknown_metric", "Unknown metric 'acuracy'. Did you mean 'accuracy'"),
    ("wrong_columns", r"X lacks 1 of the 4 input columns of Pipeline: 'a'; pass a frame with every column"),
    ("renamed_columns", "cannot predict on X"),
    ("nan_labels", "missing labels"),
    ("empty", "X is empty"),
])
def test_bad_input_one_sentence(binary, binary_model, case, message):
    X, y, _ = binary
    kwargs: dict = {}
    model = binary_model
    if case == "short_y":
        y = y[:-1]
    elif case == "unseen":
        y = y.astype(object)
        y[3] = "maybe"
    elif case == "regressor_roc":
        model = LinearRegression().fit(X[["a", "b"]], X["a"])
        X, y, kwargs = X[["a", "b"]], X["a"], {"metrics": ["roc_auc"]}
    elif case == "one_value_slice":
        X = X.assign(const="x")
        kwargs = {"slices": ["const"]}
    elif case == "unknown_slice":
        kwargs = {"slices": ["chanel"]}
    elif case == "unknown_metric":
        kwargs = {"metrics": ["acuracy"]}
    elif case == "wrong_columns":
        X = X.drop(columns=["a"])
    elif case == "renamed_columns":  # as wide as the model's inputs: the model judges the names
        X = X.rename(columns={"a": "A"})
    elif case == "nan_labels":
        y = pd.Series(y).where(np.arange(len(y)) > 2)
    elif case == "empty":
        X, y = X.iloc[:0], y[:0]
    with pytest.raises(BadInput, match=message) as info:
        evaluate(model, X, y, **kwargs)
    assert "\n" not in str(info.value)


def test_unfitted_and_non_models(binary):
    X, y, _ = binary
    with pytest.raises(NotFitted, match="not fitted yet"):
        evaluate(LogisticRegression(), X, y)
    with pytest.raises(BadInput, match="fitted estimator"):
        evaluate(42, X, y)


def test_log_needs_a_registered_version(binary, binary_model):
    X, y, _ = binary
    with pytest.raises(BadInput, match="not one; pass a REF"):
        evaluate(binary_model, X, y, log=True)


def test_results_are_json_safe(binary, binary_model, tmp_path):
    import json

    from nbtoolkit.evaluation import compare, threshold

    X, y, _ = binary
    suite = {"cases": [{"name": "chat", "query": "channel == 'chat'", "expect": {"accuracy": 0.5}}]}
    reports = [evaluate(binary_model, X, y, slices=["channel", "age"], suite=suite),
               compare(binary_model, binary_model, X, y), threshold(binary_model, X, y, target_accuracy=0.9)]
    for r in reports:
        text = json.dumps(r.to_dict())  # no default=str: plain Python values only
        assert json.loads(text) and str(r) and r._repr_html_() and len(r.to_frame())
