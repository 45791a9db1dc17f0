"""Registry API on a real SQLite MLflow store in a temp folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import nbtoolkit as nbt
from nbtoolkit import registry
from nbtoolkit.contract import fingerprint
from nbtoolkit.errors import BadInput, GateFailed, IntegrityError, ModelNotFound, NotFitted


def _n_versions(name: str) -> int:
    try:
        return len(registry.versions(name))
    except ModelNotFound:
        return 0


def test_register_stores_everything(nbt_home, iris, iris_model):
    X, y = iris
    v = nbt.register(iris_model, "iris", X=X, y=y, metrics={"accuracy": 0.97},
                     params={"C": 1.0}, tags={"team": "a"}, alias="champion")
    assert v.version == "1" or str(v.version) == "1"
    tags = v.tags
    assert len(tags[registry.TAG_SHA]) == 64
    assert tags[registry.TAG_FINGERPRINT] == fingerprint(X, y)
    assert tags["team"] == "a"
    lin = nbt.lineage("iris@champion")
    assert lin.metrics == {"accuracy": 0.97}
    assert lin.params["C"] == "1.0"  # given, and the hyperparameters (get_params) beside it
    assert lin.params["max_iter"] == "500"
    assert set(lin.schema["columns"]) == set(X.columns)
    assert lin.schema["columns"]["sepal_length"]["kind"] == "numeric"
    # stored inside the configured home, not in the cwd
    assert (nbt_home / "mlflow.db").exists()
    assert any((nbt_home / "artifacts").rglob("model.skops"))


def test_fingerprint_changes_with_data(iris):
    X, y = iris
    a = fingerprint(X, y)
    X2 = X.copy()
    X2.iloc[0, 0] += 0.1
    assert fingerprint(X2, y) != a
    assert fingerprint(X, y) == a


def test_plain_mlflow_loads_registered_model(nbt_home, iris, iris_model):
    import mlflow

    X, y = iris
    nbt.register(iris_model, "iris", X=X, y=y, alias="champion")
    mlflow.set_tracking_uri(f"sqlite:///{nbt_home / 'mlflow.db'}")
    pyfunc = mlflow.pyfunc.load_model("models:/iris@champion")
    assert list(pyfunc.predict(X.head(5))) == list(iris_model.predict(X.head(5)))
    # explicit, pinned requirements (no subprocess inference)
    req = pyfunc.metadata.get_model_info if False else None  # noqa: F841
    local = Path(mlflow.artifacts.download_artifacts("models:/iris@champion"))
    reqs = (local / "requirements.txt").read_text()
    assert "scikit-learn==" in reqs and "mlflow==" in reqs


def test_load_verifies_sha256(nbt_home, iris, iris_model):
    X, y = iris
    nbt.register(iris_model, "iris", X=X, y=y)
    model = nbt.load("iris")
    assert (model.predict(X) == iris_model.predict(X)).all()
    stored = next((nbt_home / "artifacts").rglob("model.skops"))
    stored.write_bytes(stored.read_bytes() + b"tampered")
    with pytest.raises(IntegrityError, match="changed since registration"):
        nbt.load("iris/1")


def test_promote_gates_and_rollback(nbt_home, iris, iris_model):
    X, y = iris
    nbt.register(iris_model, "iris", metrics={"accuracy": 0.9}, alias="champion")
    nbt.register(iris_model, "iris", metrics={"accuracy": 0.95})
    with pytest.raises(GateFailed, match=r"accuracy>=0.99 \(observed 0.95\)"):
        nbt.promote("iris", 2, alias="champion", require=["accuracy>=0.99"])
    assert registry.resolve("iris@champion").version in ("1", 1)
    res = nbt.promote("iris", 2, alias="champion", require=["accuracy>=0.95"])
    assert res.previous == "1" and res.gates[0]["passed"]
    assert str(registry.resolve("iris@champion").version) == "2"
    back = nbt.rollback("iris", alias="champion")
    assert back.version == "1"
    assert str(registry.resolve("iris@champion").version) == "1"
    # history was consumed: nothing earlier than version 1
    with pytest.raises(BadInput, match="no earlier holder"):
        nbt.rollback("iris", alias="champion")


def test_alias_history_survives_a_new_process(nbt_home, iris_model):
    import subprocess
    import sys

    nbt.register(iris_model, "iris", alias="champion")
    nbt.register(iris_model, "iris")
    nbt.promote("iris", 2, alias="champion")
    out = subprocess.run(
        [sys.executable, "-c", "import nbtoolkit as n; print(n.rollback('iris', alias='champion').version)"],
        capture_output=True, text=True, check=True,
    )
    assert out.stdout.strip() == "1"


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(name="bad name!"), BadInput, "Invalid model name"),
        (dict(alias="v3"), BadInput, "reserved"),
        (dict(metrics={"acc": "high"}), BadInput, "must be a number"),
        (dict(X="empty"), BadInput, "empty"),
        (dict(X="short"), BadInput, "rows but y has"),
        (dict(y="only"), BadInput, "y without X"),
        (dict(X="wrong-columns"), BadInput, "cannot predict on X"),
    ],
)
def test_bad_register_writes_nothing(nbt_home, iris, iris_model, kwargs, error, message):
    X, y = iris
    if kwargs.get("X") == "empty":
        kwargs["X"] = X.iloc[:0]
    elif kwargs.get("X") == "short":
        kwargs.update(X=X.head(10), y=y)
    elif kwargs.get("X") == "wrong-columns":
        kwargs["X"] = X.rename(columns=lambda c: c + "_x").iloc[:, :2]
    elif kwargs.get("y") == "only":
        kwargs["y"] = y
    name = kwargs.pop("name", "iris")
    with pytest.raises(error, match=message):
        nbt.register(iris_model, name, **kwargs)
    assert _n_versions("iris") == 0


def test_unfitted_and_non_models(nbt_home):
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(NotFitted, match="not fitted yet"):
        nbt.register(LogisticRegression(), "m")
    with pytest.raises(BadInput, match="expected a fitted scikit-learn"):
        nbt.register({"a": 1}, "m")
    with pytest.raises(BadInput, match="class LogisticRegression"):
        nbt.register(LogisticRegression, "m")
    assert _n_versions("m") == 0


def test_unknown_refs(nbt_home, iris_model):
    with pytest.raises(ModelNotFound, match="No models are registered yet"):
        nbt.load("iris")
    nbt.register(iris_model, "iris", alias="champion")
    with pytest.raises(ModelNotFound, match="Did you mean 'iris'"):
        nbt.load("irs")
    with pytest.raises(ModelNotFound, match="no version 7"):
        nbt.load("iris/7")
    with pytest.raises(ModelNotFound, match="no alias 'champ'.*champion"):
        nbt.load("iris@champ")
    with pytest.raises(BadInput, match="Malformed model reference"):
        nbt.load("iris@@x")


def test_gate_errors_move_nothing(nbt_home, iris_model):
    nbt.register(iris_model, "iris", metrics={"accuracy": 0.9}, alias="champion")
    nbt.register(iris_model, "iris", metrics={"accuracy": 0.95})
    with pytest.raises(BadInput, match="has no metric 'f1'.*accuracy"):
        nbt.promote("iris", 2, alias="champion", require=["f1>=0.5"])
    with pytest.raises(BadInput, match="Malformed gate"):
        nbt.promote("iris", 2, alias="champion", require=["accuracy=>0.5"])
    with pytest.raises(BadInput, match="not a number"):
        nbt.promote("iris", 2, alias="champion", require=["accuracy>=high"])
    assert str(registry.resolve("iris@champion").version) == "1"


def test_models_and_versions_tables(nbt_home, iris, iris_model):
    X, y = iris
    nbt.register(iris_model, "iris", X=X, y=y, metrics={"accuracy": 0.9}, alias="champion")
    nbt.register(iris_model, "iris", metrics={"accuracy": 0.95})
    nbt.register(iris_model, "other")
    m = nbt.models().to_frame()
    assert list(m["name"]) == ["iris", "other"]
    assert m.loc[0, "latest_version"] == "2" and "@champion=v1" in m.loc[0, "aliases"]
    v = nbt.versions("iris").to_frame()
    assert list(v["version"]) == ["2", "1"]
    assert list(v["accuracy"]) == [0.95, 0.9]
    assert v.loc[1, "aliases"] == "@champion"
    assert "<table" in nbt.versions("iris")._repr_html_()
    json.dumps(nbt.versions("iris").to_dict(), default=str)


def test_description_and_tags_given_at_register_show_in_versions_and_lineage(nbt_home, iris, iris_model):
    X, y = iris
    nbt.register(iris_model, "iris", X=X, y=y, description="baseline <v1>", tags={"team": "ml", "owner": "ana"})
    nbt.register(iris_model, "iris", X=X, y=y)
    table = nbt.versions("iris")
    frame = table.to_frame()
    assert list(frame["description"]) == ["", "baseline <v1>"]
    assert list(frame["tags"]) == ["", "owner=ana, team=ml"]  # the user's tags, not nbt.* / mlflow.*
    assert table.to_dict()["versions"][1]["tags"] == {"owner": "ana", "team": "ml"}
    assert "baseline &lt;v1&gt;" in table._repr_html_() and "owner=ana, team=ml" in str(table)
    lineage = nbt.lineage("iris/1")
    assert lineage.description == "baseline <v1>" and lineage.to_dict()["description"] == "baseline <v1>"
    fields = dict(zip(lineage.to_frame()["field"], lineage.to_frame()["value"]))
    assert fields["description"] == "baseline <v1>" and fields["tag.team"] == "ml" and fields["tag.owner"] == "ana"
    assert not any(f.startswith("tag.nbt.") for f in fields)
    # a version without either keeps the table narrow: no empty columns
    nbt.register(iris_model, "plain", X=X, y=y)
    assert {"description", "tags"}.isdisjoint(nbt.versions("plain").to_frame().columns)


def test_register_with_integer_columns_prints_no_mlflow_hint(nbt_home, iris):
    """MLflow's 8-line 'Integer columns in Python cannot represent missing values' hint came on
    every register with an integer column; the version's contract records null rates instead."""
    import warnings

    from sklearn.linear_model import LogisticRegression

    X, y = iris
    counts = (X * 10).round().astype("int64")
    model = LogisticRegression(max_iter=500).fit(counts, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        v = nbt.register(model, "counts", X=counts, y=y)
    assert not [w for w in caught if "Integer columns" in str(w.message)], [str(w.message)[:80] for w in caught]
    from mlflow.models import get_model_info

    signature = get_model_info(f"models:/counts/{v.version}").signature
    assert signature is not None and {c.type.name for c in signature.inputs.inputs} == {"long"}  # still inferred


def test_unreachable_tracking_uri(nbt_home, monkeypatch, iris_model):
    from nbtoolkit.errors import StoreUnavailable

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("NBT_READ_RETRIES", "0")
    with pytest.raises(StoreUnavailable, match=r"http://127\.0\.0\.1:9"):
        nbt.models()


def test_register_inside_an_active_run_nests_in_its_experiment(nbt_home, iris_model):
    from nbtoolkit import store

    mlflow = store.mlflow_module()
    exp = store.ensure_experiment("outer")
    with mlflow.start_run(experiment_id=exp) as outer:
        v = nbt.register(iris_model, "iris")
    run = store.client().get_run(v.run_id)
    assert run.info.experiment_id == exp
    assert run.data.tags["mlflow.parentRunId"] == outer.info.run_id
