"""One declaration per drift statistic (nbtoolkit.profiles.methods), the same number on both paths.

For every registered statistic — a new one included, since the cases are read from the registry —
drift() comparing the current data with the reference once and the drift timeline with a single
chunk give the same value on every kind of column the statistic applies to.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nbtoolkit as nbt
from nbtoolkit.profiles import Profile
from nbtoolkit.profiles.methods import CHOICES, STATISTICS, Statistic, aligned, markdown_table

ROOT = Path(__file__).resolve().parents[1]

WORDS = np.array(["printer jam on floor two", "cannot log in after reset", "refund for double charge",
                  "app crashes on start", "slow page loads today"])


def frame(n: int, seed: int, *, shifted: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    move = 0.4 if shifted else 0.0
    levels = ["a", "b", "c", "d", "new_1", "new_2"]  # the last two only in the current data: unseen levels
    p = np.array([0.3, 0.3, 0.2, 0.05, 0.1, 0.05] if shifted else [0.4, 0.3, 0.2, 0.1, 0.0, 0.0])
    text = [f"{WORDS[i]} #{j}" for i, j in zip(rng.integers(0, 5, n), rng.integers(0, 10 ** 6, n))]
    out = pd.DataFrame({
        "float": rng.normal(move, 1.0, n),
        "integer": rng.poisson(4 + 2 * move, n),
        "discrete": rng.choice([1, 2, 3], n, p=[0.5, 0.3, 0.2] if not shifted else [0.35, 0.35, 0.3]),
        "category": rng.choice(levels, n, p=p / p.sum()),
        "flag": rng.uniform(size=n) < (0.3 + move / 2),
        "text": [t + " and more" * int(shifted and k % 3 == 0) for k, t in enumerate(text)],
    })
    out.loc[rng.choice(n, n // 20, replace=False), "float"] = np.nan  # missing values are left out on both paths
    return out


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame, Profile]:
    ref, cur = frame(3000, 1, shifted=False), frame(1200, 2, shifted=True)
    profile = Profile.from_frame(ref)
    kinds = {name: entry["kind"] for name, entry in profile.columns.items()}
    assert kinds == {"float": "numeric", "integer": "numeric", "discrete": "discrete", "category": "categorical",
                     "flag": "boolean", "text": "text"}
    return ref, cur, profile


def cases() -> list[tuple[str, str]]:
    columns = {"float": "numeric", "integer": "numeric", "discrete": "discrete", "category": "categorical",
               "flag": "boolean", "text": "text"}
    return [(name, column) for name, stat in STATISTICS.items() for column, kind in columns.items()
            if stat.applies_to(kind)]


@pytest.mark.parametrize("method, column", cases())
def test_one_comparison_and_a_one_chunk_timeline_give_the_same_number(data, method, column):
    ref, cur, profile = data
    single = nbt.drift(cur, profile, columns=[column], method=method, log=False).rows[0]
    timeline = nbt.drift(cur, ref, columns=[column], method=method, chunk_number=1, threshold=0.5,
                         multivariate=False, log=False).to_frame()
    assert len(timeline) == 1 and timeline["method"].iloc[0] == single.method == method
    assert timeline["statistic"].iloc[0] == pytest.approx(single.statistic, rel=1e-9, abs=1e-12)
    assert np.isfinite(single.statistic)


@pytest.mark.parametrize("method, column", cases())
def test_raw_values_refine_only_a_statistic_with_an_exact_form(data, method, column):
    """With the reference frame at hand drift() uses a statistic's ``exact`` form (KS on the raw
    values); it differs from the profile's value by at most the largest single bin's share."""
    ref, cur, profile = data
    from_frames = nbt.drift(cur, ref, columns=[column], method=method, log=False).rows[0].statistic
    from_profile = nbt.drift(cur, profile, columns=[column], method=method, log=False).rows[0].statistic
    entry = profile.columns[column]
    if STATISTICS[method].exact is None or entry["kind"] != "numeric":
        assert from_frames == pytest.approx(from_profile, rel=1e-9, abs=1e-12)
        return
    current = Profile.from_frame(cur, like=profile).columns[column]
    r, c = aligned(entry, current, bins="fine")
    largest_bin = max((r / r.sum()).max(), (c / c.sum()).max())
    assert abs(from_frames - from_profile) <= largest_bin + 1e-12


@pytest.mark.parametrize("method", list(STATISTICS))
def test_a_column_compared_with_itself_has_not_drifted(data, method):
    _, _, profile = data
    stat = STATISTICS[method]
    for entry in profile.columns.values():
        if stat.applies_to(entry["kind"]):
            value, p_value = stat.test(entry, entry)
            assert value == pytest.approx(0.0, abs=1e-12)
            assert not stat.drifted(value, p_value, stat.threshold)


def test_the_method_choices_come_from_the_registry():
    """--method's help and the check of method= (both paths) list the registry's statistics."""
    import argparse

    from nbtoolkit.cli import build_parser
    from nbtoolkit.errors import BadInput

    assert ("auto", *STATISTICS) == CHOICES
    parser = build_parser()
    for word in ("data", "drift"):
        parser = next(a.choices[word] for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    method_help = next(a.help for a in parser._actions if "--method" in a.option_strings)
    assert ", ".join(CHOICES) in method_help
    small = pd.DataFrame({"x": np.arange(50.0)})
    for over_time in ({}, {"chunk_number": 2, "threshold": 0.1}):
        with pytest.raises(BadInput) as err:
            nbt.drift(small, small, method="kss", log=False, **over_time)
        assert "use one of " + ", ".join(CHOICES) in str(err.value) and "'ks'" in str(err.value)


def test_the_docs_show_the_registry():
    assert markdown_table() in (ROOT / "docs" / "data.md").read_text()


def test_a_declaration_is_checked():
    with pytest.raises(TypeError, match="counts= or entries="):
        Statistic("nothing", "no function", frozenset({"numeric"}), 0.1, "statistic")
    with pytest.raises(TypeError, match="needs p_value="):
        Statistic("test", "a test without p-value", frozenset({"numeric"}), 0.05, "p_value",
                  counts=lambda r, c: 0.0)
