"""CBPE equal to NannyML's, without NannyML: its computation written out here from its source
(nannyml 0.13.1: calibration.needs_calibration, cbpe._calibrate_predicted_probabilities,
confidence_based.metrics) with the scikit-learn parts it calls, on multiclass data whose
probabilities have two decimals (ties everywhere, as NannyML's credit-card data).
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

import nbtoolkit as nbt
from nbtoolkit.estimation.calibration import _stratified_splits, ece
from nbtoolkit.estimation.metrics import expected_auc, weighted_auc

CLASSES = ["a", "b", "c"]


def two_decimal_multiclass(n, seed, *, shift=0.0, temperature=1.0):
    """Three classes; the model's probabilities rounded to two decimals (the last one 1 − the others)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, 2)) + np.array([shift, 0])
    logits = np.column_stack([x[:, 0], x[:, 1], -x[:, 0] - x[:, 1]]) * 1.5
    true = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = (rng.random(n)[:, None] > np.cumsum(true, axis=1)).sum(axis=1)
    model = np.exp(temperature * logits)
    model /= model.sum(axis=1, keepdims=True)
    model[:, :2] = np.round(model[:, :2], 2)
    model[:, 2] = np.round(np.clip(1 - model[:, 0] - model[:, 1], 0, 1), 2)
    labels = np.array(CLASSES)
    frame = pd.DataFrame({"y": labels[y], "pred": labels[model.argmax(axis=1)]})
    for j, c in enumerate(CLASSES):
        frame[f"p_{c}"] = model[:, j]
    return frame


# ------------------------------------------------------------------------------ NannyML, written out
def nannyml_ece(y, p, n_bins=10):
    n = len(p)
    if n <= 2 * n_bins:
        n_bins = n // 2
    edges = np.asarray(range(0, n + 1, n // n_bins))
    edges[-1] = n
    order = p.argsort()
    p, y = p[order], y[order]
    return np.sum([(b - a) / n * abs(np.mean(p[a:b]) - np.mean(y[a:b])) for a, b in pairwise(edges)])


def nannyml_needs_calibration(y, p):
    from sklearn.isotonic import IsotonicRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedShuffleSplit

    if len(np.unique(y)) == 1 or roc_auc_score(y, p) > 0.999:
        return False
    truth, raw, cal = [], [], []
    for train, test in StratifiedShuffleSplit(n_splits=10, test_size=0.1, random_state=42).split(p, y):
        iso = IsotonicRegression(out_of_bounds="clip", increasing=True).fit(p[train], y[train])
        truth.append(y[test])
        raw.append(p[test])
        cal.append(iso.predict(p[test]))
    truth, raw, cal = map(np.concatenate, (truth, raw, cal))
    return nannyml_ece(truth, raw) > nannyml_ece(truth, cal)


def nannyml_calibrated(ref, frame):
    from sklearn.isotonic import IsotonicRegression

    columns, decisions = [], []
    for c in CLASSES:
        y, p = (ref["y"] == c).astype(int).to_numpy(), ref[f"p_{c}"].to_numpy()
        decisions.append(nannyml_needs_calibration(y, p))
        iso = IsotonicRegression(out_of_bounds="clip", increasing=True).fit(p, y) if decisions[-1] else None
        columns.append(iso.predict(frame[f"p_{c}"].to_numpy()) if iso else frame[f"p_{c}"].to_numpy())
    out = np.column_stack(columns)
    total = out.sum(axis=1)[:, None]
    return np.divide(out, total, out=np.full_like(out, 1 / len(CLASSES)), where=total != 0), decisions


def nannyml_roc_auc(cal, raw):
    from sklearn.metrics import auc

    order = np.argsort(raw)[::-1]
    raw, cal = raw[order], cal[order]
    tps = np.cumsum(cal)
    fps = 1 + np.arange(len(cal)) - tps
    tps, fps = np.round(np.r_[0, tps], 5), np.round(np.r_[0, fps], 5)
    return auc(fps / fps[-1], tps / tps[-1])


def nannyml_f1(hit, cal):
    tp, fp, fn = np.sum(np.where(hit, cal, 0)), np.sum(np.where(hit, 1 - cal, 0)), np.sum(np.where(hit, 0, cal))
    return tp / (tp + 0.5 * (fp + fn))


def nannyml_chunk(cal, frame):
    hits = [(frame["pred"] == c).to_numpy() for c in CLASSES]
    onehot = np.column_stack(hits).astype(float)
    return {"accuracy": float(np.mean(np.max(onehot * cal, axis=1))),
            "roc_auc": float(np.mean([nannyml_roc_auc(cal[:, j], frame[f"p_{c}"].to_numpy())
                                      for j, c in enumerate(CLASSES)])),
            "f1": float(np.mean([nannyml_f1(hits[j], cal[:, j]) for j in range(len(CLASSES))]))}


# ------------------------------------------------------------------------------ tests
@pytest.mark.parametrize("temperature", [1.0, 1.6])
def test_multiclass_cbpe_equals_nannyml_written_out(temperature):
    ref = two_decimal_multiclass(12_000, 5, temperature=temperature)
    analysis = pd.concat([two_decimal_multiclass(2_000, 50 + i, shift=0.2 * i, temperature=temperature)
                          for i in range(4)], ignore_index=True)
    result = nbt.estimate(ref, analysis, target="y", prediction="pred", proba={c: f"p_{c}" for c in CLASSES},
                          metrics=["accuracy", "roc_auc", "f1"], chunk_size=2_000)
    frame = result.to_frame()
    cal, decisions = nannyml_calibrated(ref, analysis)
    assert result.calibrated == [c for c, d in zip(CLASSES, decisions) if d]
    for i in range(4):
        theirs = nannyml_chunk(cal[i * 2_000:(i + 1) * 2_000], analysis.iloc[i * 2_000:(i + 1) * 2_000])
        ours = frame[frame["chunk"] == frame["chunk"].unique()[i]].set_index("metric")["estimate"]
        for metric, value in theirs.items():
            assert ours[metric] == pytest.approx(value, abs=1e-9), (i, metric)


def test_calibration_check_draws_scikit_learns_splits():
    """The held-out rows of the calibrate-or-not check are StratifiedShuffleSplit's (seed 42), in its
    order: NannyML pools them in that order and bins them sorted, so other draws can flip a class."""
    from sklearn.model_selection import StratifiedShuffleSplit

    rng = np.random.default_rng(1)
    for y in (rng.integers(0, 2, 5_003), rng.integers(0, 3, 777)):
        theirs = StratifiedShuffleSplit(n_splits=10, test_size=0.1, random_state=42).split(np.zeros(len(y)), y)
        for (train, test), (their_train, their_test) in zip(_stratified_splits(y, 10, 0.1, seed=42), theirs,
                                                             strict=True):
            assert np.array_equal(train, their_train) and np.array_equal(test, their_test)


def test_ece_bins_as_nannyml():
    """n // 10 rows a bin, the last one taking the rest (25 rows: 12 bins), ties in numpy's sort order."""
    rng = np.random.default_rng(2)
    for n in (25, 1_000, 5_003):
        p = np.round(rng.random(n), 1)
        y = (rng.random(n) < p).astype(float)
        assert ece(y, p) == pytest.approx(nannyml_ece(y, p), abs=1e-15)


def test_expected_auc_walks_tied_scores_row_by_row():
    """Three rows, two tied: NannyML walks them one at a time (numpy's sort reversed: row 1, then 0),
    which is not the pooled tie of the realised ROC AUC."""
    score, weight = np.array([0.5, 0.5, 0.2]), np.array([0.9, 0.1, 0.3])
    tpr = np.array([0, 0.1, 1.0, 1.3]) / 1.3
    fpr = np.array([0, 0.9, 1.0, 1.7]) / 1.7
    by_hand = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    assert expected_auc(score, weight) == pytest.approx(by_hand, abs=1e-12)
    assert abs(weighted_auc(score, weight) - by_hand) > 1e-3
