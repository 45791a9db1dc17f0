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
                   alias="champion", registered=False)
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
    ids = plog.log("m/2", [{"x": 1}, {"x": 2}], [0, 1], registered=False)
    assert len(set(ids)) == 2 and plog.count("m") == 2 and plog.count("other") == 0


def test_duplicate_ids_write_nothing(nbt_home):
    plog = PredictionLog()
    plog.log("m/1", _inputs(2), ["a", "b"], ids=["x1", "x2"], registered=False)
    with pytest.raises(BadInput, match=r"already in the prediction log, e.g. 'x2'"):
        plog.log("m/1", _inputs(3, 10), ["a", "b", "c"], ids=["x3", "x2", "x4"], registered=False)
    with pytest.raises(BadInput, match="Duplicate id 'y'"):
        plog.log("m/1", _inputs(2), ["a", "b"], ids=["y", "y"], registered=False)
    assert sorted(plog.frame()["id"]) == ["x1", "x2"]


def test_bad_batches_write_nothing(nbt_home):
    plog = PredictionLog()
    with pytest.raises(BadInput, match=r"confidence\[1\] must be in \[0, 1\], got 1.5"):
        plog.log("m/1", _inputs(2), ["a", "b"], confidence=[0.5, 1.5], registered=False)
    with pytest.raises(BadInput, match="predictions has 1 values for 2 rows"):
        plog.log("m/1", _inputs(2), ["a"], registered=False)
    with pytest.raises(BadInput, match="Malformed model reference"):
        plog.log("not a ref!", _inputs(1), ["a"], registered=False)
    with pytest.raises(BadInput, match="timestamps"):
        plog.log("m/1", _inputs(1), ["a"], timestamps=["yesterday-ish"], registered=False)
    assert plog.count() == 0


def test_outcomes_for_unknown_ids_write_nothing(nbt_home):
    plog = PredictionLog()
    plog.log("m/1", _inputs(2), ["a", "b"], ids=["k1", "k2"], registered=False)
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
        plog.log("m/1", _inputs(size), ["a"] * size, confidence=[0.7] * size, ids=ids, registered=False)


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


# ------------------------------------------------------------------------------ checked feedback
def _penguins():
    """A small penguins-like frame: sex (female / male) from body measurements."""
    import numpy as np

    rng = np.random.default_rng(0)
    n = 120
    sex = np.where(rng.random(n) < 0.5, "female", "male")
    X = pd.DataFrame({"bill_length": rng.normal(40, 3, n) + (sex == "male") * 4,
                      "body_mass": rng.normal(3800, 300, n) + (sex == "male") * 600})
    return X, pd.Series(sex, name="sex")


def _outcomes(plog, model):
    frame = plog.frame(model)
    return {i: (o if isinstance(o, str) else None) for i, o in zip(frame["id"], frame["outcome"])}


def test_outcomes_must_be_classes_of_the_version_and_a_refused_batch_records_nothing(nbt_home):
    import math

    from sklearn.linear_model import LinearRegression, LogisticRegression

    import nbtoolkit as nbt

    X, y = _penguins()
    clf = LogisticRegression(max_iter=500).fit(X, y)
    nbt.register(clf, "penguins", X=X, y=y)
    nbt.register(LogisticRegression(max_iter=500).fit(X, (y == "male").astype(int)), "penguins")  # v2: 0 / 1
    plog = PredictionLog()
    plog.log("penguins/1", X.head(3), clf.predict(X.head(3)), ids=["p1", "p2", "p3"])
    plog.log("penguins/2", X.head(2), [0, 1], ids=["q1", "q2"])
    assert plog.record_outcomes(["p1"], ["female"]) == 1

    with pytest.raises(BadInput) as err:
        plog.record_outcomes(["p2"], ["penguin"])
    message = str(err.value)
    assert "'penguin'" in message and "penguins/1" in message and "'female', 'male'" in message
    assert "\n" not in message and "Nothing was recorded" in message
    refused = [
        (["p2", "p3"], ["male", "penguin"], "labels[1] (id 'p3') 'penguin'"),   # mixed: nothing recorded
        (["p1"], ["Female"], "Did you mean 'female'?"),                        # does not overwrite p1
        (["p2"], [True], "true or false"),
        (["p2"], [1], "the label is a number, the classes are strings"),
        (["q1"], ["1"], "the label is a string, the classes are numbers"),    # v2 has int classes
        (["q1"], [True], "labels[0] (id 'q1') True is not a class of penguins/2"),
        (["q1"], [math.nan], "nan"),
        (["q1"], [math.inf], "inf"),
        (["q1"], [[1]], "must be a class label"),
        (["q1", "p2"], [1, "penguin"], "'penguin'"),                           # each id against its version
    ]
    for ids, labels, says in refused:
        with pytest.raises(BadInput) as err:
            plog.record_outcomes(ids, labels)
        assert says in str(err.value), str(err.value)
        assert _outcomes(plog, "penguins") == {"p1": "female", "p2": None, "p3": None, "q1": None, "q2": None}
    # the classes themselves, and 1.0 for the integer class 1 (stored as the server stores predictions)
    assert plog.record_outcomes(["p2", "q1", "q2"], ["male", 1.0, 0]) == 3
    assert _outcomes(plog, "penguins") == {"p1": "female", "p2": "male", "p3": None, "q1": "1", "q2": "0"}

    reg = LinearRegression().fit(X[["bill_length"]], X["body_mass"])
    nbt.register(reg, "mass")
    plog.log("mass/1", X.head(2)[["bill_length"]], reg.predict(X.head(2)[["bill_length"]]), ids=["m1", "m2"])
    for label in ("heavy", "4000", math.nan, -math.inf, False):
        with pytest.raises(BadInput):
            plog.record_outcomes(["m1"], [label])
    assert plog.record_outcomes(["m1", "m2"], [4012.5, 3900]) == 2


def test_versions_registered_before_the_classes_tag_are_asked_through_the_model(nbt_home):
    from sklearn.linear_model import LogisticRegression

    import nbtoolkit as nbt
    from nbtoolkit import store
    from nbtoolkit.registry.tags import TAG_CLASSES

    X, y = _penguins()
    nbt.register(LogisticRegression(max_iter=500).fit(X, y), "penguins")
    assert store.client().get_model_version("penguins", "1").tags[TAG_CLASSES] == '["female", "male"]'
    store.client().delete_model_version_tag("penguins", "1", TAG_CLASSES)
    plog = PredictionLog()
    plog.log("penguins/1", X.head(1), ["male"], ids=["p1"])
    with pytest.raises(BadInput, match="its classes are 'female', 'male'"):
        plog.record_outcomes(["p1"], ["penguin"])
    assert plog.frame()["outcome"].isna().all()


def test_rows_of_versions_not_in_the_registry_are_refused_naming_the_registry(nbt_home):
    from sklearn.linear_model import LogisticRegression

    import nbtoolkit as nbt
    from nbtoolkit.errors import ModelNotFound

    plog = PredictionLog()
    with pytest.raises(ModelNotFound, match=r"Cannot log predictions of ghost/1: the model registry at 'sqlite:"):
        plog.log("ghost/1", _inputs(1), ["a"])
    X, y = _penguins()
    nbt.register(LogisticRegression(max_iter=500).fit(X, y), "penguins")
    with pytest.raises(ModelNotFound, match="has no version 7"):
        plog.log("penguins/7", X.head(1), ["male"])
    assert not (nbt_home / "predictions.db").exists() or plog.count() == 0
    assert plog.log("penguins/1", X.head(1), ["male"], ids=["ok"]) == ["ok"]
    assert plog.log("ghost/1", _inputs(1), ["a"], registered=False)  # a model kept elsewhere, said so


def test_implausible_event_times_are_refused_and_monitor_refuses_absurd_spans(nbt_home):
    import datetime as dt

    from nbtoolkit.monitoring import monitor

    plog = PredictionLog()
    for stamp, says in (("9999-01-01", "more than a day in the future"), ("1970-01-01", "before 2000-01-01"),
                        (dt.datetime.now() + dt.timedelta(days=3), "more than a day in the future"),
                        ("9999-12-31T23:00:00-05:00", "out of the range")):
        with pytest.raises(BadInput, match=says):
            plog.log("m/1", _inputs(1), ["a"], timestamps=[stamp], registered=False)
    assert plog.count() == 0
    plog.log("m/1", _inputs(1), ["a"], ids=["t1"], registered=False)
    with pytest.raises(BadInput, match="timestamps"):
        plog.record_outcomes(["t1"], ["a"], timestamps=["9999-01-01"])
    # a log that already holds such a row (written before the check): one line, not hours of windows
    plog.append([{"id": "old", "model_name": "m", "model_version": "1", "alias": None,
                  "ts": dt.datetime(9999, 1, 1), "inputs": "{}", "prediction": "a", "confidence": None,
                  "routed_to_human": False, "probabilities": None}])
    says = r"span \d{4}-.* to 9999-01-01 00:00:00: [\d,]+ windows of 1h, more than 100,000; narrow the range"
    with pytest.raises(BadInput, match=says):
        monitor("m", window="1h", drift=False)
    assert monitor("m", window="1h", drift=False, end="2100-01-01").windows
