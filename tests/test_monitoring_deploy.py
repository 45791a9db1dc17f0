"""Deployment (stable routing, saved threshold, logging) and abtest on a real registry + log."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import nbtoolkit as nbt
from nbtoolkit import registry
from nbtoolkit.errors import BadInput, ModelNotFound
from nbtoolkit.monitoring import Deployment, PredictionLog, abtest
from nbtoolkit.monitoring.deployment import route_share


@pytest.fixture
def two_versions(nbt_home, iris):
    X, y = iris
    nbt.register(LogisticRegression(max_iter=500).fit(X, y), "flowers", alias="champion")
    nbt.register(LogisticRegression(C=0.01, max_iter=500).fit(X, y), "flowers", alias="challenger")
    registry.set_version_tag("flowers/1", registry.TAG_THRESHOLD, "0.9")
    return X, y


def test_routing_is_stable_and_matches_the_traffic_share():
    ids = [f"ticket-{i}" for i in range(10_000)]
    shares = [route_share(i, "tickets") for i in ids]
    assert shares == [route_share(i, "tickets") for i in ids]  # deterministic
    for traffic in (0.05, 0.2, 0.5):
        assert abs(np.mean([s < traffic for s in shares]) - traffic) <= 0.02


def test_deployment_routes_thresholds_and_logs(two_versions):
    X, y = two_versions
    dep = Deployment("flowers", traffic=0.3)
    assert dep.champion == "flowers/1" and dep.challenger == "flowers/2"
    ids = [f"f{i}" for i in range(len(X))]
    out = dep.predict(X, ids=ids)
    assert list(out["id"]) == ids and out.index.equals(X.index)
    arms = out["alias"].value_counts()
    assert 25 <= arms["challenger"] <= 65  # 30 % of 150, stable hash
    assert (out.loc[out.alias == "champion", "model_version"] == "1").all()
    champ = out[out.alias == "champion"]
    assert (champ["needs_human"] == (champ["confidence"] < 0.9)).all() and champ["needs_human"].any()
    assert not out.loc[out.alias == "challenger", "needs_human"].any()  # v2 has no saved threshold
    # the same ids route the same way in another batch order
    again = Deployment("flowers", traffic=0.3, log=False).predict(X.iloc[::-1], ids=ids[::-1])
    assert dict(zip(again["id"], again["alias"])) == dict(zip(out["id"], out["alias"]))
    logged = PredictionLog().frame("flowers").set_index("id").loc[ids]
    assert (logged["model_version"].to_numpy() == out["model_version"].to_numpy()).all()
    assert (logged["routed_to_human"].to_numpy() == out["needs_human"].to_numpy()).all()
    assert set(logged["alias"]) == {"champion", "challenger"}


def test_deployment_bad_input(two_versions):
    with pytest.raises(BadInput, match=r"traffic must be a share between 0 and 1 .* got 1.5"):
        Deployment("flowers", traffic=1.5)
    with pytest.raises(ModelNotFound, match="has no alias 'canary'.*or pass traffic=0"):
        Deployment("flowers", challenger_alias="canary")
    with pytest.raises(ModelNotFound, match="No model named 'flower'"):
        Deployment("flower")
    assert Deployment("flowers", challenger_alias="canary", traffic=0, log=False).challenger is None


def _log_arm(plog, version, n, accuracy, seed, alias):
    rng = np.random.default_rng(seed)
    ids = [f"{alias}-{i}" for i in range(n)]
    ts = pd.Timestamp("2026-06-01") + pd.to_timedelta(rng.uniform(0, 86400 * 3, n), unit="s")
    plog.log(f"flowers/{version}", [{"x": 1.0}] * n, [0] * n, confidence=[0.8] * n, ids=ids,
             timestamps=ts, alias=alias, routed_to_human=rng.random(n) < 0.2)
    plog.record_outcomes(ids, np.where(rng.random(n) < accuracy, 0, 1), source="resolution")  # iris classes


def test_abtest_recommends_and_applies(two_versions):
    plog = PredictionLog()
    _log_arm(plog, "1", 1500, 0.80, 1, "champion")
    _log_arm(plog, "2", 600, 0.90, 2, "challenger")
    report = abtest("flowers")
    assert report.recommendation == "promote" and report.significant and report.passed
    assert 0.05 < report.difference < 0.15 and report.ci_low > 0
    assert list(report.to_frame()["version"]) == ["1", "2"]
    moved = report.apply()
    assert moved.version == "2" and str(registry.resolve("flowers@champion").version) == "2"


def test_abtest_rollback_and_small_samples(two_versions):
    plog = PredictionLog()
    _log_arm(plog, "1", 1500, 0.92, 3, "champion")
    _log_arm(plog, "2", 800, 0.80, 4, "challenger")
    report = abtest("flowers")
    assert report.recommendation == "rollback" and report.ci_high < 0
    report.apply()
    assert str(registry.resolve("flowers@challenger").version) == "1"
    with pytest.raises(BadInput, match="both version 1"):
        abtest("flowers")
    small = abtest("flowers", champion_version=1, challenger_version=2, min_samples=1000)
    assert small.recommendation == "keep" and "only 800 labeled predictions" in small.warnings[0]


def test_abtest_magic(ip, two_versions):
    plog = PredictionLog()
    _log_arm(plog, "1", 300, 0.85, 5, "champion")
    _log_arm(plog, "2", 300, 0.86, 6, "challenger")
    report = ip.run_line_magic("nbt", "abtest flowers --min-samples 100")
    assert report.recommendation == "keep" and "No significant difference" in report.reason
