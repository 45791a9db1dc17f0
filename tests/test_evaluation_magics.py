"""%nbt evaluate / compare / threshold from a notebook shell, with registry REFs and variables."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError
from sklearn.linear_model import LogisticRegression

import nbtoolkit as nbt
from nbtoolkit import registry


@pytest.fixture
def shell(ip, iris, iris_model):
    X, y = iris
    ip.user_ns.update(X=X, y=y, model=iris_model,
                      weak=LogisticRegression(C=0.001, max_iter=500).fit(X, y))
    return ip


def test_evaluate_log_then_gate(shell):
    shell.user_ns["y_bad"] = shell.user_ns["y"].replace({2: 7})
    nbt.register(shell.user_ns["model"], "iris")
    with pytest.raises(UsageError, match="regression metric"):  # bad input logs nothing
        shell.run_line_magic("nbt", "evaluate iris X y --metric mae --log")
    with pytest.raises(UsageError, match="labels the model never saw"):
        shell.run_line_magic("nbt", "evaluate iris X y_bad --log")
    assert registry.run_metrics(registry.resolve("iris/1")) == {}
    r = shell.run_line_magic("nbt", "evaluate iris X y --log")
    assert r.logged and r.metrics["accuracy"] > 0.9
    # named by dataset (default "test"); the bare gate name below resolves to it, being unique
    assert registry.run_metrics(registry.resolve("iris/1"))["test.accuracy"] == pytest.approx(r.metrics["accuracy"])
    promoted = shell.run_line_magic("nbt", "promote iris 1 --alias champion --require accuracy>=0.9")
    assert promoted.version == "1"
    with pytest.raises(UsageError, match="gate failed: accuracy>=0.999"):
        shell.run_line_magic("nbt", "promote iris 1 --alias best --require accuracy>=0.999")


def test_evaluate_a_notebook_variable_with_slices(shell):
    shell.user_ns["X"] = shell.user_ns["X"].assign(big=lambda f: f["petal_length"] > 4)
    shell.user_ns["model"] = LogisticRegression(max_iter=500).fit(
        shell.user_ns["X"].drop(columns=["big"]), shell.user_ns["y"])
    shell.user_ns["Xf"] = shell.user_ns["X"].drop(columns=["big"])
    r = shell.run_line_magic("nbt", "evaluate model Xf y --slice petal_width --metric accuracy")
    assert list(r.metrics) == ["accuracy"] and len(r.slices) == 4


def test_threshold_and_compare_magics(shell):
    nbt.register(shell.user_ns["weak"], "iris", alias="champion")
    nbt.register(shell.user_ns["model"], "iris")
    t = shell.run_line_magic("nbt", "threshold iris/2 X y --target-accuracy 0.95 --save")
    assert t.saved and registry.resolve("iris/2").tags[registry.TAG_THRESHOLD] == str(t.chosen)
    c = shell.run_line_magic("nbt", "compare iris@champion iris/2 X y --log --resamples 500 --seed 1")
    assert c.verdict == "B better" and c.n_resamples == 500
    p = shell.run_line_magic("nbt", "promote iris 2 --alias champion --require beats=iris@champion")
    assert p.version == "2"
    c2 = shell.run_line_magic("nbt", "compare weak model X y")  # notebook variables
    assert c2.verdict == "B better" and c2.logged is None


@pytest.mark.parametrize("line, message", [
    ("evaluate model X nope", "No label variable named 'nope'"),
    ("evaluate nosuchmodel X y", "No model named 'nosuchmodel'"),
    ("threshold model X y --target-accuracy 1.5", r"target accuracy must be in \(0, 1\]"),
    ("threshold model X y --target-accuracy high", "--target-accuracy: expected a number such as 0.95, got 'high'"),
    ("compare model weak X y --resamples 5", "at least 10"),
    ("evaluate model X y --slice colour", "Slice column 'colour' is not a column of X"),
])
def test_magic_errors_are_one_line(shell, line, message):
    with pytest.raises(UsageError, match=message) as info:
        shell.run_line_magic("nbt", line)
    assert "\n" not in str(info.value)


def test_help_lists_evaluation_commands(shell):
    text = shell.run_line_magic("nbt", "help")
    for sub in ("evaluate", "compare", "threshold", "track"):
        assert sub in text
    assert "--target-accuracy" in shell.run_line_magic("nbt", "threshold --help")


@pytest.fixture
def with_region(shell):
    """X with metadata columns the model never saw, put first (the model's columns reordered)."""
    import numpy as np

    X = shell.user_ns["X"]
    region = np.where(np.arange(len(X)) % 3 == 0, "north", "south")
    shell.user_ns["Xm"] = X[list(X.columns)[::-1]].assign(region=region, batch=np.arange(len(X)) % 2)[
        ["region", "batch", *list(X.columns)[::-1]]]
    return shell


def test_slices_by_a_column_the_model_does_not_take(with_region):
    shell = with_region
    nbt.register(shell.user_ns["model"], "iris", X=shell.user_ns["X"], y=shell.user_ns["y"])
    assert registry.load("iris")._nbt_inputs == list(shell.user_ns["X"].columns)  # the signature
    r = shell.run_line_magic("nbt", "evaluate iris Xm y --slice region --slice batch")
    plain = nbt.evaluate("iris", shell.user_ns["X"], shell.user_ns["y"])
    assert r.metrics == plain.metrics
    assert {(s["column"], s["value"]) for s in r.slices} == {
        ("region", "north"), ("region", "south"), ("batch", 0), ("batch", 1)}
    north = shell.user_ns["Xm"]["region"].to_numpy() == "north"
    expected = float((shell.user_ns["model"].predict(shell.user_ns["X"][north]) == shell.user_ns["y"][north]).mean())
    assert next(s for s in r.slices if s["value"] == "north")["accuracy"] == pytest.approx(expected)
    # a suite selects rows by the metadata column and times predictions on the model's columns
    suite = {"cases": [{"name": "north", "query": "region == 'north'",
                        "expect": {"accuracy": ">= 0.5", "max_latency_ms": "< 60000"}}]}
    s = nbt.evaluate("iris", shell.user_ns["Xm"], shell.user_ns["y"], suite=suite)
    assert s.passed and {row["n"] for row in s.suite.rows} == {int(north.sum())}
    t = shell.run_line_magic("nbt", "threshold iris Xm y")
    assert t.to_frame().equals(nbt.threshold("iris", shell.user_ns["X"], shell.user_ns["y"]).to_frame())
    c = shell.run_line_magic("nbt", "compare iris iris Xm y --resamples 100")
    assert c.n == len(shell.user_ns["X"]) and c.verdict == "no significant difference"


def test_the_signature_decides_without_feature_names(with_region):
    """A loaded model without feature_names_in_ (e.g. one a helper process predicts with)."""
    shell = with_region
    nbt.register(shell.user_ns["model"], "iris", X=shell.user_ns["X"], y=shell.user_ns["y"])
    est = registry.load("iris")
    del est.feature_names_in_
    r = nbt.evaluate(est, shell.user_ns["Xm"], shell.user_ns["y"], slices=["region"])
    assert r.metrics["accuracy"] > 0.9 and len(r.slices) == 2


def test_without_inputs_known_the_slice_columns_are_left_out(with_region):
    import numpy as np

    shell = with_region
    X, y = shell.user_ns["X"], shell.user_ns["y"]
    bare = LogisticRegression(max_iter=500).fit(np.asarray(X), y)  # no feature_names_in_, no signature
    framed = X.assign(region=shell.user_ns["Xm"]["region"])
    r = nbt.evaluate(bare, framed, y, slices=["region"])
    assert r.metrics["accuracy"] == pytest.approx(float((bare.predict(np.asarray(X)) == y).mean()))


def test_a_slice_column_absent_names_the_frame_columns(with_region):
    shell = with_region
    nbt.register(shell.user_ns["model"], "iris", X=shell.user_ns["X"], y=shell.user_ns["y"])
    with pytest.raises(UsageError) as info:
        shell.run_line_magic("nbt", "evaluate iris Xm y --slice regoin --log")
    message = str(info.value)
    assert "Slice column 'regoin' is not a column of X" in message and "Did you mean 'region'?" in message
    assert "Columns: batch, petal_length, petal_width, region, sepal_length, sepal_width." in message
    assert "\n" not in message
    assert registry.run_metrics(registry.resolve("iris/1")) == {}  # nothing written
