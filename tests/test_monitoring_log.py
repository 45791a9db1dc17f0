"""PredictionLog: transactional batches, outcomes, feedback frame, bad input, concurrent writers."""

from __future__ import annotations

import multiprocessing as mp

import pandas as pd
import pytest

from nbtoolkit.errors import BadInput, StoreUnavailable
from nbtoolkit.monitoring import PredictionLog


def _inputs(n, start=0):
    return pd.DataFrame({"subject": [f"s{i}" for i in range(start, start + n)],
                         "amount": [float(i) for i in range(start, start + n)],
                         "channel": ["chat"] * n})


def test_log_outcomes_and_feedback_frame(nbt_home):
    plog = PredictionLog()
    assert plog.url == f"sqlite:///{(nbt_home / 'predictions.db').as_posix()}"
    ts = pd.date_range("2026-01-01", periods=4, freq="6h")
    ids = plog.log("tickets/1", _inputs(4), ["a", "b", "a", "b"], confidence=[0.9, 0.4, 0.8, 0.55],
                   ids=["t1", "t2", "t3", "t4"], routed_to_human=[False, True, False, True], timestamps=ts,
                   alias="champion")
    assert ids == ["t1", "t2", "t3", "t4"]
    assert plog.record_outcomes(["t2", "t4"], ["a", "b"], source="human") == 2
    frame = plog.frame("tickets")
    assert list(frame["id"]) == ids and list(frame["model_version"]) == ["1"] * 4
    assert frame["outcome"].tolist()[1] == "a" and frame["outcome"].isna().sum() == 2
    assert frame["routed_to_human"].tolist() == [False, True, False, True]
    window = plog.frame("tickets", start="2026-01-01 06:00", end="2026-01-01 18:00")
    assert list(window["id"]) == ["t2", "t3"]

    fb = plog.feedback_frame("tickets")
    assert list(fb["subject"]) == ["s1", "s3"] and list(fb["label"]) == ["a", "b"]
    assert list(fb["amount"]) == [1.0, 3.0]  # inputs come back typed from JSON
    assert list(fb["prediction"]) == ["b", "b"] and list(fb["prediction_id"]) == ["t2", "t4"]
    assert plog.feedback_frame("tickets", source="resolution").empty


def test_generated_ids_and_counts(nbt_home):
    plog = PredictionLog()
    ids = plog.log("m/2", [{"x": 1}, {"x": 2}], [0, 1])
    assert len(set(ids)) == 2 and plog.count("m") == 2 and plog.count("other") == 0


def test_duplicate_ids_write_nothing(nbt_home):
    plog = PredictionLog()
    plog.log("m/1", _inputs(2), ["a", "b"], ids=["x1", "x2"])
    with pytest.raises(BadInput, match=r"already in the prediction log, e.g. 'x2'"):
        plog.log("m/1", _inputs(3, 10), ["a", "b", "c"], ids=["x3", "x2", "x4"])
    with pytest.raises(BadInput, match="Duplicate id 'y'"):
        plog.log("m/1", _inputs(2), ["a", "b"], ids=["y", "y"])
    assert sorted(plog.frame()["id"]) == ["x1", "x2"]


def test_bad_batches_write_nothing(nbt_home):
    plog = PredictionLog()
    with pytest.raises(BadInput, match=r"confidence\[1\] must be in \[0, 1\], got 1.5"):
        plog.log("m/1", _inputs(2), ["a", "b"], confidence=[0.5, 1.5])
    with pytest.raises(BadInput, match="predictions has 1 values for 2 rows"):
        plog.log("m/1", _inputs(2), ["a"])
    with pytest.raises(BadInput, match="Malformed model reference"):
        plog.log("not a ref!", _inputs(1), ["a"])
    with pytest.raises(BadInput, match="timestamps"):
        plog.log("m/1", _inputs(1), ["a"], timestamps=["yesterday-ish"])
    assert plog.count() == 0


def test_outcomes_for_unknown_ids_write_nothing(nbt_home):
    plog = PredictionLog()
    plog.log("m/1", _inputs(2), ["a", "b"], ids=["k1", "k2"])
    with pytest.raises(BadInput, match=r"1 of 2 id\(s\) are not in the prediction log, e.g. 'nope'"):
        plog.record_outcomes(["k1", "nope"], ["a", "a"])
    assert plog.frame()["outcome"].isna().all()
    with pytest.raises(BadInput, match="labels has 1 values for 2 rows"):
        plog.record_outcomes(["k1", "k2"], ["a"])


def test_unreachable_and_malformed_urls(tmp_path):
    with pytest.raises(BadInput, match="Cannot parse the prediction-log URL 'not a url'"):
        PredictionLog("not a url").count()
    missing = tmp_path / "no" / "such" / "dir" / "p.db"
    with pytest.raises(StoreUnavailable, match="Cannot reach the prediction log"):
        PredictionLog(f"sqlite:///{missing}").count()
    from tests.services import free_port

    url = f"postgresql+psycopg2://nobody:secret@127.0.0.1:{free_port()}/db"
    with pytest.raises(StoreUnavailable) as err:
        PredictionLog(url).count()
    assert "secret" not in str(err.value) and "***" in str(err.value)


def _writer(url: str, worker: int, batches: int, size: int) -> None:
    plog = PredictionLog(url)
    for b in range(batches):
        ids = [f"w{worker}-b{b}-{i}" for i in range(size)]
        plog.log("m/1", _inputs(size), ["a"] * size, confidence=[0.7] * size, ids=ids)


def test_four_concurrent_writer_processes_lose_nothing(nbt_home):
    url = f"sqlite:///{(nbt_home / 'concurrent.db').as_posix()}"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(url, w, 25, 40)) for w in range(4)]
    from nbtoolkit.pipeline.executors import spawnable_main

    with spawnable_main():  # a pytest-xdist worker's __main__ has no __spec__, as IPython's
        for p in procs:
            p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    frame = PredictionLog(url).frame()
    assert len(frame) == 4 * 25 * 40 and frame["id"].is_unique
