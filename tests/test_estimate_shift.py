"""nbt.estimate(method="shift"|"auto"): the reference reweighted per chunk before calibrating.

A real scikit-learn model (one-hot category + logistic regression) scores on x2 and c only; the
labels are noisier where x1 > 1 or c == "c" (P(y | x) fixed), so the model is overconfident there
and nearly calibrated elsewhere. The analysis moves into that region chunk by chunk.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import nbtoolkit as nbt
from nbtoolkit.errors import BadInput
from nbtoolkit.estimation.density import kish
from nbtoolkit.estimation.shift import MIN_ESS

FEATURES = ["x1", "x2", "c"]
KW = {"target": "y", "prediction": "pred", "proba": "p", "metrics": ["accuracy", "roc_auc"], "chunk_size": 2_000}


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def world(n, seed, *, shift=0.0, share_c=0.1, noisy_region=True):
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(shift, 1, n), rng.normal(0, 1, n)
    c = np.where(rng.random(n) < share_c, "c", rng.choice(["a", "b"], n))
    z = 2.0 * x2 + 0.5 * (c == "a")
    region = ((x1 > 1) | (c == "c")) if noisy_region else np.zeros(n, dtype=bool)
    y = (rng.random(n) < sigmoid(np.where(region, z / 3, z))).astype(int)
    return pd.DataFrame({"x1": x1, "x2": x2, "c": c, "y": y})


@pytest.fixture(scope="module")
def model():
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    train = world(20_000, 1)
    prep = ColumnTransformer([("c", OneHotEncoder(), ["c"])], remainder="passthrough")
    return make_pipeline(prep, LogisticRegression()).fit(train[["x2", "c"]], train["y"])


def scored(model, frame):
    p = model.predict_proba(frame[["x2", "c"]])[:, 1]
    return frame.assign(p=p, pred=(p >= 0.5).astype(int))


@pytest.fixture(scope="module")
def frames(model):
    ref = scored(model, world(20_000, 2))
    analysis = pd.concat([scored(model, world(2_000, 100 + i, shift=0.4 * i, share_c=0.1 + 0.08 * i))
                          for i in range(6)], ignore_index=True)
    return ref, analysis


def error(frame, method, metric="accuracy"):
    part = frame[(frame.metric == metric) & (frame.method == method)]
    return float((part["estimate"] - part["realised"]).abs().mean())


def test_shift_follows_the_region_the_analysis_moved_into(frames):
    ref, analysis = frames
    result = nbt.estimate(ref, analysis, method="auto", features=FEATURES, **KW)
    frame = result.to_frame()
    assert set(frame["method"]) == {"cbpe", "shift"} and len(frame) == 6 * 2 * 2
    for metric in ("accuracy", "roc_auc"):
        assert error(frame, "shift", metric) < 0.4 * error(frame, "cbpe", metric), metric
    # CBPE keeps the reference's calibration: its error grows as the chunks move into the region
    acc = frame[(frame.metric == "accuracy") & (frame.method == "cbpe")]
    assert (acc["estimate"] - acc["realised"]).iloc[-1] > 0.05
    # the first chunk has hardly moved: the two agree there, and disagree on the last ones
    assert result.disagreeing[-3:] == list(acc["chunk"].iloc[-3:]) and acc["chunk"].iloc[0] not in result.disagreeing
    assert "disagree beyond their bands on" in " ".join(result.notes)
    assert "they disagree on" in result.summary()


def test_cbpe_is_the_default_and_unchanged(frames):
    ref, analysis = frames
    default = nbt.estimate(ref, analysis, **KW).to_frame()
    cbpe = nbt.estimate(ref, analysis, method="cbpe", features=FEATURES, **KW).to_frame()
    auto = nbt.estimate(ref, analysis, method="auto", features=FEATURES, **KW).to_frame()
    assert (default["method"] == "cbpe").all() and default["disagree"].eq(False).all()
    cols = ["chunk", "metric", "estimate", "lower", "upper", "realised", "alert"]
    pd.testing.assert_frame_equal(default[cols], cbpe[cols])
    pd.testing.assert_frame_equal(default[cols], auto[auto.method == "cbpe"][cols].reset_index(drop=True))
    # the estimate is CBPE's: the mean calibrated probability of the predicted class
    from nbtoolkit.estimation import Calibrator

    raw = np.column_stack([1 - ref.p, ref.p])
    cal = Calibrator.fit(raw, ref.y.to_numpy(), ["0", "1"])
    first = analysis.iloc[:2_000]
    probs = cal.calibrate(np.column_stack([1 - first.p, first.p]))
    expected = probs[np.arange(2_000), first.pred.to_numpy()].mean()
    assert default[default.metric == "accuracy"]["estimate"].iloc[0] == pytest.approx(expected, abs=1e-12)


def test_a_change_the_model_cannot_see_is_flagged_by_auto(model):
    """Concept shift as the model sees it: P(y | x2, c) changes in the last chunk because the
    labels there depend on x1 (a named feature the model does not use); auto flags that chunk only.
    """
    ref = scored(model, world(20_000, 3))
    calm = [scored(model, world(2_000, 300 + i)) for i in range(3)]
    moved = scored(model, world(2_000, 310, shift=2.5))
    result = nbt.estimate(ref, pd.concat([*calm, moved], ignore_index=True), method="auto", features=FEATURES, **KW)
    assert result.disagreeing == ["[6000:7999]"]
    frame = result.to_frame()
    last = frame[(frame.chunk == "[6000:7999]") & (frame.metric == "accuracy")].set_index("method")
    assert abs(last.at["shift", "estimate"] - last.at["shift", "realised"]) < abs(
        last.at["cbpe", "estimate"] - last.at["cbpe", "realised"]) / 2


def test_a_concept_shift_inside_an_unmoved_population_is_seen_by_neither(model):
    """The limit, stated: when only P(y | x) changes and x does not move, both estimates agree
    (neither sees labels), so auto flags nothing; only realised values show it."""
    ref = scored(model, world(20_000, 4, noisy_region=False))
    changed = scored(model, world(4_000, 400, noisy_region=True))  # same x, noisier labels
    result = nbt.estimate(ref, changed, method="auto", features=FEATURES, **KW)
    frame = result.to_frame()
    assert result.disagreeing == []
    acc = frame[frame.metric == "accuracy"]
    assert ((acc["estimate"] - acc["realised"]) > 0.03).all()


def test_effective_sample_size_and_low_confidence(frames, model):
    ref, analysis = frames
    far = scored(model, world(2_000, 500, shift=4.0, share_c=0.9))       # far outside the reference
    data = pd.concat([analysis.iloc[:2_000], far], ignore_index=True)
    result = nbt.estimate(ref, data, method="shift", features=FEATURES, **KW)
    frame = result.to_frame()
    acc = frame[frame.metric == "accuracy"].reset_index(drop=True)
    assert (acc["method"] == "shift").all()
    near, outside = acc.iloc[0], acc.iloc[1]
    assert 0.5 * len(ref) < near["ess"] <= len(ref) and not near["low_confidence"]
    assert outside["ess"] < MIN_ESS and outside["low_confidence"]
    assert "effective sample size below" in " ".join(result.notes)
    # the band widens as the reference's weight concentrates: se · sqrt(1 + n / ESS)
    cbpe = nbt.estimate(ref, data, **KW).to_frame()
    se_cbpe = cbpe[cbpe.metric == "accuracy"]["sampling_error"].to_numpy()
    assert acc["sampling_error"].to_numpy() == pytest.approx(se_cbpe * np.sqrt(1 + 2_000 / acc["ess"].to_numpy()))
    # reference rows keep CBPE's calibration and carry the reference's size
    full = result.to_frame(reference=True)
    assert (full[full.period == "reference"]["ess"] == len(ref)).all()
    assert kish(np.ones(10)) == 10.0 and kish(np.r_[np.ones(9), 0.0]) == pytest.approx(9.0)


def test_identifier_and_timestamp_features_are_left_out_with_a_note(frames):
    ref, analysis = frames
    ref = ref.assign(row_id=np.arange(len(ref)), ts=pd.date_range("2026-01-01", periods=len(ref), freq="min"),
                     key=[f"k{i}" for i in range(len(ref))])
    analysis = analysis.assign(row_id=np.arange(len(analysis)) + len(ref),
                               ts=pd.date_range("2026-03-01", periods=len(analysis), freq="min"),
                               key=[f"a{i}" for i in range(len(analysis))])
    result = nbt.estimate(ref, analysis, method="shift", features=["row_id", "ts", "key", *FEATURES], **KW)
    notes = " ".join(result.notes)
    for col, why in (("row_id", "monotonic"), ("ts", "a datetime"), ("key", "unique per row")):
        assert f"Feature {col!r} looks like an identifier or timestamp ({why}" in notes
    plain = nbt.estimate(ref, analysis, method="shift", features=FEATURES, **KW).to_frame()
    assert np.allclose(result.to_frame()["estimate"], plain["estimate"], atol=1e-12)


@pytest.mark.parametrize("kwargs, message", [
    ({"method": "shfit", "features": FEATURES}, "Unknown estimation method 'shfit'; use one of cbpe, shift, auto"),
    ({"method": None}, "Unknown estimation method None"),
    ({"method": "shift"}, "method='shift' needs features=[...]"),
    ({"method": "auto", "features": []}, "features is empty"),
    ({"method": "shift", "features": ["x1", "nope"]}, "Feature 'nope' is not in the reference data"),
    ({"method": "shift", "features": ["x1", "y"]}, "features= names the target 'y'"),
    ({"method": "shift", "features": ["row_id"]}, "None of features=['row_id'] can be used"),
    ({"method": "shift", "features": object()}, "features must be a list of column names"),
    ({"method": "shift", "features": FEATURES, "proba": None}, "not supported for regression yet"),
])
def test_bad_input_is_one_line(frames, kwargs, message):
    ref, analysis = frames
    ref = ref.iloc[:4_000].assign(row_id=np.arange(4_000))
    analysis = analysis.iloc[:4_000].assign(row_id=np.arange(4_000) + 4_000)
    with pytest.raises(BadInput) as err:
        nbt.estimate(ref, analysis, **{**KW, **kwargs})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_views_and_plot_of_auto(frames):
    ref, analysis = frames
    result = nbt.estimate(ref, analysis, method="auto", features=FEATURES, **KW)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["method"] == "auto" and data["disagreeing"] == result.disagreeing
    assert {"method", "ess", "disagree"} <= set(data["rows"][0])
    text = str(result)
    assert "shift" in text and "disagree" in text.splitlines()[1]
    assert 'class="nbt-bad"' in result._repr_html_()
    import matplotlib

    matplotlib.use("Agg")
    fig = result.plot()
    labels = {t.get_text() for t in fig.axes[0].get_legend().get_texts()}
    assert {"CBPE", "disagree", "estimated"} <= labels


def test_magic_and_cli(ip, frames, tmp_path, capsys):
    from IPython.core.error import UsageError

    from nbtoolkit.cli import main as cli

    ref, analysis = frames
    ip.user_ns.update(ref=ref, live=analysis.drop(columns="y"))
    result = ip.run_line_magic("nbt", "estimate live --reference ref --target y --prediction pred --proba p "
                                      "--metrics accuracy --chunk-size 2000 --method auto --features x1,x2,c")
    assert result.method == "auto" and len(result.disagreeing) >= 3
    assert result.to_frame()["realised"].isna().all()
    with pytest.raises(UsageError, match="Unknown estimation method 'pape'"):
        ip.run_line_magic("nbt", "estimate live --reference ref --target y --prediction pred --proba p --method pape")
    with pytest.raises(UsageError, match="method='shift' needs features"):
        ip.run_line_magic("nbt", "estimate live --reference ref --target y --prediction pred --proba p --method shift")
    ref.to_parquet(tmp_path / "ref.parquet")
    analysis.to_parquet(tmp_path / "cur.parquet")
    capsys.readouterr()
    code = cli(["estimate", str(tmp_path / "cur.parquet"), "--reference", str(tmp_path / "ref.parquet"),
                "--target", "y", "--prediction", "pred", "--proba", "p", "--metrics", "accuracy",
                "--chunk-size", "2000", "--method", "shift", "--features", "x1,x2,c", "--format", "json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["method"] == "shift" and {r["method"] for r in data["rows"]} == {"shift"}
    code = cli(["estimate", str(tmp_path / "cur.parquet"), "--reference", str(tmp_path / "ref.parquet"),
                "--target", "y", "--prediction", "pred", "--proba", "p", "--method", "shift"])
    assert code == 2 and "needs" in capsys.readouterr().err


def test_domain_classifier_fit_reaches_the_optimum_from_a_far_start():
    """The per-chunk logistic regression starts from the previous chunk's coefficients; a full Newton
    step from a far start once ran away (|β| ~ 1e12 on US census's later chunks, the weights noise).
    With its line search it lands on scikit-learn's penalised optimum from any start."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    from nbtoolkit.estimation.density import logistic

    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    theirs = LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000).fit(X, y)   # same penalty: ½|β|², intercept free
    expected = np.r_[theirs.intercept_, theirs.coef_[0]]
    for start in (None, np.full(X.shape[1] + 1, 30.0), -expected * 20):
        beta = logistic(X, y.astype(float), start=start, tol=1e-8, iterations=100)
        assert beta == pytest.approx(expected, abs=1e-4)
