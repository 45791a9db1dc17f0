"""The regression estimate's loss models (nbtoolkit.estimation.losstree): binning, the tree against
scikit-learn's, categories, and what leaf means guarantee on the reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import nbtoolkit as nbt
from nbtoolkit.estimation import losstree


@pytest.mark.parametrize("values", [
    np.random.default_rng(0).normal(0, 1, 20_000),
    np.random.default_rng(1).integers(0, 20, 20_000).astype(float),
    np.r_[np.random.default_rng(2).exponential(1, 5_000), [np.nan] * 5, [1e9, -1e9, 0.0, np.inf, -np.inf]],
    np.random.default_rng(3).normal(0, 1, 5_000) * 1e-300,
    np.r_[1e300, 1.0000001e300, -1e300, 0.0, np.nan],
    np.arange(-500.0, 500.0),
])
def test_binning_is_a_search_of_the_cuts(values):
    for cuts in (losstree.edges(values[: len(values) // 2]), losstree.edges(np.unique(values)[:3]),
                 np.array([0.5]), np.array([]), np.array([1e300, 1.0000001e300])):
        expected = np.searchsorted(cuts, values, side="left") + 1
        expected[np.isnan(values)] = 0
        assert np.array_equal(losstree.binned(values, cuts), expected)
    # a value equal to a cut: the bin below it (the grid only shortcuts the cells holding no cut)
    cuts = losstree.edges(np.arange(300.0))
    assert np.array_equal(losstree.binned(cuts, cuts), np.arange(len(cuts)) + 1)


@pytest.mark.parametrize("min_leaf", [20, 60, 150])
def test_the_tree_is_scikit_learns_best_first_tree(min_leaf):
    from sklearn.tree import DecisionTreeRegressor

    rng = np.random.default_rng(min_leaf)
    n = 6_000
    codes = np.column_stack([rng.integers(0, 40, n), rng.integers(0, 7, n), rng.integers(0, 255, n)]).astype(np.uint8)
    targets = np.column_stack([np.sin(codes[:, 0] / 6) + (codes[:, 1] > 3) + rng.normal(0, 0.5, n),
                               codes[:, 2] / 100 + rng.normal(0, 0.5, n)])
    targets /= targets.std(axis=0)
    tree, leaf = losstree.grow(codes, targets, np.zeros(3, dtype=bool), min_leaf=min_leaf)
    theirs = DecisionTreeRegressor(min_samples_leaf=min_leaf, max_leaf_nodes=losstree.MAX_LEAVES,
                                   random_state=0).fit(codes.astype(float), targets).apply(codes.astype(float))
    # the same partition of the rows (multi-output squared error, best split first, same leaf size)
    assert len(set(leaf)) == len(set(theirs)) == len(set(zip(leaf, theirs)))
    assert np.array_equal(tree.leaves(codes), leaf)  # routing new rows agrees with the training rows


def test_a_category_splits_by_its_levels_loss_not_its_frequency():
    rng = np.random.default_rng(0)
    levels = np.array(list("abcdefghij"))
    city = rng.choice(levels, 8_000)
    noisy = np.isin(city, ["b", "e", "h"])   # scattered in any order of the levels
    frame = pd.DataFrame({"city": city, "x": rng.normal(size=8_000)})
    y = rng.normal(0, np.where(noisy, 10.0, 1.0))
    model = losstree.LossModel.fit(frame, ["city", "x"], np.zeros(8_000), y, losses={"abs"})
    fresh = pd.DataFrame({"city": ["b", "e", "h", "a", "j", "zz", None], "x": 0.0})
    mae = model.predict(fresh, np.zeros(7))["abs"]
    assert (mae[:3] > 6).all() and (mae[3:5] < 1.2).all()  # E|N(0, 10)| = 8, E|N(0, 1)| = 0.8
    assert np.isfinite(mae[5:]).all()  # an unseen level and a missing one: bin 0, ordered as the mean loss


def test_reference_chunks_average_to_the_realised_losses_and_estimates_follow_a_shift():
    rng = np.random.default_rng(5)

    def period(n: int, shift: float) -> pd.DataFrame:
        x = rng.normal(shift, 1, n)
        kind = rng.choice(["new", "used"], n, p=[0.7 - shift / 4, 0.3 + shift / 4])
        y = 100 + 10 * x + rng.normal(0, np.where(kind == "used", 6, 2) * (1 + np.abs(x)))
        return pd.DataFrame({"x": x, "kind": kind, "y": y, "pred": 100 + 10 * x})

    ref = period(12_000, 0.0)
    ana = pd.concat([period(1_000, 0.0) for _ in range(5)] + [period(1_000, 1.0) for _ in range(5)],
                    ignore_index=True)
    result = nbt.estimate(ref, ana, target="y", prediction="pred", features=["x", "kind"], chunk_size=1_000)
    frame = pd.DataFrame(result.rows)
    reference = frame[frame.period == "reference"]
    for metric in ("mae", "mse", "mape"):  # leaf means: the reference's estimates sum to its losses
        part = reference[reference.metric == metric]
        assert part.estimate.mean() == pytest.approx(part.realised.mean(), rel=1e-9)
    analysis = frame[frame.period == "analysis"]
    for metric in ("mae", "rmse", "mape", "r2"):
        part = analysis[analysis.metric == metric].reset_index(drop=True)
        assert (part.estimate - part.realised).abs().mean() < 1.5 * part.sampling_error.mean(), metric
        moved = part.realised[5:].mean() - part.realised[:5].mean()
        assert abs(part.estimate[5:].mean() - part.estimate[:5].mean() - moved) < 0.25 * abs(moved), metric
