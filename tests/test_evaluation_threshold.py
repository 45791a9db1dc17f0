"""threshold: the table equals a direct computation; target; --save; bad input."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

import nbtoolkit as nbt
from nbtoolkit import registry
from nbtoolkit.errors import BadInput, CheckFailed
from nbtoolkit.evaluation import save_threshold, threshold


@pytest.fixture(scope="module")
def noisy(iris):
    X, y = iris
    X = X[["sepal_length", "sepal_width"]]  # a weaker model: a spread of confidences
    return X, y, LogisticRegression(max_iter=500).fit(X, y)


def test_table_matches_direct_computation(noisy):
    X, y, model = noisy
    r = threshold(model, X, y)
    proba = model.predict_proba(X)
    conf = proba.max(axis=1)
    correct = model.classes_[proba.argmax(axis=1)] == y.to_numpy()
    table = r.table
    assert list(table.columns) == ["threshold", "coverage", "accuracy", "human_share", "n_auto"]
    assert len(table) == 101 and table["threshold"].iloc[-1] == 1.0
    for _, row in table.iterrows():
        auto = conf >= row["threshold"]
        assert row["n_auto"] == auto.sum()
        assert row["coverage"] == pytest.approx(auto.mean())
        assert row["human_share"] == pytest.approx(1 - auto.mean())
        if auto.any():
            assert row["accuracy"] == pytest.approx(correct[auto].mean())
        else:
            assert np.isnan(row["accuracy"])
    t = float(np.median(conf))  # exact at any value, e.g. for a slider
    assert r.at(t)["n_auto"] == (conf >= t).sum()
    assert r.at(t)["accuracy"] == pytest.approx(correct[conf >= t].mean())


def test_target_accuracy_picks_the_lowest_threshold(noisy):
    X, y, model = noisy
    r = threshold(model, X, y, target_accuracy=0.9)
    table = r.table
    ok = table[(table["accuracy"] >= 0.9) & (table["n_auto"] > 0)]
    assert r.chosen == ok["threshold"].min()
    assert r.passed and "to a human" in r.summary()
    none = threshold(model, X, y, target_accuracy=1.0, thresholds=[0.0, 0.5])
    assert none.chosen is None and "no threshold reaches accuracy 1" in none.summary()
    fig = r.plot()
    assert fig.axes and r.plot(marker=0.5).axes
    assert r.to_dict()["at_chosen"]["threshold"] == r.chosen


@pytest.mark.parametrize("target", [0, -0.1, 1.2, True])
def test_target_outside_unit_interval(noisy, target):
    X, y, model = noisy
    with pytest.raises(BadInput, match=r"target accuracy must be in \(0, 1\]"):
        threshold(model, X, y, target_accuracy=target)


def test_needs_predict_proba(iris):
    X, y = iris
    svc = LinearSVC().fit(X, y)
    with pytest.raises(BadInput, match="has no predict_proba, so it gives no confidence"):
        threshold(svc, X, y)


def test_save_stores_the_tag(nbt_home, noisy):
    X, y, model = noisy
    nbt.register(model, "flowers")
    r = threshold("flowers", X, y, target_accuracy=0.9, save=True)
    assert r.saved
    mv = registry.resolve("flowers/1")
    assert float(mv.tags[registry.TAG_THRESHOLD]) == r.chosen
    save_threshold("flowers/1", 0.42)
    assert registry.resolve("flowers/1").tags[registry.TAG_THRESHOLD] == "0.42"
    r.save(0.5)
    assert registry.resolve("flowers/1").tags[registry.TAG_THRESHOLD] == "0.5"


def test_save_writes_nothing_when_no_threshold_reaches_the_target(nbt_home, noisy):
    X, y, model = noisy
    nbt.register(model, "flowers")
    with pytest.raises(CheckFailed, match="nothing saved"):
        threshold("flowers", X, y, target_accuracy=1.0, thresholds=[0.0, 0.5], save=True)
    assert registry.TAG_THRESHOLD not in (registry.resolve("flowers/1").tags or {})
    with pytest.raises(BadInput, match="give one"):
        threshold("flowers", X, y, save=True)
    with pytest.raises(BadInput, match="in \\[0, 1\\]"):
        save_threshold("flowers/1", 3)
