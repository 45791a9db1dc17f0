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
