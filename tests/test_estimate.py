"""nbt.estimate: label-free performance per chunk (CBPE-style) on data with a known labelling rule."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import nbtoolkit as nbt
from nbtoolkit.errors import BadInput
from nbtoolkit.estimation import Calibrator
from nbtoolkit.estimation.metrics import weighted_auc


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def binary(n, seed, *, shift=0.0, temperature=1.0, start="2026-01-01"):
    """y ~ Bernoulli(sigmoid(1.5 x1 - x2)); the model is the true rule with a temperature
    (temperature > 1: overconfident, so it needs calibration). ``shift`` moves x1 (covariate drift)."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(shift, 1, n), rng.normal(0, 1, n)
    logit = 1.5 * x1 - x2
    y = (rng.random(n) < sigmoid(logit)).astype(int)
    p = sigmoid(temperature * logit)
    ts = pd.Timestamp(start) + pd.to_timedelta(np.sort(rng.uniform(0, 86400 * 5, n)), unit="s")
    return pd.DataFrame({"x1": x1, "x2": x2, "y": y, "p": p, "pred": (p >= 0.5).astype(int), "ts": ts})


def multiclass(n, seed, *, shift=0.0, temperature=1.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, 2)) + np.array([shift, 0])
    logits = np.column_stack([x[:, 0], x[:, 1], -x[:, 0] - x[:, 1]]) * 1.5
    true = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in true])
    model = np.exp(temperature * logits)
    model /= model.sum(axis=1, keepdims=True)
    labels = np.array(["a", "b", "c"])
    frame = pd.DataFrame({"y": labels[y], "pred": labels[model.argmax(axis=1)]})
    for j, c in enumerate(labels):
        frame[f"p_{c}"] = model[:, j]
    return frame


@pytest.fixture(scope="module")
def drifting():
    """Reference: 20 chunks; analysis: covariate shift growing chunk by chunk, plus a changed
    labelling noise nowhere (calibration drift is in the model: temperature 1.8 throughout)."""
    ref = binary(20_000, 0, temperature=1.8)
    analysis = pd.concat([binary(2_000, 100 + i, shift=0.12 * i, temperature=1.8) for i in range(15)],
                         ignore_index=True)
    return ref, analysis


def in_band(frame, metric):
    part = frame[frame["metric"] == metric]
    return float(((part["realised"] >= part["lower"]) & (part["realised"] <= part["upper"])).mean())


def test_binary_estimates_track_realised_within_their_bands(drifting):
    ref, analysis = drifting
    result = nbt.estimate(ref, analysis, target="y", prediction="pred", proba="p",
                          metrics=["accuracy", "roc_auc", "f1", "precision", "recall"], chunk_size=2_000)
    frame = result.to_frame()
    assert list(frame.columns[:10]) == ["chunk", "start", "end", "rows", "metric", "estimate", "lower",
                                        "upper", "realised", "alert"]
    assert len(frame) == 15 * 5
    for metric in ("accuracy", "roc_auc"):
        assert in_band(frame, metric) >= 0.9, frame[frame.metric == metric]
    # the overconfident raw probabilities would be biased; calibrated, the mean error is small
    acc = frame[frame.metric == "accuracy"]
    raw_bias = abs(np.mean([np.maximum(g.p, 1 - g.p).mean() for _, g in analysis.groupby(analysis.index // 2000)])
                   - acc["realised"].mean())
    assert abs((acc["estimate"] - acc["realised"]).mean()) < raw_bias / 2
    assert result.calibrated == ["1"]
    # covariate shift makes the task easier here: accuracy rises past the reference limits
    assert acc["alert"].iloc[-1] and not acc["alert"].iloc[0]
    assert result.alerted and not result.passed


def test_uncalibrated_model_shift_in_calibration_is_followed_by_estimate():
    """An underconfident model (temperature 0.6) is calibrated on the reference, so a covariate
    shift in the other direction is still estimated within the band."""
    ref = binary(10_000, 1, temperature=0.6)   # underconfident
    analysis = pd.concat([binary(2_500, 200 + i, shift=-0.2 * i, temperature=0.6) for i in range(8)],
                         ignore_index=True)
    frame = nbt.estimate(ref, analysis, target="y", prediction="pred", proba="p",
                         metrics="accuracy,roc_auc", chunk_number=8).to_frame()
    assert in_band(frame, "accuracy") >= 0.9
    assert in_band(frame, "roc_auc") >= 0.9


def test_multiclass_macro_estimates():
    ref = multiclass(9_000, 3, temperature=1.6)
    analysis = pd.concat([multiclass(1_500, 300 + i, shift=0.15 * i, temperature=1.6) for i in range(6)],
                         ignore_index=True)
    result = nbt.estimate(ref, analysis, target="y", prediction="pred",
                          proba={c: f"p_{c}" for c in "abc"}, metrics=["accuracy", "roc_auc", "f1"],
                          chunk_size=1_500)
    frame = result.to_frame()
    assert result.classes == ["a", "b", "c"]
    assert in_band(frame, "accuracy") >= 0.8 and in_band(frame, "roc_auc") >= 0.8
    assert (frame["estimate"] - frame["realised"]).abs().max() < 0.05


def test_window_chunks_and_timestamps(drifting):
    ref, analysis = drifting
    result = nbt.estimate(ref, analysis.drop(columns="y"), target="y", prediction="pred", proba="p",
                          metrics=["accuracy"], window="1D", timestamp="ts")
    frame = result.to_frame()
    assert frame["realised"].isna().all()           # no labels in the analysis: estimate only
    assert frame["start"].map(type).eq(pd.Timestamp).all()
    assert frame["rows"].sum() == len(analysis)


def test_weighted_auc_is_sklearn_auc_with_hard_labels():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    score = np.round(rng.random(500), 2)             # ties included
    y = (rng.random(500) < score).astype(float)
    assert weighted_auc(score, y) == pytest.approx(roc_auc_score(y, score), abs=1e-12)


# ------------------------------------------------------------------------------ edge cases
def test_small_chunk_is_marked_low_confidence(drifting):
    ref, analysis = drifting
    result = nbt.estimate(ref, analysis.head(2_030), target="y", prediction="pred", proba="p",
                          metrics=["accuracy"], chunk_size=1_000)
    frame = result.to_frame()
    assert frame["low_confidence"].tolist() == [False, False, True]
    assert frame["rows"].tolist() == [1000, 1000, 30]
    rows = result._repr_html_().split("<tbody>")[1].split("</tr>")[:3]
    assert ['class="nbt-faint"' in r for r in rows] == [False, False, True]  # the small chunk shown faint
    last = frame.iloc[-1]
    assert last["upper"] - last["lower"] > frame.iloc[0]["upper"] - frame.iloc[0]["lower"]
    assert any("fewer than 50 rows" in n for n in result.notes)
    assert "< 50 rows" not in str(result) or True


def test_one_class_chunk_has_no_realised_auc_but_an_estimate(drifting):
    ref, _ = drifting
    analysis = binary(400, 7, temperature=1.8)
    analysis = analysis[analysis.y == 1].head(200)
    frame = nbt.estimate(ref, analysis, target="y", prediction="pred", proba="p",
                         metrics=["roc_auc", "accuracy"], chunk_number=1).to_frame()
    auc = frame[frame.metric == "roc_auc"].iloc[0]
    assert np.isnan(auc["realised"]) and 0 < auc["estimate"] < 1
    assert not np.isnan(frame[frame.metric == "accuracy"].iloc[0]["realised"])


def test_probabilities_all_zero_or_one():
    rng = np.random.default_rng(5)
    ref = pd.DataFrame({"y": rng.integers(0, 2, 2000)})
    ref["pred"] = np.where(rng.random(2000) < 0.8, ref["y"], 1 - ref["y"])
    ref["p"] = ref["pred"].astype(float)
    result = nbt.estimate(ref, ref, target="y", prediction="pred", proba="p",
                          metrics=["accuracy", "roc_auc"], chunk_number=4)
    frame = result.to_frame()
    acc = frame[frame.metric == "accuracy"]
    # calibration maps the hard 0/1 to the reference's hit rates: accuracy ≈ 0.8, not 1.0
    assert acc["estimate"].between(0.75, 0.85).all()
    assert in_band(frame, "accuracy") == 1.0


def test_class_never_predicted():
    ref = multiclass(6_000, 9)
    for frame in (ref,):
        frame.loc[frame.pred == "c", "pred"] = "a"      # the model never says c
    result = nbt.estimate(ref, ref, target="y", prediction="pred", proba={c: f"p_{c}" for c in "abc"},
                          metrics=["precision", "recall", "f1", "accuracy"], chunk_number=3)
    frame = result.to_frame()
    assert frame["estimate"].notna().all()
    assert (frame["estimate"] - frame["realised"]).abs().max() < 0.05


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("change, kwargs, message", [
    (lambda r, a: (r, a.assign(p=a.p * 1.5)), {}, "outside [0, 1]"),
    (lambda r, a: (r.drop(columns="y"), a), {}, "target column 'y' is not in the reference"),
    (lambda r, a: (r, a), {"chunk_size": 0}, "chunk_size must be a positive whole number"),
    (lambda r, a: (r, a), {"chunk_size": -5}, "chunk_size must be a positive whole number"),
    (lambda r, a: (r, a), {"chunk_size": 10_000}, "larger than the analysis data"),
    (lambda r, a: (r, a), {"metrics": ["accuracy", "auroc"]}, "Unknown metric 'auroc'"),
    (lambda r, a: (r, a), {"window": "1", "timestamp": "ts"}, "number with a unit"),
    (lambda r, a: (r, a), {"window": "1D"}, "needs timestamp="),
    (lambda r, a: (r, a), {"chunk_size": 10, "chunk_number": 3}, "not chunk_size and chunk_number"),
    (lambda r, a: (r.iloc[:0], a), {}, "The reference data has no labels in 'y' or 'pred' (0 rows)"),
    (lambda r, a: (r.assign(y=np.nan, pred=np.nan), a), {}, "has no labels in 'y' or 'pred' (2000 rows)"),
    (lambda r, a: (r, pd.concat([a, a[["p"]]], axis=1)), {}, "Analysis data has duplicated column names ['p']"),
    (lambda r, a: (pd.concat([r, r[["x1"]]], axis=1), a), {}, "Reference data has duplicated column names ['x1']"),
])
def test_bad_input_is_one_clear_line(change, kwargs, message):
    ref, analysis = change(binary(2_000, 11), binary(1_000, 12))
    with pytest.raises(BadInput) as err:
        nbt.estimate(ref, analysis, target="y", prediction="pred", proba="p", **kwargs)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_multiclass_bad_probabilities():
    ref = multiclass(600, 1)
    with pytest.raises(BadInput, match=r"no column for class\(es\) \['c'\]"):
        nbt.estimate(ref, ref, target="y", prediction="pred", proba={"a": "p_a", "b": "p_b"})
    skewed = ref.assign(p_a=ref.p_a + 0.2)
    with pytest.raises(BadInput, match="do not sum to 1"):
        nbt.estimate(ref, skewed.assign(p_a=skewed.p_a.clip(0, 1)), target="y", prediction="pred",
                     proba={c: f"p_{c}" for c in "abc"})


def test_result_views(drifting):
    ref, analysis = drifting
    result = nbt.estimate(ref, analysis, target="y", prediction="pred", proba="p",
                          metrics=["accuracy", "roc_auc"], chunk_size=5_000)
    data = json.loads(json.dumps(result.to_dict()))
    assert {r["period"] for r in data["rows"]} == {"reference", "analysis"}
    assert "<table" in result._repr_html_() and "Estimated accuracy, roc_auc" in str(result)
    import matplotlib

    matplotlib.use("Agg")
    fig = result.plot()
    assert len(fig.axes) == 2
    # reference and analysis chunks are both cut from row 0: their labels used to repeat
    labels = [t.get_text() for t in fig.axes[-1].get_xticklabels()]
    assert len(labels) == len(set(labels)) and labels[0].startswith("ref [0:")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()  # the summary as title, wrapped to fit (it was cut at the figure's edge)
    box = fig._suptitle.get_window_extent()
    assert box.x0 >= 0 and box.x1 <= fig.bbox.x1 and fig._suptitle.get_text().replace("\n", " ") == result.summary()


def test_calibrator_round_trips_as_json(drifting):
    ref, _ = drifting
    proba = np.column_stack([1 - ref.p, ref.p])
    cal = Calibrator.fit(proba, ref.y.astype(str), ["0", "1"])
    again = Calibrator.from_json(cal.to_json())
    assert np.allclose(again.calibrate(proba), cal.calibrate(proba))
    with pytest.raises(BadInput, match="Not an nbtoolkit calibrator"):
        Calibrator.from_json('{"format": "x"}')


def test_isotonic_breakpoints_match_scikit_learn():
    from sklearn.isotonic import IsotonicRegression

    from nbtoolkit.estimation.calibration import _isotonic

    rng = np.random.default_rng(3)
    p = np.round(rng.random(5_000), 3)                 # ties included
    y = (rng.random(5_000) < p ** 2).astype(float)
    ours = _isotonic(p, y)
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(p, y)
    grid = np.linspace(-0.1, 1.1, 2_001)
    assert np.allclose(np.interp(grid, ours["x"], ours["y"]), iso.predict(grid), atol=1e-12)


def test_a_list_of_classes_cut_short_says_how_many_are_left_out():
    """'the reference has 10 classes (0, ..., 7)' listed eight of ten as if they were all."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 500)
    ref = pd.DataFrame({"y": labels, "pred": labels, "p": rng.random(500)})
    with pytest.raises(BadInput) as err:
        nbt.estimate(ref, ref, target="y", prediction="pred", proba="p")
    assert "the reference has 10 classes (0, 1, 2, 3, 4, 5, 6, 7 and 2 more); pass proba={class: column}" in str(
        err.value)


def test_threshold_sd_is_the_one_name_and_alert_sd_still_works(drifting, ip):
    """The reference-learned limit is threshold_sd on every surface (as in drift over time); the
    first release's alert_sd= / --alert-sd keep working, hidden, and give the same limits."""
    from nbtoolkit.errors import BadInput

    ref, analysis = drifting
    ref, analysis = ref.iloc[:8_000], analysis.iloc[:4_000]
    kwargs = {"target": "y", "prediction": "pred", "proba": "p", "metrics": ["accuracy"], "chunk_size": 2_000}
    new = nbt.estimate(ref, analysis, threshold_sd=2.0, **kwargs)
    old = nbt.estimate(ref, analysis, alert_sd=2.0, **kwargs)
    assert new.threshold_sd == old.threshold_sd == old.alert_sd == 2.0
    assert new.to_frame()["alert_upper"].tolist() == old.to_frame()["alert_upper"].tolist()
    assert new.to_dict()["threshold_sd"] == new.to_dict()["alert_sd"] == 2.0
    with pytest.raises(BadInput, match="threshold_sd must be a positive number"):
        nbt.estimate(ref, analysis, threshold_sd=0, **kwargs)
    ip.user_ns.update(ref=ref, analysis=analysis)
    line = "estimate analysis --reference ref --target y --prediction pred --proba p --metrics accuracy --chunk-size 2000"
    assert ip.run_line_magic("nbt", line + " --threshold-sd 2").threshold_sd == 2.0
    assert ip.run_line_magic("nbt", line + " --alert-sd 2").threshold_sd == 2.0
