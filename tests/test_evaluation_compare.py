"""compare: paired bootstrap, McNemar, verdicts, --log, and the beats= gate through nbt promote."""

from __future__ import annotations

from math import comb

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LinearRegression, LogisticRegression

import nbtoolkit as nbt
from nbtoolkit.errors import BadInput, GateFailed
from nbtoolkit.evaluation import compare, mcnemar_exact, paired_bootstrap


class Lookup(ClassifierMixin, BaseEstimator):
    """A classifier whose predictions are fixed per row id (known accuracy, for exact tests)."""

    def __init__(self, answers=None):
        self.answers = answers

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.n_features_in_ = 1
        return self

    def predict(self, X):
        return np.asarray(self.answers)[np.asarray(X)[:, 0].astype(int)]


def _known_gap(n=20_000, acc_a=0.80, acc_b=0.85, seed=3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    right_a = rng.random(n) < acc_a
    right_b = rng.random(n) < acc_b
    X = np.arange(n).reshape(-1, 1)
    a = Lookup(np.where(right_a, y, 1 - y)).fit(X, y)
    b = Lookup(np.where(right_b, y, 1 - y)).fit(X, y)
    return a, b, X, y, right_a, right_b


def test_mcnemar_equals_direct_binomial():
    a, b, X, y, ra, rb = _known_gap(n=400)
    out = mcnemar_exact(ra, rb)
    n01, n10 = int(np.sum(~ra & rb)), int(np.sum(ra & ~rb))
    k, n = min(n01, n10), n01 + n10
    direct = min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n)
    assert out["p_value"] == pytest.approx(direct, rel=1e-9)
    assert (out["only_b_correct"], out["only_a_correct"]) == (n01, n10)
    assert mcnemar_exact([True, False], [True, False])["p_value"] == 1.0


def test_bootstrap_contains_true_gap_and_is_reproducible():
    a, b, X, y, ra, rb = _known_gap()
    r1 = compare(a, b, X, y, seed=7)
    r2 = compare(a, b, X, y, seed=7)
    low, high = r1.ci
    assert low < 0.05 < high  # the true gap in accuracy is 0.85 - 0.80
    assert r1.ci == r2.ci and np.array_equal(r1.bootstrap, r2.bootstrap)
    assert compare(a, b, X, y, seed=8).ci != r1.ci
    assert r1.difference == pytest.approx(rb.mean() - ra.mean())
    assert r1.verdict == "B better" and r1.b_better
    assert compare(b, a, X, y).verdict == "B worse"
    assert r1.metrics[0]["metric"] == "accuracy"


def test_same_model_is_no_significant_difference():
    a, b, X, y, ra, rb = _known_gap(n=2000)
    r = compare(a, a, X, y)
    assert r.verdict == "no significant difference" and r.mcnemar["p_value"] == 1.0


def test_index_resampling_path_matches_bootstrap_theory():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(5000, 2))  # continuous: the block index-resampling path
    boot = paired_bootstrap(v, lambda m: m[:, 1] - m[:, 0], n_resamples=400, seed=1)
    se = np.std(v[:, 1] - v[:, 0], ddof=1) / np.sqrt(len(v))
    assert boot.shape == (400,)
    assert np.std(boot) == pytest.approx(se, rel=0.15)
    assert np.array_equal(boot, paired_bootstrap(v, lambda m: m[:, 1] - m[:, 0], n_resamples=400, seed=1))


def test_regression_compare_rmse():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=3000), "z": rng.normal(size=3000)})
    y = 2 * X["x"] + X["z"] + rng.normal(scale=0.3, size=3000)
    a = LinearRegression().fit(X[["x", "z"]].assign(z=0.0), y)  # ignores z
    b = LinearRegression().fit(X, y)
    r = compare(a, b, X, y)
    assert r.metric == "rmse" and r.mcnemar is None
    assert r.difference < 0 and r.verdict == "B better"
    assert compare(a, b, X, y, metric="r2").verdict == "B better"
    assert r.plot().axes


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_resamples=3), "at least 10"),
    (dict(confidence=1.5), "between 0 and 1"),
    (dict(metric="f1_macro"), "Cannot compare on 'f1_macro'"),
])
def test_bad_compare_arguments(iris, iris_model, kwargs, message):
    X, y = iris
    with pytest.raises(BadInput, match=message):
        compare(iris_model, iris_model, X, y, **kwargs)


def test_models_expecting_different_features(iris, iris_model):
    X, y = iris
    other = LogisticRegression(max_iter=500).fit(X.drop(columns=["petal_width"]), y)
    with pytest.raises(BadInput, match="expect different features .*only A has \\['petal_width'\\]"):
        compare(iris_model, other, X, y)
    with pytest.raises(BadInput, match="Cannot compare a classification model"):
        compare(iris_model, LinearRegression().fit(X, y), X, y)


def test_compare_log_and_beats_gate_end_to_end(nbt_home, iris):
    from nbtoolkit.cli import main

    X, y = iris
    weak = LogisticRegression(C=0.001, max_iter=500).fit(X, y)
    strong = LogisticRegression(max_iter=500).fit(X, y)
    nbt.register(weak, "iris", alias="champion")
    nbt.register(strong, "iris")
    with pytest.raises(BadInput, match="no comparison of iris/2 against iris/1"):
        nbt.promote("iris", 2, alias="champion", require=["beats=iris@champion"])
    # B worse the other way round: v1 recorded as worse than v2 blocks promoting v1
    assert compare("iris/2", "iris/1", X, y, log=True).verdict == "B worse"
    with pytest.raises(GateFailed, match=r"beats=iris/2 \(observed B worse\)"):
        nbt.promote("iris", 1, alias="champion", require=["beats=iris/2"])

    report = compare("iris@champion", "iris/2", X, y, log=True)
    assert report.verdict == "B better" and report.logged == "nbt.compare.iris.1"
    tags = nbt.lineage("iris/2").tags
    assert tags["nbt.compare.iris.1"] == "B better"
    assert main(["promote", "iris", "2", "--alias", "champion", "--require", "beats=iris@champion"]) == 0
    assert str(nbt.lineage("iris@champion").version) == "2"


def test_compare_log_needs_registered_models(iris, iris_model):
    X, y = iris
    with pytest.raises(BadInput, match="model A .* is not one"):
        compare(iris_model, iris_model, X, y, log=True)
