"""Hand-written statistics kept because benchmarks/stats.py measured them faster than the library:
each must give the library's numbers.  Jensen–Shannon calls scipy; its edge cases
(an empty side, equal counts) are pinned here too."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import binomtest, false_discovery_control, ks_2samp
from sklearn.metrics import f1_score, precision_recall_fscore_support

from nbtoolkit.profiles import stats
from nbtoolkit.evaluation import mcnemar_exact
from nbtoolkit.evaluation.inputs import Predictions
from nbtoolkit.evaluation.metrics import per_class
from nbtoolkit.monitoring.window import per_class_f1


@pytest.mark.parametrize("n, m, integers", [(5, 7, False), (300, 1000, False), (2000, 1500, True), (1, 2, False)])
def test_ks_exact_is_scipys_asymptotic_ks_2samp(n: int, m: int, integers: bool) -> None:
    rng = np.random.default_rng(n)
    a, b = rng.normal(size=n), rng.normal(0.2, 1.0, size=m)
    if integers:  # ties across the samples
        a, b = np.round(a * 3), np.round(b * 3)
    expected = ks_2samp(a, b, method="asymp")
    assert stats.ks_exact(a, b) == pytest.approx((expected.statistic, expected.pvalue), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("m", [1, 2, 7, 200])
def test_benjamini_hochberg_is_scipys_false_discovery_control(m: int) -> None:
    p = np.random.default_rng(m).uniform(size=m) ** 3
    p[: m // 3] = p[0]  # ties
    assert stats.adjust(p.tolist(), "fdr_bh") == pytest.approx(false_discovery_control(p, method="bh").tolist())


@pytest.mark.parametrize("only_a, only_b, both", [(0, 0, 5), (3, 3, 0), (7, 2, 10), (0, 12, 1), (410, 380, 5000)])
def test_mcnemar_exact_is_scipys_binomtest(only_a: int, only_b: int, both: int) -> None:
    a = np.array([True] * only_a + [False] * only_b + [True] * both)
    b = np.array([False] * only_a + [True] * only_b + [True] * both)
    expected = 1.0 if only_a + only_b == 0 else binomtest(only_a, only_a + only_b, 0.5).pvalue
    assert mcnemar_exact(a, b)["p_value"] == pytest.approx(expected, rel=1e-12)


def test_monitor_per_class_f1_is_sklearns() -> None:
    rng = np.random.default_rng(3)
    labels = np.array(["billing", "bug", "account", "other"])
    truth = labels[rng.integers(0, 3, size=500)]  # "other" is only ever predicted
    pred = np.where(rng.uniform(size=500) < 0.6, truth, labels[rng.integers(0, 4, size=500)])
    classes = np.union1d(truth, pred)
    expected = f1_score(truth, pred, labels=classes, average=None)
    got = per_class_f1(truth, pred)
    assert list(got) == classes.tolist()
    assert list(got.values()) == pytest.approx(expected.tolist())


def test_evaluate_per_class_is_sklearns() -> None:
    rng = np.random.default_rng(4)
    classes = np.array(["a", "b", "c", "d"])
    true_codes = rng.integers(0, 3, size=400)  # "d" never true; predicted sometimes
    pred_codes = np.where(rng.uniform(size=400) < 0.7, true_codes, rng.integers(0, 4, size=400))
    p = Predictions(task="classification", y_true=classes[true_codes], y_pred=classes[pred_codes],
                    classes=classes, true_codes=true_codes, pred_codes=pred_codes)
    prec, rec, f1, support = precision_recall_fscore_support(p.y_true, p.y_pred, labels=classes, zero_division=0)
    rows = per_class(p)
    assert [r["class"] for r in rows] == classes.tolist()
    assert [r["precision"] for r in rows] == pytest.approx(prec.tolist())
    assert [r["recall"] for r in rows] == pytest.approx(rec.tolist())
    assert [r["f1"] for r in rows] == pytest.approx(f1.tolist())
    assert [r["support"] for r in rows] == support.tolist()


def test_jensenshannon_is_scipys_with_the_edge_cases_defined() -> None:
    r, c = np.array([0.0, 10, 30, 5]), np.array([4.0, 0, 20, 5])
    assert stats.jensenshannon(r, c) == pytest.approx(jensenshannon(r, c))
    equal = np.array([3.0, 5, 7])
    assert stats.jensenshannon(equal, equal * 1.0000001) == pytest.approx(0.0, abs=1e-6)  # scipy: NaN
    assert stats.jensenshannon([0, 0], [0, 0]) == 0.0
    assert stats.jensenshannon([0, 0], [1, 2]) == pytest.approx(math.sqrt(math.log(2) / 2))
