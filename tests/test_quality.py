"""Data quality over time (nbt.quality): NannyML's values and alert rules, by hand on a small frame."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import nbtoolkit as nbt
from nbtoolkit.errors import BadInput


@pytest.fixture
def frames():
    ref = pd.DataFrame({"x": [1.0, 2, 3, 4, np.nan, 6, 7, 8],
                        "c": ["a", "b", "a", "b", "a", "b", "a", None],
                        "d": ["u", "v", "u", "v", "u", "v", "u", "v"]})
    cur = pd.DataFrame({"x": [np.nan, np.nan, 9.0, 1, 2, 3],
                        "c": ["a", "z", "z", "b", "a", "b"],
                        "d": ["u", None, "u", "v", "u", "v"]})
    return ref, cur


def cell(result, chunk, column, metric, period="analysis"):
    (row,) = [r for r in result.rows if (r["period"], r["chunk"], r["column"], r["metric"]) ==
              (period, chunk, column, metric)]
    return row


def test_values_limits_and_alerts_match_a_hand_computation(frames):
    ref, cur = frames
    result = nbt.quality(cur, reference=ref, chunk_size=2)
    # missing rate of x per reference chunk: 0, 0, 0.5, 0 -> mean 0.125, population sd 0.2165
    sd = math.sqrt((3 * 0.125 ** 2 + 0.375 ** 2) / 4)
    row = cell(result, "[0:1]", "x", "missing_rate")
    assert row["value"] == 1.0 and row["lower"] == 0.0 and row["upper"] == pytest.approx(0.125 + 3 * sd, abs=1e-12)
    assert row["alert"] and not cell(result, "[2:3]", "x", "missing_rate")["alert"]
    # mean of x per reference chunk 1.5, 3.5, 6, 7.5; chunk [2:3] of the analysis: (9 + 1) / 2
    means = [1.5, 3.5, 6.0, 7.5]
    mu, sd = np.mean(means), np.std(means)
    row = cell(result, "[2:3]", "x", "mean")
    assert row["value"] == 5.0 and row["lower"] == pytest.approx(mu - 3 * sd) and not row["alert"]
    # an all-missing chunk has no mean (NaN alerts, as NannyML's summary statistics do); its sum is 0
    assert math.isnan(cell(result, "[0:1]", "x", "mean")["value"]) and cell(result, "[0:1]", "x", "mean")["alert"]
    assert cell(result, "[0:1]", "x", "sum")["value"] == 0.0
    assert cell(result, "[2:3]", "x", "median")["value"] == 5.0
    assert cell(result, "[2:3]", "x", "std")["value"] == pytest.approx(np.std([9, 1], ddof=1))
    # out of the reference range [1, 8]: 9 in chunk [2:3]; a missing value is never out of range
    assert cell(result, "[2:3]", "x", "out_of_range_rate")["value"] == 0.5
    assert cell(result, "[2:3]", "x", "out_of_range_rate")["alert"]
    assert cell(result, "[0:1]", "x", "out_of_range_rate")["value"] == 0.0
    # unseen: 'z' is new; a missing value is seen for c (the reference had one), unseen for d
    assert [cell(result, k, "c", "unseen_rate")["value"] for k in ("[0:1]", "[2:3]", "[4:5]")] == [0.5, 0.5, 0.0]
    assert cell(result, "[0:1]", "d", "unseen_rate")["value"] == 0.5
    assert cell(result, "[0:1]", "d", "unseen_rate")["alert"] and not cell(result, "[4:5]", "c", "unseen_rate")["alert"]
    # categorical columns get no summary statistics; numeric ones no unseen rate
    assert {r["metric"] for r in result.rows if r["column"] == "c"} == {"missing_rate", "unseen_rate"}
    assert "unseen_rate" not in {r["metric"] for r in result.rows if r["column"] == "x"}
    assert cell(result, "[0:1]", "(rows)", "rows")["value"] == 2
    assert result.alerted and ("[0:1]", "x", "missing_rate") in result.alerts


def test_an_all_missing_chunk_is_reported_not_a_crash(frames):
    ref, cur = frames
    result = nbt.quality(cur, reference=ref, chunk_size=2, columns=["x"])
    assert result.notes == ["x in chunk [0:1]: every value is missing"]
    assert "every value is missing" in str(result) and "every value is missing" in result._repr_html_()


def test_views_and_json(frames):
    ref, cur = frames
    result = nbt.quality(cur, reference=ref, chunk_size=2, threshold_sd=2)
    frame = result.to_frame()
    assert list(frame.columns) == ["chunk", "start", "end", "rows", "column", "metric", "value", "lower", "upper",
                                   "alert"]
    assert set(frame.chunk) == {"[0:1]", "[2:3]", "[4:5]"}
    assert len(result.to_frame(reference=True)) > len(frame)
    data = json.loads(result.to_json())
    assert data["alerted"] and data["threshold_sd"] == 2.0 and data["kinds"] == {
        "x": "numeric", "c": "categorical", "d": "categorical"}
    assert "nbt-bad" in result._repr_html_() and result.summary().startswith("Data quality: 3 chunk(s)")
    assert result.matrix().loc["[0:1]", "x"] >= 1
    fig = result.plot("missing_rate")
    assert len(fig.axes) == 3
    with pytest.raises(BadInput, match="No column has the metric 'nope'"):
        result.plot("nope")


def test_a_calm_period_raises_no_alert():
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=4000), "c": rng.choice(list("abc"), 4000)})
    cur = pd.DataFrame({"x": rng.normal(size=2000).clip(-2, 2), "c": rng.choice(list("abc"), 2000)})
    result = nbt.quality(cur, reference=ref, chunk_size=500)
    assert not [a for a in result.alerts if a[2] != "rows"], result.alerts


@pytest.mark.parametrize("kwargs, says", [
    ({"columns": ["nope"]}, "Unknown column 'nope': not in the reference"),
    ({"chunk_size": 8}, "The reference gives 1 chunk .* needs at least 2: use a smaller chunk_size \\(at most 4\\)"),
    ({"threshold_sd": -1}, "threshold_sd must be a positive number"),
    ({"chunk_size": 2, "chunk_number": 2}, "Give one of chunk_size, chunk_number or window"),
])
def test_bad_input_is_one_line(frames, kwargs, says):
    ref, cur = frames
    with pytest.raises(BadInput, match=says) as info:
        nbt.quality(cur, reference=ref, **kwargs)
    assert "\n" not in str(info.value)


def test_a_column_missing_from_the_analysis_is_refused(frames):
    ref, cur = frames
    with pytest.raises(BadInput, match=r"\['d'\] are in the reference but not in the analysis data"):
        nbt.quality(cur.drop(columns="d"), reference=ref, chunk_size=2)


def test_magic_and_cli_end_to_end(ip, frames, tmp_path, capsys):
    from IPython.core.error import UsageError

    from nbtoolkit.cli import main as cli

    ref, cur = frames
    ip.user_ns.update(ref=ref, cur=cur)
    result = ip.run_line_magic("nbt", "quality cur --reference ref --chunk-size 2")
    assert result.alerted and result.chunking == "chunks of 2 rows"
    assert ip.run_line_magic("nbt", "data quality cur --reference ref --chunk-size 2 --columns c").columns == ["c"]
    with pytest.raises(UsageError, match="Unknown column 'nope'"):
        ip.run_line_magic("nbt", "quality cur --reference ref --columns nope")
    ref.to_parquet(tmp_path / "ref.parquet")
    cur.to_csv(tmp_path / "cur.csv", index=False)
    capsys.readouterr()
    code = cli(["data", "quality", str(tmp_path / "cur.csv"), "--reference", str(tmp_path / "ref.parquet"),
                "--chunk-size", "2", "--format", "json", "--fail"])
    assert code == 1
    data = json.loads(capsys.readouterr().out)
    assert data["alerted"] and ["[0:1]", "x", "missing_rate"] in data["alerts"]
    code = cli(["data", "quality", str(tmp_path / "cur.csv"), "--reference", str(tmp_path / "ref.parquet"),
                "--chunk-size", "8"])
    assert code == 2 and "needs at least 2" in capsys.readouterr().err


def test_monitor_reports_the_quality_of_the_logged_inputs(nbt_home):
    """Per window: the highest missing / unseen / out-of-range rate against the reference profile,
    the columns named, and rules on them (unseen_rate>0) fire."""
    from nbtoolkit.monitoring import PredictionLog, monitor

    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"x": rng.uniform(0, 10, 1000), "c": rng.choice(["a", "b"], 1000)})
    good = pd.DataFrame({"x": rng.uniform(0, 10, 100), "c": rng.choice(["a", "b"], 100)})
    bad = good.copy()
    bad.loc[:19, "c"] = "zz"        # 20 % unseen
    bad.loc[20:29, "x"] = 50.0      # 10 % out of range
    bad.loc[30:59, "x"] = np.nan    # 30 % missing
    live = pd.concat([good, bad], ignore_index=True)
    PredictionLog().log("q/1", live, ["y"] * 200, confidence=[0.9] * 200, registered=False,
                        timestamps=pd.date_range("2026-02-01", periods=200, freq="min"))
    report = monitor("q", rows=100, reference=reference, alerts=["unseen_rate>0", "missing_rate>0.2"])
    frame = report.to_frame()
    assert frame["unseen_rate"].tolist() == [0.0, 0.2] and frame["out_of_range_rate"].tolist() == [0.0, 0.1]
    assert frame["missing_rate"].tolist() == [0.0, 0.3]
    assert frame["quality_columns"].iloc[1] == "x missing 30%, x out of range 10%, c unseen 20%"
    assert {a.rule for a in report.alerts} == {"unseen_rate>0", "missing_rate>0.2"}
