"""nbt.estimate without proba: regression metrics per chunk from loss models (NannyML's DLE)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import nbtoolkit as nbt
from nbtoolkit.errors import BadInput

FEATURES = ["size", "age", "area"]


def houses(n: int, seed: int, *, shift: float = 0.0) -> pd.DataFrame:
    """Prices whose noise grows with the size (and is doubled in the country): a model's error
    depends on its inputs, so a loss model has something to learn. ``shift`` moves the sizes up."""
    rng = np.random.default_rng(seed)
    size = rng.normal(100 + 60 * shift, 25, n).clip(20)
    age = rng.uniform(0, 50, n)
    area = rng.choice(["city", "suburb", "country"], n, p=[0.4, 0.4, 0.2])
    base = 100 + 2 * size - 0.8 * age + np.select([area == "city", area == "suburb"], [60, 20], 0)
    noise = rng.normal(0, 1, n) * (4 + 0.2 * size) * np.where(area == "country", 2.0, 1.0)
    return pd.DataFrame({"size": size, "age": age, "area": area, "price": base + noise})


def design(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[["size", "age"]].assign(city=frame.area == "city", suburb=frame.area == "suburb")


@pytest.fixture(scope="module")
def model():
    from sklearn.linear_model import LinearRegression

    train = houses(4_000, 1)
    return LinearRegression().fit(design(train), train.price)


def scored(frame: pd.DataFrame, model) -> pd.DataFrame:
    return frame.assign(pred=model.predict(design(frame)))


@pytest.fixture(scope="module")
def frames(model):
    ref = scored(houses(6_000, 2), model)
    steady = scored(houses(5_000, 3), model)
    drifting = scored(pd.concat([houses(500, 10 + i, shift=0.15 * max(0, i - 4)) for i in range(10)],
                                ignore_index=True), model)
    return ref, steady, drifting


def estimate(ref, analysis, **kwargs):
    kwargs = {"target": "price", "prediction": "pred", "features": FEATURES, "chunk_size": 500, **kwargs}
    return nbt.estimate(ref, analysis, **kwargs)


def test_without_shift_the_estimates_are_close_to_the_realised(frames):
    ref, steady, _ = frames
    result = estimate(ref, steady)
    frame = result.to_frame()
    assert result.task == "regression" and result.metrics == ["mae", "mse", "rmse", "mape", "r2"]
    assert len(frame) == 10 * 5 and frame["labelled"].eq(500).all()
    for metric in result.metrics:
        part = frame[frame.metric == metric]
        inside = ((part.realised >= part.lower) & (part.realised <= part.upper)).mean()
        assert inside >= 0.8, (metric, inside)
        off = (part.estimate - part.realised).abs().mean()  # about the sampling noise of the realised value
        assert off < 1.5 * part.sampling_error.mean(), (metric, off, part.sampling_error.mean())
    assert not result.alerted  # no shift, no alert
    assert (frame.alert_lower.dropna() >= 0).all()  # a loss's lower limit is not below 0
    r2 = frame[frame.metric == "r2"]
    assert (r2.upper <= 1).all() and (r2.alert_upper <= 1).all()


def test_the_estimate_moves_with_a_shift_and_alerts(frames):
    ref, _, drifting = frames
    result = estimate(ref, drifting, metrics=["mae", "rmse"])
    mae = result.to_frame().query("metric == 'mae'").reset_index(drop=True)
    before, after = mae.estimate[:5].mean(), mae.estimate[-3:].mean()
    assert after > 1.2 * before  # bigger houses, noisier prices: the estimate follows ...
    assert abs(after - mae.realised[-3:].mean()) < 0.1 * mae.realised[-3:].mean()  # ... to the realised value
    alerted = {r["chunk"] for r in result.alerts if r["metric"] == "mae"}
    assert alerted and alerted <= set(mae.chunk[5:])  # only shifted chunks alert
    assert "mae" in result.summary() and "regression" in result.summary()


def test_realised_where_some_targets_exist_and_the_plot_draws_both(frames):
    ref, steady, _ = frames
    partial = steady.copy()
    partial.loc[partial.index[:2500], "price"] = np.nan
    unlabelled = steady.drop(columns="price")
    result = estimate(ref, partial, metrics="mae,r2")
    frame = result.to_frame()
    assert frame.realised[:4].isna().all() and frame.realised[-4:].notna().all()
    assert set(frame.labelled) == {0, 500}
    assert estimate(ref, unlabelled, metrics="mae").to_frame().realised.isna().all()
    fig = result.plot()
    labels = {t.get_text() for t in fig.axes[0].get_legend().get_texts()}
    assert {"estimated", "realised", "sampling band (±3 se)"} <= labels
    data = json.loads(json.dumps(result.to_dict(), default=str))
    assert data["task"] == "regression" and data["features"] == FEATURES and data["method"] == "dle"
    assert "<table" in result._repr_html_() and "mae" in str(result)


def test_default_features_leave_out_identifiers_and_the_timestamp(frames):
    ref, steady, _ = frames
    stamp = pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(len(ref)), unit="min")
    r = ref.assign(id=np.arange(len(ref)), when=stamp.astype(str))
    a = steady.assign(id=np.arange(len(steady)) + len(ref), when=(stamp[-1] + pd.to_timedelta(
        np.arange(len(steady)), unit="min")).astype(str))
    result = nbt.estimate(r, a, target="price", prediction="pred", metrics=["mae"], chunk_size=500)
    assert result.features == FEATURES
    assert any("id (monotonic" in n and "when (unique per row" in n for n in result.notes)


def test_real_dataset_diabetes_with_a_category():
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    frame = X.assign(sex=np.where(X.sex > 0, "m", "f"), y=y)
    numeric = [c for c in X.columns if c != "sex"]
    model = Ridge(alpha=0.1).fit(frame[numeric][:142], frame.y[:142])
    frame["pred"] = model.predict(frame[numeric])
    ref, analysis = frame[142:292], frame[292:]
    result = nbt.estimate(ref, analysis, target="y", prediction="pred", metrics=["mae", "rmse"], chunk_size=50)
    part = result.to_frame()
    assert len(part) == 6 and set(result.features) == {*numeric, "sex"}
    inside = ((part.realised >= part.lower) & (part.realised <= part.upper)).mean()
    assert inside >= 0.8


@pytest.mark.parametrize(("change", "kwargs", "message"), [
    ("text_target", {}, (r"not numbers; a regression estimate needs a numeric target \(a class label: for a "
                         r"classifier pass proba=COLUMN\)")),
    ("none", {"proba": "pred"}, "proba= is given, but the target column 'price' holds continuous numbers"),
    ("none", {"metrics": ["mae", "roc_auc"]}, "Metric 'roc_auc' is a classifier's, and without proba="),
    ("none", {"metrics": ["rmes"]}, "Unknown metric 'rmes' for regression estimation.*Did you mean"),
    ("small_ref", {"chunk_size": 4_000}, (r"The reference data \(4000 rows\) makes 1 chunk\(s\).*at least 2 "
                                          r"reference chunks: use chunk_size ≤ 2000")),
    ("none", {"chunk_size": 7_000}, "chunk_size=7000 is larger than the analysis data"),
    ("none", {"features": ["size", "nope"]}, "Feature 'nope' is not in the reference data"),
    ("none", {"features": ["price"]}, "features= names the target 'price'"),
    ("none", {"thresholds": {"accuracy": (0.1, None)}}, "thresholds names an unknown metric 'accuracy'"),
    ("none", {"method": "shift"}, "method='shift' is not supported for regression"),
    ("nan_pred", {}, "The prediction column 'pred' of the analysis data has 1 missing value"),
    ("zero_target", {"metrics": ["mape"]}, "MAPE divides by the target, and every reference value"),
])
def test_bad_input_is_one_clear_line(frames, change, kwargs, message):
    ref, steady, _ = frames
    if change == "text_target":
        ref = ref.assign(price=ref.price.round().astype(int).astype(str))
    elif change == "nan_pred":
        steady = steady.copy()
        steady.loc[steady.index[3], "pred"] = np.nan
    elif change == "small_ref":
        ref = ref.iloc[:4_000]
    elif change == "zero_target":
        ref = ref.assign(price=0.0)
    with pytest.raises(BadInput, match=message) as info:
        estimate(ref, steady, **kwargs)
    assert "\n" not in str(info.value)


def test_classification_refuses_regression_metrics_and_a_calibrator_is_refused_for_regression(frames):
    ref, steady, _ = frames
    rng = np.random.default_rng(0)
    clf = pd.DataFrame({"y": rng.integers(0, 2, 2000), "p": rng.uniform(size=2000)}).assign(
        pred=lambda d: (d.p > 0.5).astype(int))
    with pytest.raises(BadInput, match="Metric 'mae' is a regressor's, and proba= makes this a classifier's"):
        nbt.estimate(clf, clf, target="y", prediction="pred", proba="p", metrics=["accuracy", "mae"])
    calibrator = nbt.Calibrator.fit(clf[["p"]].assign(q=1 - clf.p)[["q", "p"]].to_numpy(), clf.y.to_numpy(),
                                    ["0", "1"])
    with pytest.raises(BadInput, match="calibrator= calibrates a classifier's probabilities"):
        estimate(ref, steady, calibrator=calibrator)
    # classification keeps its defaults when metrics is left out
    assert nbt.estimate(clf, clf, target="y", prediction="pred", proba="p").metrics[0] == "accuracy"


def test_fixed_thresholds_let_a_one_chunk_reference_through(frames):
    ref, steady, _ = frames
    result = estimate(ref.iloc[:4_000], steady, metrics=["mae"], chunk_size=4_000, thresholds={"mae": (None, 1.0)})
    assert result.alerted and all(r["alert_upper"] == 1.0 for r in result.rows)


def test_magic_and_cli_end_to_end(ip, frames, tmp_path, capsys):
    from IPython.core.error import UsageError

    from nbtoolkit.cli import main as cli

    ref, _, drifting = frames
    ip.user_ns.update(ref=ref, cur=drifting)
    result = ip.run_line_magic("nbt", "estimate cur --reference ref --target price --prediction pred "
                                      "--features size,age,area --metrics mae,rmse --chunk-size 500")
    assert result.task == "regression" and result.metrics == ["mae", "rmse"] and result.alerted
    with pytest.raises(UsageError, match="Metric 'roc_auc' is a classifier's"):
        ip.run_line_magic("nbt", "estimate cur --reference ref --target price --prediction pred --metrics roc_auc")
    ref.to_parquet(tmp_path / "ref.parquet")
    drifting.to_parquet(tmp_path / "cur.parquet")
    capsys.readouterr()
    code = cli(["estimate", str(tmp_path / "cur.parquet"), "--reference", str(tmp_path / "ref.parquet"),
                "--target", "price", "--prediction", "pred", "--features", "size,age,area", "--metrics", "mae",
                "--chunk-size", "500", "--fail", "--format", "json"])
    assert code == 1
    data = json.loads(capsys.readouterr().out)
    assert data["task"] == "regression" and data["alerted"] and data["metrics"] == ["mae"]
    code = cli(["estimate", str(tmp_path / "cur.parquet"), "--reference", str(tmp_path / "ref.parquet"),
                "--target", "price", "--prediction", "pred", "--proba", "pred"])
    assert code == 2
    assert "proba= is given, but the target column 'price' holds continuous numbers" in capsys.readouterr().err


def test_rank_drifting_columns_by_alerts_and_by_correlation_with_the_performance_change(frames):
    ref, _, drifting = frames
    ref = ref.assign(noise=np.random.default_rng(1).normal(size=len(ref)))
    drifting = drifting.assign(noise=np.random.default_rng(2).normal(size=len(drifting)))
    timeline = nbt.drift(drifting, ref, columns=[*FEATURES, "noise"], chunk_size=500, log=False)
    by_alerts = nbt.rank(timeline)
    assert by_alerts.by == "alerts" and by_alerts.columns[0] == "size"
    frame = by_alerts.to_frame()
    assert list(frame["rank"]) == [1, 2, 3, 4] and frame.alerts.is_monotonic_decreasing
    result = estimate(ref, drifting, metrics=["mae", "rmse"])
    by_corr = nbt.rank(timeline, result)
    top = by_corr.to_frame().iloc[0]
    assert by_corr.by == "correlation" and by_corr.metric == "mae" and top.column == "size"
    assert top.correlation > 0.8 and top.p_value < 0.01
    assert by_corr.to_frame().correlation.iloc[1:].lt(top.correlation).all()
    realised = nbt.rank(timeline, result, metric="rmse", performance="realised", only_drifting=True)
    assert realised.columns[0] == "size" and all(realised.to_frame().drifted)
    assert "size" in str(by_corr) and "<table" in by_corr._repr_html_()
    assert json.loads(by_corr.to_json())["columns"] == by_corr.columns
    with pytest.raises(BadInput, match="rank\\(\\) needs drift over time"):
        nbt.rank(nbt.drift(drifting, ref, columns=FEATURES, log=False))
    with pytest.raises(BadInput, match=r"The estimate.s analysis chunks \(10.*are not the timeline.s \(5"):
        nbt.rank(nbt.drift(drifting, ref, columns=FEATURES, chunk_size=1000, log=False), result)
    with pytest.raises(BadInput, match="The estimate has no metric 'r2'; it has mae, rmse"):
        nbt.rank(timeline, result, metric="r2")
