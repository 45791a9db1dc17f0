"""Any model a data scientist fits registers safely and loads back predicting the same.

The sweep takes every classifier and regressor of ``sklearn.utils.all_estimators()`` that fits
with default parameters, the meta-estimators that need a base estimator, Pipelines and
ColumnTransformers, HistGradientBoosting on a pandas ``category`` column, and XGBoost / LightGBM
(scikit-learn API and native Boosters); each is
registered with its training data in one shared store, loaded back through nbtoolkit, and must
predict identically (labels equal; regression values and probabilities equal to 1e-9 relative:
even a pickle round trip moves BLAS results in the 14th digit).
"""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np
import pytest

import nbtoolkit as nbt
from nbtoolkit import registry
from nbtoolkit.contract import fingerprint
from nbtoolkit.errors import BadInput, IntegrityError, NbtError


# --------------------------------------------------------------------------------- the sweep
def _data():
    from sklearn.datasets import load_diabetes, load_iris

    Xc, yc = load_iris(return_X_y=True, as_frame=True)
    Xc.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    Xr, yr = load_diabetes(return_X_y=True, as_frame=True)
    return (Xc, yc), (Xr.head(150).reset_index(drop=True), yr.head(150).reset_index(drop=True))


def _sweep_models():
    """(id, factory, kind) for every model of the sweep; factories build unfitted models."""
    from sklearn.utils import all_estimators

    out = []
    for kind in ("classifier", "regressor"):
        for name, cls in all_estimators(type_filter=kind):
            out.append((name, cls, kind))
    return out


def _extra_models():
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import (HistGradientBoostingClassifier, HistGradientBoostingRegressor, RandomForestClassifier,
                                  StackingClassifier, StackingRegressor, VotingClassifier)
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import KBinsDiscretizer, StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    def ct():
        return ColumnTransformer([("scale", StandardScaler(), ["sepal_length", "sepal_width"]),
                                  ("bins", KBinsDiscretizer(n_bins=3, quantile_method="averaged_inverted_cdf"),
                                   ["petal_length", "petal_width"])])

    models = [
        ("Pipeline(Scaler,RandomForest)", lambda: make_pipeline(StandardScaler(), RandomForestClassifier(10)), "classifier"),
        ("Pipeline(ColumnTransformer,MLP)", lambda: make_pipeline(ct(), _mlp()), "classifier"),
        ("OneVsRest(DecisionTree)", lambda: OneVsRestClassifier(DecisionTreeClassifier()), "classifier"),
        ("Stacking(Tree,LogReg)", lambda: StackingClassifier([("t", DecisionTreeClassifier())],
                                                              final_estimator=LogisticRegression(max_iter=500)), "classifier"),
        ("Voting(Tree,RF)", lambda: VotingClassifier([("t", DecisionTreeClassifier()),
                                                      ("f", RandomForestClassifier(5))], voting="soft"), "classifier"),
        ("StackingRegressor(KNN,Ridge)", lambda: StackingRegressor([("k", KNeighborsRegressor())],
                                                                   final_estimator=Ridge()), "regressor"),
    ]
    xgb = pytest.importorskip("xgboost")
    lgb = pytest.importorskip("lightgbm")
    models += [
        ("XGBClassifier", lambda: xgb.XGBClassifier(n_estimators=10), "classifier"),
        ("XGBRegressor", lambda: xgb.XGBRegressor(n_estimators=10), "regressor"),
        ("xgboost.Booster", lambda: "xgb-booster", "regressor"),
        ("LGBMClassifier", lambda: lgb.LGBMClassifier(n_estimators=10, verbose=-1), "classifier"),
        ("LGBMRegressor", lambda: lgb.LGBMRegressor(n_estimators=10, verbose=-1), "regressor"),
        ("lightgbm.Booster", lambda: "lgb-booster", "regressor"),
        ("Pipeline(Scaler,XGBClassifier)", lambda: make_pipeline(StandardScaler(), xgb.XGBClassifier(n_estimators=5)),
         "classifier"),
        # categorical_features="from_dtype" (the default) on a pandas `category` column
        ("HistGradientBoostingClassifier(category)", lambda: HistGradientBoostingClassifier(max_iter=10), "category"),
        ("HistGradientBoostingRegressor(category)", lambda: HistGradientBoostingRegressor(max_iter=10),
         "category regressor"),
    ]
    return models


def _category_data(kind: str):
    """A frame with a pandas ``category`` column (and its target) for HistGradientBoosting."""
    import pandas as pd

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"amount": rng.normal(size=150), "plan": pd.Categorical(rng.choice(["free", "pro", "team"], 150))})
    y = (X["amount"] > 0).astype(int) if kind == "category" else X["amount"] * 2 + (X["plan"] == "pro")
    return X, y


def _mlp():
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(max_iter=50)


def _fit(factory, X, y):
    model = factory()
    if model == "xgb-booster":
        import xgboost as xgb

        return xgb.train({"verbosity": 0}, xgb.DMatrix(X, y), 5)
    if model == "lgb-booster":
        import lightgbm as lgb

        return lgb.train({"verbose": -1, "min_data_in_leaf": 5}, lgb.Dataset(X, y), 5)
    return model.fit(X, y)


def _predictions(model, X):
    if type(model).__name__ == "Booster" and type(model).__module__.startswith("xgboost"):
        import xgboost as xgb

        return {"predict": model.predict(xgb.DMatrix(X))}
    out = {"predict": np.asarray(model.predict(X))}
    if hasattr(model, "predict_proba"):
        try:
            out["proba"] = np.asarray(model.predict_proba(X))
        except Exception:  # e.g. SVC without probability=True: not part of the contract
            pass
    return out


def _same(a, b) -> bool:
    if a.dtype.kind in "fc":
        return a.shape == b.shape and np.allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True)
    return np.array_equal(a, b)


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory, _empty_mlflow_db):
    """One store for the whole sweep (registering ~100 models into one database, as a user would)."""
    import shutil

    home = tmp_path_factory.mktemp("sweep") / "nbt-home"
    home.mkdir()
    shutil.copy(_empty_mlflow_db, home / "mlflow.db")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NBT_HOME", str(home))
        for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "NBT_EXPERIMENT"):
            mp.delenv(var, raising=False)
        mp.chdir(home.parent)
        yield home


@pytest.mark.slow
@pytest.mark.parametrize("part", ["classifier", "regressor", "composite and boosting"])
def test_every_estimator_registers_and_loads_identically(shared_home, part):
    """In three parts, so that two test workers share the sweep."""
    (Xc, yc), (Xr, yr) = _data()
    fitted, skipped = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, cls, kind in _sweep_models() if part != "composite and boosting" else []:
            if kind != part:
                continue
            X, y = (Xc, yc) if kind == "classifier" else (Xr, yr)
            try:
                fitted.append((name, cls().fit(X, y), X, y))
            except Exception as exc:  # needs a required argument, or multi-output targets
                skipped.append((name, type(exc).__name__))
        for name, factory, kind in _extra_models() if part == "composite and boosting" else []:
            X, y = (Xc, yc) if kind == "classifier" else (Xr, yr) if kind == "regressor" else _category_data(kind)
            fitted.append((name, _fit(factory, X, y), X, y))

        failures = []
        for i, (name, model, X, y) in enumerate(fitted):
            try:
                v = nbt.register(model, f"sweep-{part[:4]}-{i}", X=X, y=y)
                loaded = nbt.load(f"sweep-{part[:4]}-{i}/{v.version}")
                before, after = _predictions(model, X), _predictions(loaded, X)
                if before.keys() != after.keys() or not all(_same(before[k], after[k]) for k in before):
                    failures.append((name, "predictions differ"))
            except Exception as exc:
                failures.append((name, f"{type(exc).__name__}: {str(exc)[:150]}"))
    print(f"\nsweep ({part}): {len(fitted) - len(failures)}/{len(fitted)} models registered, loaded and "
          f"predicted identically; {len(skipped)} all_estimators() entries do not fit with defaults: "
          f"{', '.join(n for n, _ in skipped)}")
    assert not failures, failures
    # the sweep really covered the kinds users hit first, and the estimators that fit by default
    names = {n for n, *_ in fitted}
    expected = {"classifier": ({"RandomForestClassifier", "HistGradientBoostingClassifier", "KNeighborsClassifier",
                                "GaussianProcessClassifier", "MLPClassifier", "AdaBoostClassifier"}, 30),
                "regressor": ({"GradientBoostingRegressor", "MLPRegressor", "TweedieRegressor",
                               "BaggingRegressor", "KNeighborsRegressor"}, 40),
                "composite and boosting": ({"XGBClassifier", "LGBMRegressor", "xgboost.Booster",
                                            "HistGradientBoostingClassifier(category)",
                                            "HistGradientBoostingRegressor(category)"}, 15)}[part]
    assert expected[0] <= names and len(fitted) >= expected[1]


# --------------------------------------------------------------------------------- formats
def _nothing_written(home) -> None:
    """No run (deleted ones included), no logged model, no version, no artefact file."""
    import mlflow
    from mlflow.entities import ViewType

    c = mlflow.MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    exps = [e.experiment_id for e in c.search_experiments(view_type=ViewType.ALL)]
    assert c.search_runs(exps, run_view_type=ViewType.ALL) == []
    assert c.search_logged_models(exps) == []
    assert c.search_model_versions() == []
    art = home / "artifacts"
    assert not art.exists() or not any(p.is_file() for p in art.rglob("*"))


def test_recorded_trust_list_and_plain_mlflow(nbt_home, iris):
    from sklearn.ensemble import RandomForestClassifier

    X, y = iris
    rf = RandomForestClassifier(10, random_state=0).fit(X, y)
    v = nbt.register(rf, "forest", X=X, y=y)
    assert json.loads(v.tags[registry.TAG_TRUSTED]) == ["sklearn.tree._tree.Tree"]
    assert v.tags[registry.TAG_FORMAT] == "skops" and registry.TAG_UNSAFE not in v.tags
    import mlflow.pyfunc

    served = mlflow.pyfunc.load_model("models:/forest/1")  # plain MLflow reads what we wrote
    assert np.array_equal(served.predict(X), rf.predict(X))


def test_a_changed_trust_list_or_file_is_refused_before_skops_reads(nbt_home, iris):
    from sklearn.ensemble import RandomForestClassifier

    X, y = iris
    nbt.register(RandomForestClassifier(5).fit(X, y), "forest")
    registry.set_version_tag("forest/1", registry.TAG_TRUSTED, json.dumps(["builtins.eval"]))
    with pytest.raises(IntegrityError, match="holds the type 'sklearn.tree._tree.Tree', unlike the trusted types"):
        nbt.load("forest/1")
    registry.set_version_tag("forest/1", registry.TAG_TRUSTED, json.dumps(["sklearn.tree._tree.Tree"]))
    stored = next((nbt_home / "artifacts").rglob("model.skops"))
    stored.write_bytes(stored.read_bytes() + b"\0")
    with pytest.raises(IntegrityError, match="changed since registration"):
        nbt.load("forest/1")


class Custom:  # a user's own estimator class
    def fit(self, X, y):
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


def _custom_sklearn():
    from sklearn.base import BaseEstimator, RegressorMixin

    class Shrunk(RegressorMixin, BaseEstimator):
        def fit(self, X, y):
            self.mean_ = float(np.mean(y)) * 0.5
            return self

        def predict(self, X):
            return np.full(len(X), self.mean_)

    return Shrunk


def test_untrusted_custom_type_refused_naming_it_and_the_way_out(nbt_home, iris):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = iris
    model = make_pipeline(StandardScaler(), _custom_sklearn()()).fit(X, y)
    with pytest.raises(BadInput) as err:
        nbt.register(model, "mine", X=X, y=y)
    msg = str(err.value)
    assert "Shrunk" in msg and "cloudpickle" in msg and "\n" not in msg
    with pytest.raises(BadInput, match="cloudpickle"):
        nbt.register(Custom().fit(X, y), "mine")
    _nothing_written(nbt_home)


def test_cloudpickle_by_choice_tagged_unsafe_and_warned_once(nbt_home, iris, monkeypatch):
    monkeypatch.setattr("nbtoolkit.registry.readers._WARNED", set())
    X, y = iris
    model = Custom().fit(X, y)
    v = nbt.register(model, "mine", X=X, y=y, serialization="cloudpickle")
    assert v.tags[registry.TAG_UNSAFE] == "true" and v.tags[registry.TAG_FORMAT] == "cloudpickle"
    with pytest.raises(IntegrityError, match="NBT_ALLOW_UNSAFE=1") as refused:  # not without being asked
        nbt.load("mine/1")
    assert "\n" not in str(refused.value)
    with pytest.warns(nbt.registry.formats.UnsafeModelWarning, match="mine/1 is stored with cloudpickle"):
        loaded = nbt.load("mine/1", allow_unsafe=True)
    assert np.array_equal(loaded.predict(X), model.predict(X))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        nbt.load("mine/1", allow_unsafe=True)
        monkeypatch.setenv("NBT_ALLOW_UNSAFE", "1")  # the same, for every load path (evaluate, serve...)
        nbt.load("mine/1")
    assert not [w for w in seen if issubclass(w.category, nbt.registry.formats.UnsafeModelWarning)]


def test_python_model_needs_cloudpickle_and_then_works(nbt_home, iris, monkeypatch):
    monkeypatch.setattr("nbtoolkit.registry.readers._WARNED", set())
    import mlflow.pyfunc

    class Doubler(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input["sepal_length"] * 2

    X, _ = iris
    with pytest.raises(BadInput, match="--format cloudpickle"):
        nbt.register(Doubler(), "doubler", X=X)
    nbt.register(Doubler(), "doubler", X=X, serialization="cloudpickle")
    with pytest.warns(nbt.registry.formats.UnsafeModelWarning):
        loaded = nbt.load("doubler", allow_unsafe=True)
    assert np.allclose(loaded.predict(X.head(3)), X["sepal_length"].head(3) * 2)


def test_boosting_library_missing_at_load_names_the_extra(nbt_home, iris, monkeypatch):
    xgb = pytest.importorskip("xgboost")
    X, y = iris
    nbt.register(xgb.XGBClassifier(n_estimators=3).fit(X, y), "boosted")
    monkeypatch.setitem(sys.modules, "xgboost", None)  # as in an environment without the extra
    with pytest.raises(BadInput, match=r"nbtoolkit\[boost\]"):
        nbt.load("boosted")


@pytest.mark.parametrize("line, expected", [
    ("register clf --name m --format pickle", "invalid choice"),
    ("register clf --name m --metric a!b=1", "Invalid metric name 'a!b'"),
    ("register clf --name m --tag 'bad key!=1'", "Invalid tag name"),
    ("register clf --name m --data Xbad", "cannot predict on X"),
])
def test_bad_register_input_one_line_nothing_written(ip, nbt_home, iris, iris_model, line, expected):
    from IPython.core.error import UsageError

    X, y = iris
    ip.push({"clf": iris_model, "Xbad": X.iloc[:, :2]})
    with pytest.raises(UsageError) as err:
        ip.run_line_magic("nbt", line)
    assert expected in str(err.value) and "\n" not in str(err.value)
    _nothing_written(nbt_home)


def test_a_failure_after_the_first_write_is_undone(nbt_home, iris, monkeypatch):
    import mlflow
    from sklearn.ensemble import RandomForestClassifier

    X, y = iris

    def broken(*args, **kwargs):
        raise RuntimeError("registry went away")

    monkeypatch.setattr(mlflow, "register_model", broken)
    with pytest.raises(NbtError, match="nothing was written") as err:
        nbt.register(RandomForestClassifier(5).fit(X, y), "forest", X=X, y=y, metrics={"cv": 0.9})
    assert "registry went away" in str(err.value)
    assert mlflow.active_run() is None
    _nothing_written(nbt_home)


# --------------------------------------------------------------------------------- the story
def test_version_story_params_datasets_metric_sources_and_gates(ip, nbt_home, iris):
    from IPython.core.error import UsageError
    from sklearn.ensemble import RandomForestClassifier

    X, y = iris
    rf = RandomForestClassifier(n_estimators=7, max_depth=3, random_state=0).fit(X, y)
    ip.push({"rf": rf, "X": X, "y": y, "X_test": X.tail(50), "y_test": y.tail(50)})
    ip.run_line_magic("nbt", "register rf --name forest --data X y --metric accuracy=0.5")
    ip.run_line_magic("nbt", "evaluate forest/1 X_test y_test --log --dataset holdout")
    lin = nbt.lineage("forest/1")
    assert lin.params["n_estimators"] == "7" and lin.params["max_depth"] == "3"
    assert lin.metrics["accuracy"] == 0.5  # as given at registration, never overwritten
    assert lin.metric_sources["accuracy"] == "given at registration"
    assert lin.metric_sources["holdout.accuracy"] == "evaluate on holdout"
    contexts = {d["context"]: d for d in lin.datasets}
    assert contexts["training"]["digest"] == fingerprint(X, y)[:36]
    assert contexts["evaluation"]["name"] == "holdout"
    assert contexts["evaluation"]["digest"] == fingerprint(X.tail(50), y.tail(50))[:36]
    frame = lin.to_frame()
    assert "dataset.evaluation" in set(frame["field"])

    # MLflow 3's logged model carries the metrics, the evaluation one tied to its dataset
    import mlflow

    mv = registry.resolve("forest/1")
    logged = mlflow.MlflowClient().get_logged_model(registry.lookup.logged_model_id(mv))
    by_key = {m.key: m for m in logged.metrics}
    assert by_key["holdout.accuracy"].dataset_name == "holdout"
    assert "accuracy" in by_key

    with pytest.raises(UsageError, match="ambiguous.*accuracy, holdout.accuracy"):
        ip.run_line_magic("nbt", "promote forest 1 --alias champion --require accuracy>=0.1")
    r = ip.run_line_magic("nbt", "promote forest 1 --alias champion --require holdout.accuracy>=0.1")
    assert r.version == "1" and r.gates[0]["passed"] and r.gates[0]["gate"].startswith("holdout.accuracy")


def test_track_register_links_the_version_to_the_training_run(ip, nbt_home, iris):
    import mlflow

    X, y = iris
    ip.push({"X": X, "y": y})
    cell = ("from sklearn.ensemble import RandomForestClassifier\n"
            "forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)\n")
    tracked = ip.run_cell_magic("nbt", "track --name fit-forest --register forest --data X y", cell)
    assert tracked.registered is not None and tracked.status == "FINISHED"
    mv = registry.resolve("forest/1")
    assert mv.tags[registry.TAG_TRAINING_RUN] == tracked.run_id
    run = mlflow.MlflowClient().get_run(mv.run_id)
    assert run.data.tags["mlflow.parentRunId"] == tracked.run_id  # registered inside that run
    assert nbt.lineage("forest/1").training_run == tracked.run_id


def test_a_resolved_version_is_loaded_as_is_and_its_mlmodel_gives_the_served_columns(nbt_home, iris, iris_model):
    """nbt serve's swap hands the version it resolved to the loader (no second lookup by a
    NAME/VERSION string) and takes the request columns from the MLmodel the loader read."""
    from nbtoolkit.registry.loading import load_version
    from nbtoolkit.serving.protocol import signature_columns
    from nbtoolkit.serving.swap import ModelSet

    X, y = iris
    nbt.register(iris_model, name="iris", X=X, y=y)
    mv = registry.resolve("iris/1")
    loaded = load_version(mv)
    assert loaded.model._nbt_inputs == list(X.columns) and loaded.model._nbt_ref == "iris/1"
    columns = signature_columns(loaded.inputs)
    assert [c.name for c in columns] == list(X.columns) and {c.type for c in columns} == {"double"}
    served = ModelSet("iris")._load("champion", mv)
    assert served.version == "1" and served.signature == columns
    np.testing.assert_array_equal(served.model.predict(X), iris_model.predict(X))
    assert signature_columns(None) is None and signature_columns([{"type": "double"}]) is None
