"""Drift engine against scipy/numpy on the same data; Profile merge; bad input; the report."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats as ss
from scipy.spatial import distance

import nbtoolkit as nbt
from nbtoolkit.drift import Profile, drift
from nbtoolkit.profiles import stats
from nbtoolkit.errors import BadInput, CheckFailed


def frame(n: int, seed: int, *, shift: float = 0.0, mix: list[float] | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "x": rng.normal(shift, 1.0, n),
        "y": rng.exponential(2.0, n),
        "k": rng.poisson(4, n),
        "cat": rng.choice(["a", "b", "c", "d"], n, p=mix or [0.25] * 4),
    })


# ------------------------------------------------------------------------------ against scipy
@pytest.mark.parametrize("n,m,shift", [(200, 300, 0.0), (800, 600, 0.3), (5000, 4000, 0.05), (3000, 3000, 0.3)])
def test_ks_matches_scipy_exact(n, m, shift):
    ref, cur = frame(n, 1), frame(m, 2, shift=shift)
    for col in ("x", "y", "k"):
        expected = ss.ks_2samp(ref[col], cur[col], method="exact" if n * m < 1e7 else "auto")
        for reference in (ref, Profile.from_frame(ref)):  # raw frame (exact) and stored profile (binned)
            row = drift(cur, reference, method="ks", columns=[col]).columns[col]
            assert abs(row["statistic"] - expected.statistic) <= 0.002, (col, row, expected)
            assert (row["p_value"] < 0.05) == (expected.pvalue < 0.05), (col, row, expected)


def test_chisquare_matches_chi2_contingency():
    ref, cur = frame(700, 3), frame(500, 4, mix=[0.4, 0.2, 0.2, 0.2])
    row = drift(cur, ref, method="chisquare", columns=["cat"]).columns["cat"]
    table = np.vstack([ref["cat"].value_counts().sort_index(), cur["cat"].value_counts().sort_index()])
    expected = ss.chi2_contingency(table)
    assert row["statistic"] == pytest.approx(expected.statistic, rel=1e-9)
    assert row["p_value"] == pytest.approx(expected.pvalue, rel=1e-6)


def test_psi_and_js_match_direct_numpy_on_report_bins():
    ref, cur = frame(4000, 5), frame(3000, 6, shift=0.2)

    def direct(counts_r, counts_c):
        r, c = counts_r / counts_r.sum(), counts_c / counts_c.sum()
        psi = np.sum((np.clip(c, 1e-4, None) - np.clip(r, 1e-4, None))
                     * np.log(np.clip(c, 1e-4, None) / np.clip(r, 1e-4, None)))
        return psi, distance.jensenshannon(r, c)

    for col in ("x", "y"):
        psi_row = drift(cur, ref, method="psi", columns=[col]).columns[col]
        js_row = drift(cur, ref, method="jensenshannon", columns=[col]).columns[col]
        cuts = np.asarray(psi_row["plot"]["bins"])
        assert 8 <= len(cuts) <= 9  # deciles of the reference
        count = lambda v: np.bincount(np.searchsorted(cuts, v, side="right"), minlength=len(cuts) + 1)
        psi, js = direct(count(ref[col].to_numpy()), count(cur[col].to_numpy()))
        assert psi_row["statistic"] == pytest.approx(psi, rel=1e-9)
        assert js_row["statistic"] == pytest.approx(js, rel=1e-9)
    r = ref["cat"].value_counts().sort_index().to_numpy()
    c = cur["cat"].value_counts().sort_index().to_numpy()
    assert drift(cur, ref, method="psi", columns=["cat"]).columns["cat"]["statistic"] == pytest.approx(direct(r, c)[0])
    assert drift(cur, ref, method="jensenshannon", columns=["cat"]).columns["cat"]["statistic"] == pytest.approx(direct(r, c)[1])


def test_wasserstein_close_to_scipy():
    ref, cur = frame(20000, 7), frame(20000, 8, shift=0.3)
    report = drift(cur, ref, method="wasserstein")
    for col in ("x", "y", "k"):
        expected = ss.wasserstein_distance(ref[col], cur[col]) / ref[col].std(ddof=0)
        assert report.columns[col]["statistic"] == pytest.approx(expected, abs=0.01), col


def test_corrections_match_textbook():
    p = [0.01, 0.04, 0.03, 0.005]
    assert stats.adjust(p, "bonferroni") == pytest.approx([0.04, 0.16, 0.12, 0.02])
    assert stats.adjust(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.adjust(p, "fdr_bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])


# ------------------------------------------------------------------------------ verdicts
@pytest.mark.parametrize("n", [600, 20000])
def test_no_drift_on_random_halves(n):
    for seed in range(5):
        whole = frame(2 * n, seed)
        idx = np.random.default_rng(100 + seed).permutation(2 * n)
        a, b = whole.iloc[idx[:n]], whole.iloc[idx[n:]]
        report = drift(b, a, correction="holm")
        assert not report.drifted_columns, (seed, report.to_frame())


@pytest.mark.parametrize("n", [800, 50000])
def test_drift_flagged_on_mean_shift_and_category_mix(n):
    ref = frame(n, 11)
    cur = frame(n, 12, shift=0.3, mix=[0.4, 0.3, 0.15, 0.15])
    report = drift(cur, ref)
    assert sorted(report.drifted_columns) == ["cat", "x"], report.to_frame()
    assert report.drifted and report.share == 0.5
    assert report.columns["x"]["method"] == ("ks" if n <= 1000 else "wasserstein")
    assert report.columns["cat"]["method"] == ("chisquare" if n <= 1000 else "jensenshannon")


def test_thresholds_methods_per_column_and_share():
    ref, cur = frame(3000, 1), frame(3000, 2, shift=0.3)
    report = drift(cur, ref, threshold={"x": 0.5}, method={"y": "psi"}, drift_share=0.25)
    assert report.columns["x"]["threshold"] == 0.5 and not report.columns["x"]["drifted"]
    assert report.columns["y"]["method"] == "psi"
    assert not report.drifted
    assert drift(cur, ref, drift_share=0.2).drifted
    from nbtoolkit import config

    with config.overrides(drift_threshold=0.9):
        assert drift(cur, ref).drift_share == 0.9


# ------------------------------------------------------------------------------ profile
def test_profile_merge_equals_whole_frame_profile():
    whole = frame(30000, 21)
    chunks = [whole.iloc[i:i + 7000] for i in range(0, len(whole), 7000)]
    merged = Profile.from_chunks(chunks)
    direct = Profile.from_frame(whole, like=Profile.from_frame(chunks[0]))
    for col in ("x", "y", "k", "cat"):
        a, b = merged.columns[col], direct.columns[col]
        for key in ("counts", "grid", "cuts", "values", "n", "min", "max", "missing"):
            assert a.get(key) == b.get(key), (col, key)
        if "mean" in a:
            assert a["mean"] == pytest.approx(b["mean"]) and a["m2"] == pytest.approx(b["m2"])
    cur = frame(10000, 22, shift=0.3)
    r1, r2 = drift(cur, merged), drift(cur, direct)
    pd.testing.assert_frame_equal(r1.to_frame(), r2.to_frame())
    assert r1.drifted_columns == ["x"]


def test_profile_json_round_trip_is_small(tmp_path):
    big = frame(200_000, 3)
    p = Profile.from_frame(big)
    text = p.to_json()
    assert len(text) < 60_000  # kilobytes, independent of the 200k rows
    assert Profile.from_json(text) == p
    path = tmp_path / "ref.parquet"
    big.to_parquet(path)
    chunked = Profile.from_parquet(path, chunksize=50_000)
    assert chunked.n_rows == len(big)
    assert chunked.columns["cat"]["counts"] == p.columns["cat"]["counts"]
    assert sum(chunked.columns["x"]["counts"]) == len(big)


def test_merge_refuses_different_bins():
    a, b = Profile.from_frame(frame(500, 1)), Profile.from_frame(frame(500, 2))
    with pytest.raises(BadInput, match="different bins"):
        a.merge(b)
    with pytest.raises(BadInput, match="Not an nbtoolkit profile"):
        Profile.from_json(json.dumps({"format": "other"}))


def test_kinds_text_boolean_datetime_and_high_cardinality():
    rng = np.random.default_rng(0)
    n = 3000
    words = np.array(["printer", "broken", "refund", "login", "please", "help", "urgent", "invoice"])

    def tickets(seed, long=False):
        r = np.random.default_rng(seed)
        body = [" ".join(r.choice(words, r.integers(3, 12 if not long else 30))) + f" #{i}" for i in range(n)]
        return pd.DataFrame({
            "body": body,
            "channel": r.choice(["email", "chat", "phone"], n),
            "vip": r.random(n) < 0.2,
            "created_at": pd.Timestamp("2026-01-01") + pd.to_timedelta(r.integers(0, 10**6, n), unit="s"),
            "user_id": [f"u{v}" for v in r.integers(0, 5000, n)],
        })

    report = drift(tickets(2, long=True), tickets(1))
    rows = report.columns
    assert rows["body"]["type"] == "text" and "length" in rows["body"]["note"] and rows["body"]["drifted"]
    assert rows["vip"]["type"] == "boolean" and not rows["vip"]["drifted"]
    assert rows["created_at"]["method"] == "skipped" and "datetime" in rows["created_at"]["note"]
    assert rows["user_id"]["method"] == "skipped" and "high-cardinality" in rows["user_id"]["note"]
    assert report.drifted_columns == ["body"]
    assert set(report.skipped) == {"created_at", "user_id"}
    del rng


@pytest.mark.parametrize("gone", [np.nan, np.inf, None])
def test_a_current_column_with_no_values_is_drifted_not_skipped(gone):
    """The reference has values, the current data has none (all missing, or all infinite): no
    test applies, but "no drift" would hide that the column stopped arriving."""
    ref, cur = frame(2000, 1), frame(2000, 2)
    cur["x"] = gone
    cur["cat"] = None
    report = drift(cur, ref)
    for name in ("x", "cat"):
        row = report.columns[name]
        assert (row.method, row.drifted, row.statistic, row.threshold, row.n_current) == ("missing", True, 1.0, 0.0, 0)
    what = "missing or infinite" if gone == np.inf else "missing"
    assert report.columns["x"].note.startswith(f"every current value is {what} (reference: 0.0% missing)")
    assert set(report.drifted_columns) == {"x", "cat"} and report.n_drifted == 2 and len(report.tested) == 4
    assert "x: missing=1 (threshold 0)" in report.failure_message()
    assert report.plots() is not None  # the charts of the drifted columns that have one (none here: the first)
    with pytest.raises(BadInput, match="'x' has no chart"):
        report.plot("x")


def test_all_nan_inf_mixed_columns_are_skipped_or_cleaned():
    ref = frame(2000, 1)
    cur = frame(2000, 2)
    ref["empty"], cur["empty"] = np.nan, np.nan
    cur.loc[:9, "x"] = np.inf
    ref["mixed"] = [1, "a"] * 1000
    cur["mixed"] = [2, "b"] * 1000
    report = drift(cur, ref)
    assert report.columns["empty"]["method"] == "skipped" and "missing" in report.columns["empty"]["note"]
    assert report.columns["mixed"]["method"] == "skipped" and "mixed types" in report.columns["mixed"]["note"]
    assert report.columns["x"]["n_current"] == 1990  # inf left out of the test
    assert not report.columns["x"]["drifted"]


@pytest.mark.parametrize("call,match", [
    (lambda ref: drift(ref.iloc[:0], ref), "current data is empty"),
    (lambda ref: drift(ref, ref.iloc[:0]), "reference data is empty"),
    (lambda ref: drift(ref.iloc[:1], ref), "has 1 row"),
    (lambda ref: drift(ref.drop(columns="x"), ref), r"\['x'\] are in the reference but not in the current"),
    (lambda ref: drift(ref, ref, columns=["nope"]), "Unknown column 'nope'"),
    (lambda ref: drift(ref, ref, method="magic"), "Unknown drift method 'magic'"),
    (lambda ref: drift(ref, ref, method={"cat": "ks"}), "'ks' needs a numeric column"),
    (lambda ref: drift(ref, ref, threshold=-1), "positive number"),
    (lambda ref: drift(ref, ref, correction="sidak"), "Unknown correction"),
    (lambda ref: drift(ref), "No reference"),
    (lambda ref: drift(ref, Profile.from_frame(ref), multivariate=True), "raw rows"),
    (lambda ref: drift(ref, "not a frame"), "No such reference file: 'not a frame'; give the path of a CSV"),
    (lambda ref: drift(ref, 42), "must be a pandas DataFrame"),
])
def test_bad_input_is_one_clear_sentence(call, match):
    with pytest.raises(BadInput, match=match):
        call(frame(100, 1))


def test_multivariate_domain_classifier_catches_joint_shift():
    rng = np.random.default_rng(0)
    n = 3000
    a = rng.normal(size=n)
    ref = pd.DataFrame({"a": a, "b": a + rng.normal(0, 0.1, n)})
    c = rng.normal(size=n)
    cur = pd.DataFrame({"a": c, "b": -c + rng.normal(0, 0.1, n)})  # same marginals, broken link
    report = drift(cur, ref, multivariate=True)
    assert not report.drifted_columns
    assert report.multivariate["roc_auc"] > 0.9 and report.drifted
    same = drift(ref.iloc[: n // 2], ref.iloc[n // 2:], multivariate=True)
    assert same.multivariate["roc_auc"] < 0.55 and not same.drifted


def test_prediction_drift_with_an_estimator(iris, iris_model):
    X, _ = iris
    shifted = X.copy()
    shifted["petal_length"] += 1.5
    report = drift(shifted, X, model=iris_model, method="psi")
    assert {"(prediction)", "(confidence)"} <= set(report.columns)
    assert report.columns["(prediction)"]["type"] == "prediction"
    assert report.columns["(prediction)"]["drifted"]
    assert not drift(X, X, model=iris_model).columns["(prediction)"]["drifted"]


def test_the_verdict_line_names_the_drifted_columns_and_predictions(iris, iris_model):
    X, _ = iris
    shifted = X.assign(petal_length=X["petal_length"] + 1.5)
    report = drift(shifted, X, model=iris_model, method="psi")
    first, second = str(report).splitlines()[:2]
    # petal_length and both model outputs drifted: 3 of 6 tested columns reach the 50% share
    assert first.startswith("Drift: DRIFT (3 of 6 columns, threshold 50%) — drifted: ")
    assert set(first.split(" — drifted: ")[1].split(";")[0].split(", ")) == {
        "petal_length", "(prediction)", "(confidence)"}
    assert second.startswith("Prediction drift: DRIFT — ") and "(prediction) psi " in second
    assert report.predictions_drifted and report.to_dict()["predictions_drifted"] is True
    assert report.prediction_summary() in report._repr_html_() and second in report.failure_message()
    calm = drift(X.assign(petal_length=X["petal_length"] * 1.02), X, model=iris_model, drift_share=0.9)
    assert str(calm).splitlines()[0].startswith("Drift: no dataset drift (")
    assert str(calm).splitlines()[1] == "Prediction drift: none — (prediction) no drift; (confidence) no drift"
    plain = drift(X, X)
    assert plain.summary().startswith("Drift: no dataset drift (0 of 4 columns, threshold 50%) — no column drifted")
    assert plain.prediction_summary() is None and "Prediction drift" not in str(plain)


def test_a_partial_null_rate_change_shows_without_a_distribution_change():
    """20% of a column's values gone missing at random: its distribution is the same, the report says so."""
    ref = frame(3000, 1)
    cur = frame(3000, 1)
    rng = np.random.default_rng(5)
    cur.loc[rng.random(len(cur)) < 0.2, "x"] = np.nan
    cur.loc[rng.random(len(cur)) < 0.03, "cat"] = None  # within the tolerance
    report = drift(cur, ref)
    x = report.columns["x"]
    assert not x.drifted and x.missing_changed and x.missing_reference == 0.0
    assert 0.18 < x.missing_current < 0.22 and not report.columns["cat"].missing_changed
    assert report.missing_changed == ["x"] and report.to_dict()["missing_changed"] == ["x"]
    line = report.summary()
    assert f"missing values: x 0.0% → {x.missing_current:.1%}" in line and "cat" not in line.split("missing values")[1]
    text = str(report)
    assert "missing" in text.splitlines()[1] and f"0.0% → {x.missing_current:.1%} !" in text
    assert "nbt-missing-changed" in report._repr_html_() and "missing (ref → cur)" in report._repr_html_()
    calm = drift(ref, ref)._repr_html_()  # every row gives its missing share, zero included (issue 22)
    assert "missing (ref → cur)" in calm and calm.count("0.0% → 0.0%") == len(ref.columns)
    frame_ = report.to_frame().set_index("column")
    assert frame_.loc["x", "missing_current"] == pytest.approx(x.missing_current)
    # from a stored profile too (the reference's missing count is in the profile)
    assert drift(cur, Profile.from_frame(ref)).missing_changed == ["x"]


# ------------------------------------------------------------------------------ report
def test_report_views_and_raise():
    ref, cur = frame(3000, 1), frame(3000, 2, shift=0.5, mix=[0.55, 0.15, 0.15, 0.15])
    report = nbt.drift(cur, ref)  # the package attribute is callable
    assert list(report.to_frame().columns[:7]) == ["column", "type", "method", "statistic", "p_value",
                                                    "threshold", "drifted"]
    d = report.to_dict()
    json.dumps(d)
    assert d["drifted_columns"] == ["x", "cat"]
    row = report.columns["x"]  # a typed record that still reads like the dict it was
    assert row.drifted and row["drifted"] and row.get("plot") == row.plot and not row.get("nope")
    assert list(d["columns"][0]) == ["column", "type", "method", "statistic", "p_value", "threshold",
                                     "drifted", "note", "plot", "n_reference", "n_current",  # JSON keys kept
                                     "missing_reference", "missing_current", "unseen_values", "unseen_rate",
                                     "out_of_range_rate"]
    assert "plot" not in report.to_dict(plots=False)["columns"][0]
    html = report._repr_html_()
    rows = re.findall(r'<tr class="([^"]*)"[^>]*><td[^>]*>([^<]*)</td>', html)
    assert {c for tone, c in rows[:2]} == {"x", "cat"}  # drifted first, marked as bad
    assert all("nbt-bad" in tone.split() for tone, _ in rows[:2])
    assert not any("nbt-bad" in tone.split() for tone, c in rows if c == "y")
    assert len(report.to_html()) < 50_000
    fig = report.plot("x")
    assert fig.axes[0].get_title().startswith("x:")
    assert report.plot("cat").axes[0].patches
    with pytest.raises(BadInput, match="No column 'z'"):
        report.plot("z")
    with pytest.raises(CheckFailed) as info:
        drift(cur, ref, raise_on_drift=True)
    assert "x: wasserstein=" in str(info.value) and info.value.report.drifted
    assert isinstance(info.value, AssertionError)
    assert nbt.drift.Profile is Profile and nbt.drift.drift is drift


def test_current_profile_against_reference_profile(tmp_path):
    ref, cur = frame(20000, 31), frame(20000, 32, shift=0.3)
    ref_path, cur_path = tmp_path / "ref.parquet", tmp_path / "cur.parquet"
    ref.to_parquet(ref_path)
    cur.to_parquet(cur_path)
    ref_p = Profile.from_parquet(ref_path, chunksize=6000)
    cur_p = Profile.from_parquet(cur_path, chunksize=6000, like=ref_p)
    chunked = drift(cur_p, ref_p)
    direct = drift(cur, ref_p)
    pd.testing.assert_frame_equal(chunked.to_frame(), direct.to_frame())
    assert chunked.drifted_columns == ["x"]
    with pytest.raises(BadInput, match="other bins"):
        drift(Profile.from_frame(cur), ref_p)


def test_text_column_with_few_distinct_lengths_against_raw_reference():
    """Text lengths that take only a few values are profiled as discrete on both sides."""
    ref = pd.DataFrame({"body": [f"customer {i:06d} asks about the {t}" for i in range(3000)
                                 for t in ("refund", "parcel")]})
    cur = pd.DataFrame({"body": [f"customer {i:06d} asks about the {t} urgently" for i in range(3000)
                                 for t in ("refund", "parcel")]})
    assert Profile.from_frame(ref).columns["body"]["length"]["kind"] == "discrete"
    report = drift(cur, reference=ref)
    row = report.to_frame().set_index("column").loc["body"]
    assert bool(row["drifted"])


def test_contract_and_profile_share_one_vocabulary_of_column_kinds():
    from nbtoolkit.contract import COLUMN_KINDS, column_kind
    from nbtoolkit.profiles import profile_column

    rng = np.random.default_rng(0)
    n = 500
    df = pd.DataFrame({
        "num": rng.normal(size=n), "few": rng.integers(0, 3, size=n), "flag": rng.uniform(size=n) < 0.5,
        "when": pd.date_range("2024-01-01", periods=n, freq="h"), "cat": rng.choice(["a", "b"], size=n),
        "words": [f"free text number {i}" for i in range(n)], "codes": [f"c{i}" for i in range(n)],
        "mixed": [1, "a"] * (n // 2), "none": [None] * n,
    })
    contract_kinds = {column_kind(df[c]) for c in df}
    profile_kinds = {profile_column(df[c])["kind"] for c in df}
    assert contract_kinds <= set(COLUMN_KINDS) and profile_kinds <= set(COLUMN_KINDS)
    assert {"numeric", "boolean", "datetime", "categorical", "mixed"} <= contract_kinds
    assert {"numeric", "discrete", "boolean", "categorical", "text", "skipped", "empty"} <= profile_kinds


def test_report_html_escapes_user_column_names():
    """Column names and categories are user data: shown as text in the HTML, never as markup."""
    rng = np.random.default_rng(0)
    evil = "<script>alert(1)</script>"
    ref = pd.DataFrame({evil: rng.normal(size=300), "c": rng.choice(["a", "b"], 300)})
    cur = ref.assign(**{evil: ref[evil] + 3})
    report = nbt.drift(cur, ref, log=False)
    for page in (report._repr_html_(), report.to_html()):
        assert evil not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_nbt_drift_is_the_function_whatever_was_imported_first():
    """`import nbtoolkit.drift.timeline` (or `from nbtoolkit.drift import Profile`, as the README
    does) binds the attribute nbtoolkit.drift to the package; it must still run drift()."""
    import subprocess
    import sys

    code = ("import nbtoolkit.drift.timeline\nimport pandas as pd\nimport nbtoolkit as nbt\n"
            "f = pd.DataFrame({'x': [0.1 * i for i in range(2000)]})\n"  # > 1000 rows: no scipy needed
            "r = nbt.drift(f, f, log=False)\n"
            "assert type(r).__name__ == 'DriftReport' and not r.drifted, r\n"
            "from nbtoolkit.drift import Profile, drift\n"
            "assert nbt.Profile is Profile and drift(f, f, log=False).to_dict() == r.to_dict()\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
