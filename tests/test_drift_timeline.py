"""Drift over time: nbt.drift(..., chunk_size=N | window=..., threshold="reference")."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import nbtoolkit as nbt
from nbtoolkit.drift import Profile
from nbtoolkit.profiles import without
from nbtoolkit.profiles.methods import STATISTICS
from nbtoolkit.errors import BadInput
from nbtoolkit.examples.synthetic import DRIFTED, drift_frame


@pytest.fixture(scope="module")
def frames():
    ref = drift_frame(40_000, 1, drifted=False)
    cur = pd.concat([drift_frame(4_000, 10 + i, drifted=i >= 5) for i in range(10)], ignore_index=True)
    return ref, cur


def test_timeline_flags_the_drifted_columns_after_the_change(frames):
    ref, cur = frames
    result = nbt.drift(cur, ref, chunk_size=4_000, threshold="reference", log=False)
    frame = result.to_frame()
    assert list(frame.columns) == ["chunk", "start", "end", "rows", "column", "method", "statistic",
                                   "threshold", "missing", "drifted", "note"]
    assert len(frame) == 10 * 20
    after = frame[frame["start"] >= 20_000]
    for col in DRIFTED:                                   # every drifted column in every later chunk
        assert after[after.column == col]["drifted"].all(), col
    before = frame[frame["start"] < 20_000]
    false_alarms = before["drifted"].mean()
    assert false_alarms < 0.1
    others = after[~after.column.isin(DRIFTED)]
    assert others["drifted"].mean() < 0.1
    assert result.drifted and set(result.matrix().columns) == set(ref.columns)
    assert {m for m in frame["method"]} == {"ks", "chisquare"}


@pytest.mark.parametrize("gone", [np.nan, np.inf])
def test_a_column_that_stops_arriving_is_drifted_with_a_note_and_a_rising_null_rate_shows(gone):
    """Every value missing (or infinite) in a chunk: no statistic to compare, so the cell is
    drifted with a note; a chunk with a third of its values missing keeps its tested verdict but
    shows the share and a note. A NannyML user sees both in the missing-values check."""
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"x": rng.normal(size=4_000), "cat": rng.choice(list("abc"), 4_000)})
    cur = pd.DataFrame({"x": rng.normal(size=1_500), "cat": rng.choice(list("abc"), 1_500)}).astype({"cat": object})
    cur.loc[1_000:, "x"] = gone                                 # chunk 3: x gone
    cur.loc[1_000:, "cat"] = None                               # chunk 3: cat gone
    cur.loc[500:665, "x"] = np.nan                              # chunk 2: a third of x missing
    result = nbt.drift(cur, ref, chunk_size=500, log=False)
    frame = result.to_frame().set_index(["chunk", "column"])
    last = frame.xs("[1000:1499]")
    assert last["drifted"].all() and (last["missing"] == 1.0).all()
    assert last.loc["x", "note"].startswith("every value missing or infinite, nothing to compare")
    assert last.loc["cat", "note"].startswith("every value missing, nothing to compare")
    middle = frame.loc[("[500:999]", "x")]
    assert middle["missing"] == pytest.approx(166 / 500)
    assert middle["note"] == "33.2% of values missing or infinite (reference chunks: up to 0.0%)"
    first = frame.xs("[0:499]")
    assert (first["note"] == "").all() and (first["missing"] == 0).all() and not first["drifted"].any()
    assert result.drifted and "[1000:1499]" in result.drifted_chunks
    text = str(result)
    assert "note: x in chunk [1000:1499]: every value missing" in text and "note: x in chunk [500:999]: 33.2%" in text
    assert "33.2% of values missing" in result._repr_html_()
    assert json.loads(json.dumps(result.to_dict()))["rows"][-1]["note"]


def test_thresholds_are_learned_from_reference_chunks(frames):
    ref, cur = frames
    result = nbt.drift(cur, ref, chunk_size=4_000, threshold_sd=2.0, columns=["num_5"], log=False)
    frame = result.to_frame(reference=True)
    reference = frame[frame.period == "reference"]["statistic"]
    assert frame["threshold"].iloc[0] == pytest.approx(reference.mean() + 2.0 * reference.std(ddof=0))
    wider = nbt.drift(cur, ref, chunk_size=4_000, threshold_sd=6.0, columns=["num_5"], log=False)
    assert wider.to_frame()["threshold"].iloc[0] > frame["threshold"].iloc[0]


def test_fixed_threshold_and_methods(frames):
    ref, cur = frames
    result = nbt.drift(cur, ref, chunk_number=5, threshold=0.1, method="jensenshannon",
                       columns=["num_0", "cat_0", "cat_1"], log=False)
    frame = result.to_frame()
    assert (frame["threshold"] == 0.1).all() and (frame["method"] == "jensenshannon").all()
    assert result.threshold == "fixed"


def test_reference_chunk_statistic_uses_the_rest_of_the_reference(frames):
    """Taking a chunk's counts out of the reference profile equals profiling the other rows."""
    ref, _ = frames
    profile = Profile.from_frame(ref)
    chunk = Profile.from_frame(ref.iloc[:4_000], like=profile)
    rest = Profile.from_frame(ref.iloc[4_000:], like=profile)
    for name in ("num_0", "count_1", "cat_2"):
        left = without(profile.columns[name], chunk.columns[name])
        assert left["counts"] == rest.columns[name]["counts"]
        for method in ("ks", "jensenshannon") if name != "cat_2" else ("chisquare", "psi"):
            assert STATISTICS[method].compare(left, chunk.columns[name]) == pytest.approx(
                STATISTICS[method].compare(rest.columns[name], chunk.columns[name]))


def test_multivariate_reconstruction_error_sees_a_changed_correlation():
    rng = np.random.default_rng(0)

    def correlated(n, rho):
        a = rng.normal(size=n)
        b = rho * a + np.sqrt(1 - rho ** 2) * rng.normal(size=n)
        return pd.DataFrame({"a": a, "b": b, "c": rng.normal(size=n)})

    ref = correlated(20_000, 0.9)
    cur = pd.concat([correlated(2_000, 0.9), correlated(2_000, 0.9), correlated(2_000, -0.9),
                     correlated(2_000, -0.9)], ignore_index=True)
    result = nbt.drift(cur, ref, chunk_size=2_000, multivariate=True, log=False)
    multi = result.multivariate_frame()
    assert multi["drifted"].tolist() == [False, False, True, True]
    # marginals unchanged: no single column flags the correlation flip reliably
    assert result.to_frame()["drifted"].mean() < 0.25
    assert result.multivariate["method"] == "PCA reconstruction error"


def test_window_chunks_and_views(frames):
    ref, cur = frames
    ts = lambda n: pd.Timestamp("2026-03-01") + pd.to_timedelta(np.arange(n) * 60, unit="s")  # noqa: E731
    result = nbt.drift(cur.assign(ts=ts(len(cur))), ref.assign(ts=ts(len(ref))), window="1D", timestamp="ts",
                       columns=["num_0", "cat_0"], multivariate=True, log=False)
    frame = result.to_frame()
    assert frame["rows"].groupby(frame["chunk"]).first().sum() == len(cur)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["multivariate"]["rows"] and "drifted_cells" in data
    assert "Drift over time" in str(result) and "<table" in result._repr_html_()
    import matplotlib

    matplotlib.use("Agg")
    assert len(result.plot().axes) == 3


@pytest.mark.parametrize("kwargs, message", [
    ({"chunk_size": 0}, "chunk_size must be a positive whole number"),
    ({"chunk_size": 100_000}, "larger than the current data"),
    ({"window": "7", "timestamp": "ts"}, "number with a unit"),
    ({"chunk_size": 1000, "threshold": "learned"}, "threshold must be 'reference'"),
    ({"chunk_size": 1000, "threshold_sd": 0}, "threshold_sd must be a positive number"),
    ({"chunk_size": 1000, "method": "ks", "columns": ["cat_0"]}, "needs a numeric column"),
    ({"chunk_size": 1000, "columns": ["nope"]}, "Unknown column 'nope'"),
    ({"chunk_size": 40_000}, "at least 2 reference chunks"),
])
def test_bad_input(frames, kwargs, message):
    ref, cur = frames
    with pytest.raises(BadInput) as err:
        nbt.drift(cur, ref, log=False, **kwargs)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_profile_reference_needs_the_frame(frames):
    ref, cur = frames
    with pytest.raises(BadInput, match="needs the reference frame"):
        nbt.drift(cur, Profile.from_frame(ref), chunk_size=4_000, log=False)


def test_fail_raises_with_the_timeline(frames):
    from nbtoolkit.errors import CheckFailed

    ref, cur = frames
    with pytest.raises(CheckFailed) as err:
        nbt.drift(cur, ref, chunk_size=4_000, columns=["num_0"], fail=True, log=False)
    assert err.value.report.drifted and "Drift over time" in str(err.value)
    with pytest.raises(BadInput, match="instead of model="):
        nbt.drift(cur, ref, model="tickets@champion", chunk_size=4_000, log=False)


def test_magic_and_cli_drift_over_time(ip, frames, tmp_path, capsys):
    from IPython.core.error import UsageError

    from nbtoolkit.cli import main as cli

    ref, cur = frames
    ip.user_ns.update(ref=ref, cur=cur)
    timeline = ip.run_line_magic("nbt", "drift cur --reference ref --chunk-size 4000 --columns num_0,cat_0 --no-plot")
    assert timeline.drifted and set(timeline.to_frame()["column"]) == {"num_0", "cat_0"}
    with pytest.raises(UsageError, match="chunk_size must be a positive whole number"):
        ip.run_line_magic("nbt", "drift cur --reference ref --chunk-size 0")
    ref.to_parquet(tmp_path / "ref.parquet")
    cur.to_parquet(tmp_path / "cur.parquet")
    capsys.readouterr()
    code = cli(["drift", str(tmp_path / "cur.parquet"), "--reference", str(tmp_path / "ref.parquet"),
                "--chunk-number", "10", "--threshold", "reference", "--columns", "num_0", "--fail",
                "--format", "json"])
    assert code == 1
    data = json.loads(capsys.readouterr().out)
    assert data["drifted"] and data["threshold"] == "reference"


def _title_inside(fig) -> bool:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    box = fig._suptitle.get_window_extent()
    return box.x0 >= 0 and box.x1 <= fig.bbox.x1 and box.y1 <= fig.bbox.y1


def test_the_timeline_figure_is_drawn_once_by_the_magic(ip, frames):
    """%nbt drift --chunk-size displayed the figure, and the inline backend drew its pyplot twin again."""
    import matplotlib.pyplot as plt

    ref, cur = frames
    ip.user_ns.update(ref=ref.iloc[:8000], cur=cur.iloc[-8000:])
    shown = []
    ip.display_pub.publish = lambda data, **kw: shown.append(data)
    ip.display_formatter.active_types = [*ip.display_formatter.active_types, "image/png"]
    plt.close("all")
    result = ip.run_line_magic("nbt", "drift cur --reference ref --chunk-size 2000")
    assert result.drifted and sum("image/png" in d for d in shown) == 1
    assert plt.get_fignums() == []  # nothing left for the inline backend to show at the end of the cell


def test_timeline_plot_title_fits_and_chunk_labels_are_unique(frames):
    ref, cur = frames
    result = nbt.drift(cur, ref, chunk_size=4000, columns=["num_0", "cat_0"], log=False)
    fig = result.plot()
    assert _title_inside(fig) and fig._suptitle.get_text().replace("\n", " ") == result.summary()
    # the verdict line names the drifted columns and in how many chunks
    counts = result.to_frame().groupby("column")["drifted"].sum()
    named = result.summary().split(" — drifted: ")[1]
    assert {part.split(" in ")[0] for part in named.split(", ")} == set(counts[counts > 0].index)
    assert f"num_0 in {int(counts['num_0'])} chunk" in named
    labels = [t.get_text() for t in fig.axes[-1].get_xticklabels()]
    assert len(labels) == len(set(labels)) and labels[0] == "ref [0:3999]" and "[0:3999]" in labels
