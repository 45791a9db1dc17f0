"""Domain-classifier drift over time: nbt.drift(..., chunk_size=N, multivariate="classifier")."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import nbtoolkit as nbt
from nbtoolkit.errors import BadInput


def make(n: int, seed: int, *, start: int = 0, shift_from: int | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = rng.normal(size=n)
    if shift_from is not None:
        # the rows from shift_from on: b follows a (the joint distribution moves, each margin barely)
        b[shift_from:] = 0.9 * a[shift_from:] + 0.45 * rng.normal(size=n - shift_from)
    return pd.DataFrame({"id": np.arange(start, start + n), "a": a, "b": b,
                         "c": rng.choice(["x", "y", "z"], n)})


@pytest.fixture(scope="module")
def timeline():
    ref, cur = make(2000, 0), make(2000, 1, start=2000, shift_from=1000)
    return nbt.drift(cur, ref, chunk_size=500, multivariate="both", log=False)


def test_the_classifier_finds_the_chunks_whose_joint_distribution_moved(timeline):
    frame = timeline.domain_frame()
    assert list(frame.columns) == ["chunk", "start", "end", "rows", "auroc", "lower", "upper", "drifted"]
    assert frame.drifted.tolist() == [False, False, True, True]
    assert (frame.auroc.iloc[2:] > 0.7).all() and (frame.auroc.iloc[:2] < 0.6).all()
    ref_part = timeline.domain_frame(reference=True)
    ref_part = ref_part[ref_part.period == "reference"]
    # limits: the reference chunks' mean ± 3 sd (population), each chunk told from the rest of the reference
    mu, sd = ref_part.auroc.mean(), ref_part.auroc.std(ddof=0)
    assert frame.upper.iloc[0] == pytest.approx(min(1.0, mu + 3 * sd)) and frame.lower.isna().all()
    assert timeline.multivariate is not None  # "both": the PCA error beside it
    assert timeline.drifted and "(domain classifier) in 2 chunks" in timeline.summary()


def test_identifiers_are_left_out_with_a_note(timeline):
    assert timeline.domain["columns"] == ["a", "b", "c"]
    assert any("'id' look(s) like an identifier" in n and "left out" in n for n in timeline.notes)


def test_named_identifiers_are_used_but_noted():
    ref, cur = make(600, 0), make(600, 1, start=600)
    result = nbt.drift(cur, ref, chunk_size=300, columns=["id", "a"], multivariate="classifier", log=False)
    assert result.domain["columns"] == ["id", "a"]
    assert any("drop it from columns=" in n for n in result.notes)
    assert result.domain_frame().auroc.min() > 0.95  # the id alone tells the periods apart


def test_views(timeline):
    data = json.loads(timeline.to_json())
    assert data["domain"]["method"] == "domain classifier AUROC" and len(data["domain"]["rows"]) == 8
    assert "domain classifier AUROC" in timeline._repr_html_()
    assert "auroc" in str(timeline)
    fig = timeline.plot()
    assert any(ax.get_ylabel() == "domain AUROC" for ax in fig.axes)


def test_bad_multivariate_is_one_line():
    ref, cur = make(400, 0), make(400, 1)
    with pytest.raises(BadInput, match="multivariate must be True, False, 'pca', 'classifier' or 'both', got 'knn'"):
        nbt.drift(cur, ref, chunk_size=200, multivariate="knn", log=False)


def test_cli_multivariate_classifier(tmp_path, capsys):
    from nbtoolkit.cli import main as cli

    make(1000, 0).to_parquet(tmp_path / "ref.parquet")
    make(1000, 1, start=1000, shift_from=500).to_parquet(tmp_path / "cur.parquet")
    capsys.readouterr()
    code = cli(["data", "drift", str(tmp_path / "cur.parquet"), "--reference", str(tmp_path / "ref.parquet"),
                "--chunk-size", "250", "--multivariate", "classifier", "--format", "json", "--fail"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1 and data["domain"]["columns"] == ["a", "b", "c"]
    assert [r["drifted"] for r in data["domain"]["rows"] if r["period"] == "current"] == [False, False, True, True]


def test_auroc_is_scikit_learns_with_ties():
    from sklearn.metrics import roc_auc_score

    from nbtoolkit.drift.domain import auroc

    rng = np.random.default_rng(0)
    for negatives, positives in ((rng.normal(size=300), rng.normal(0.3, 1, size=200)),
                                 (rng.integers(0, 4, 50).astype(float), rng.integers(1, 5, 70).astype(float)),
                                 (np.zeros(5), np.zeros(3))):
        y = np.r_[np.zeros(len(negatives)), np.ones(len(positives))]
        assert auroc(negatives, positives) == pytest.approx(roc_auc_score(y, np.r_[negatives, positives]), abs=1e-12)


def test_a_category_whose_share_moved_is_found_and_unseen_or_missing_levels_pass():
    rng = np.random.default_rng(3)
    levels, share = ["a", "b", "c", "d", "e"], [0.35, 0.25, 0.2, 0.12, 0.08]

    def frame(n: int, p: list[float]) -> pd.DataFrame:
        return pd.DataFrame({"kind": rng.choice(levels, n, p=p), "x": rng.normal(size=n)})

    ref = frame(3000, share)
    moved = [0.2, 0.1, 0.55, 0.1, 0.05]   # a middle level ("c", coded 2 of 0..4) grows
    cur = pd.concat([frame(500, share), frame(500, share), frame(500, moved), frame(500, moved)], ignore_index=True)
    cur.loc[cur.index[:40], "kind"] = "new"   # unseen in the reference
    cur.loc[cur.index[40:60], "kind"] = None
    result = nbt.drift(cur, ref, chunk_size=500, multivariate="classifier", log=False).domain_frame()
    assert result.drifted.tolist() == [False, False, True, True]
    assert (result.auroc.iloc[2:] > 0.6).all() and (result.auroc.iloc[:2] < 0.56).all()
