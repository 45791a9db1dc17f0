"""Prediction-log fixes for estimation: ids per model, class probabilities, an old log
migrated; monitor by row count, against a reference frame or profile file, with a stored calibrator;
%nbt estimate / %nbt calibrate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import nbtoolkit as nbt
from nbtoolkit.errors import BadInput
from nbtoolkit.monitoring import PredictionLog, monitor


def _inputs(n, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(shift, 1, n), "c": rng.choice(["a", "b"], n)})


def test_ids_are_unique_per_model_not_across_the_log(nbt_home):
    plog = PredictionLog()
    plog.log("a/1", _inputs(2), ["y", "n"], ids=["t1", "t2"], registered=False)
    plog.log("b/1", _inputs(2), ["y", "y"], ids=["t1", "t2"], registered=False)  # same ticket, other model
    with pytest.raises(BadInput, match=r"already in the prediction log, e\.g\. 't1' \(logged by 'a'\)"):
        plog.log("a/2", _inputs(1), ["y"], ids=["t1"], registered=False)
    with pytest.raises(BadInput, match="logged by models a, b; pass model=NAME"):
        plog.record_outcomes(["t1"], ["y"])
    assert plog.frame("b")["outcome"].isna().all()                      # nothing written
    assert plog.record_outcomes(["t1"], ["n"], model="b") == 1
    frame = plog.frame()
    assert frame.set_index(["model_name", "id"]).loc[("b", "t1"), "outcome"] == "n"
    assert pd.isna(frame.set_index(["model_name", "id"]).loc[("a", "t1"), "outcome"])
    assert plog.existing_ids(["t1", "zz"], model="a") == {"t1"}


def test_class_probabilities_are_logged(nbt_home):
    plog = PredictionLog()
    probs = pd.DataFrame({0: [0.8, 0.3], 1: [0.2, 0.7]})
    plog.log("bin/1", _inputs(2), [0, 1], confidence=[0.8, 0.7], ids=["p1", "p2"], probabilities=probs,
             registered=False)
    frame = plog.frame("bin", probabilities=True)
    assert frame["probabilities"].tolist() == [{"0": 0.8, "1": 0.2}, {"0": 0.3, "1": 0.7}]
    assert "probabilities" not in plog.frame("bin").columns
    with pytest.raises(BadInput, match=r"probabilities\[0\] sums to 0.5"):
        plog.log("bin/1", _inputs(1), [0], ids=["p3"], probabilities=[{"0": 0.2, "1": 0.3}],
                 registered=False)
    assert plog.count("bin") == 2


def _first_release_log(url):
    """The first release's table: ``id`` alone is the key, no ``probabilities``; one row of 'a'."""
    import datetime as dt

    import sqlalchemy as sa

    meta = sa.MetaData()
    table = sa.Table(
        "nbt_predictions", meta,
        sa.Column("id", sa.String(191), primary_key=True),
        sa.Column("model_name", sa.String(191), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("alias", sa.String(64)), sa.Column("ts", sa.DateTime, nullable=False),
        sa.Column("inputs", sa.Text), sa.Column("prediction", sa.String(255)),
        sa.Column("confidence", sa.Float), sa.Column("routed_to_human", sa.Boolean, nullable=False),
        sa.Column("outcome", sa.String(255)), sa.Column("outcome_source", sa.String(64)),
        sa.Column("outcome_ts", sa.DateTime),
        sa.Index("ix_nbt_predictions_model_ts", "model_name", "ts"), sa.Index("ix_nbt_predictions_ts", "ts"))
    engine = sa.create_engine(url)
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": "t1", "model_name": "a", "model_version": "1",
                                       "ts": dt.datetime(2026, 1, 1), "inputs": "{}", "prediction": "y",
                                       "confidence": 0.9, "routed_to_human": False}])
    engine.dispose()


def _migrates(url):
    plog = PredictionLog(url)
    assert plog.frame("a", probabilities=True)["probabilities"].tolist() == [None]  # column added
    with pytest.raises(BadInput, match=r"migrate\(\) once"):
        plog.log("b/1", _inputs(1), ["y"], ids=["t1"], registered=False)
    assert plog.migrate() is True and plog.migrate() is False
    plog.log("b/1", _inputs(1), ["y"], ids=["t1"], probabilities=[{"y": 0.6, "n": 0.4}], registered=False)
    assert sorted(plog.frame()["model_name"]) == ["a", "b"]
    assert plog.record_outcomes(["t1"], ["n"], model="a") == 1
    plog.dispose()


def test_a_log_from_the_first_release_keeps_working_and_migrates(nbt_home):
    url = f"sqlite:///{nbt_home / 'old.db'}"
    _first_release_log(url)
    _migrates(url)


def test_a_first_release_log_migrates_on_postgresql(postgres):
    import uuid

    url = postgres.create_database(f"predictions_{uuid.uuid4().hex[:8]}")
    _first_release_log(url)
    _migrates(url)


def test_monitor_by_row_count_against_a_reference_frame_without_a_registry(nbt_home, tmp_path):
    plog = PredictionLog()
    ts = pd.date_range("2026-02-01", periods=600, freq="min")
    live = pd.concat([_inputs(300, seed=1), _inputs(300, shift=1.5, seed=2)], ignore_index=True)
    plog.log("unregistered/1", live, ["y"] * 600, confidence=[0.9] * 600, timestamps=ts, registered=False)
    reference = _inputs(2_000, seed=3)
    report = monitor("unregistered", rows=200, reference=reference, alerts=["drift_share>0.4"])
    frame = report.to_frame()
    assert frame["volume"].tolist() == [200, 200, 200]
    assert frame["drift_share"].tolist()[0] < 0.5 and frame["drift_share"].tolist()[-1] >= 0.5
    assert report.alerted and report.window == "200 rows"
    last = frame["drifted_columns"].tolist()[-1].split(",")  # the verdict names what drifted where it fired
    assert last and report.summary().endswith(f"(drifted: {', '.join(dict.fromkeys(last))})")
    path = tmp_path / "reference.json"
    path.write_text(nbt.Profile.from_frame(reference).to_json())
    again = monitor("unregistered", rows=200, reference=str(path))
    assert again.to_frame()["drift_share"].tolist() == frame["drift_share"].tolist()
    from nbtoolkit.cli import main as cli

    assert cli(["monitor", "unregistered", "--rows", "300", "--reference", str(path),
                "--alert", "drift_share>0.4"]) == 1
    with pytest.raises(BadInput, match="rows must be a positive whole number"):
        monitor("unregistered", rows=0)
    with pytest.raises(BadInput, match="No file"):
        monitor("unregistered", reference=str(tmp_path / "missing.json"))


def test_calibrate_stores_with_the_version_and_monitor_uses_it(ip, iris, iris_model):
    X, y = iris
    ip.user_ns.update(model=iris_model, X=X, y=y)
    ip.run_line_magic("nbt", "register model --name iris")
    cal = ip.run_line_magic("nbt", "calibrate iris/1 --data X y")
    assert cal.classes == ["0", "1", "2"] and cal.components["accuracy"]
    assert nbt.estimation.stored_calibrator("iris/1").to_dict() == cal.to_dict()
    plog = PredictionLog()
    probs = pd.DataFrame(iris_model.predict_proba(X), columns=iris_model.classes_)
    plog.log("iris/1", X, iris_model.predict(X), confidence=probs.max(axis=1), probabilities=probs,
             timestamps=pd.date_range("2026-03-01", periods=len(X), freq="min"))
    report = monitor("iris", rows=50, drift=False)
    frame = report.to_frame()
    assert frame["estimated_accuracy_lower"].notna().all()
    assert (frame["estimated_accuracy_lower"] <= frame["estimated_accuracy"]).all()
    assert (frame["estimated_accuracy"] <= frame["estimated_accuracy_upper"]).all()


def test_estimate_magic_and_its_errors(ip):
    from IPython.core.error import UsageError

    rng = np.random.default_rng(0)
    p = rng.random(3_000)
    data = pd.DataFrame({"p": p, "pred": (p > 0.5).astype(int), "y": (rng.random(3_000) < p).astype(int)})
    ip.user_ns.update(ref=data.iloc[:2_000], live=data.iloc[2_000:].drop(columns="y"))
    result = ip.run_line_magic("nbt", "estimate live --reference ref --target y --prediction pred --proba p "
                                      "--metrics accuracy,roc_auc --chunk-size 250")
    assert len(result.to_frame()) == 8 and result.metrics == ["accuracy", "roc_auc"]
    with pytest.raises(UsageError, match="Unknown metric 'acc'"):
        ip.run_line_magic("nbt", "estimate live --reference ref --target y --prediction pred --proba p --metrics acc")
    with pytest.raises(UsageError, match="chunk_size=5000 is larger than the analysis data"):
        ip.run_line_magic("nbt", "estimate live --reference ref --target y --prediction pred --proba p "
                                 "--chunk-size 5000")
