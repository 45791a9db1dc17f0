"""Data larger than memory: Profile and drift chunk by chunk from Parquet and per Dask partition.

The chunked paths must give the profile of the whole frame (same bins, same counts, the same
moments up to summation order) and therefore the same drift verdicts; on a separately started
Dask scheduler the partition profiles are computed by the workers.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from nbtoolkit.examples.synthetic import CATEGORIES, drift_frame

pytestmark = pytest.mark.integration



def make(n: int, seed: int, *, drifted: bool) -> pd.DataFrame:
    return drift_frame(n, seed, drifted=drifted, shift=0.4, top_share=0.3)


def _same(x, y, where) -> None:
    """Integers (counts), strings and bins exactly; floats (moments, tail sums) up to rounding."""
    if isinstance(x, float) or isinstance(y, float):
        assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9), where
    elif isinstance(x, dict):
        assert x.keys() == y.keys(), where
        for k in x:
            _same(x[k], y[k], (*where, k))
    elif isinstance(x, list):
        assert len(x) == len(y), where
        for i, (a, b) in enumerate(zip(x, y)):
            _same(a, b, (*where, i))
    else:
        assert x == y, where


def assert_same_profile(a, b) -> None:
    assert a.n_rows == b.n_rows and a.outputs == b.outputs
    assert list(a.columns) == list(b.columns)
    _same(a.columns, b.columns, ())


@pytest.fixture(scope="module")
def frames():
    return make(40_000, 0, drifted=False), make(40_000, 1, drifted=True)


@pytest.fixture(scope="module")
def model(frames):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    ref, _ = frames
    y = (ref["num_0"] + ref["count_0"] / 5 > 1).astype(int)
    pre = make_column_transformer((OneHotEncoder(handle_unknown="ignore"), CATEGORIES), remainder="passthrough")
    return make_pipeline(pre, LogisticRegression(max_iter=300)).fit(ref, y), y


def test_parquet_chunk_by_chunk_equals_the_whole_frame(frames, tmp_path):
    from nbtoolkit.drift import Profile, drift

    ref, cur = frames
    path = tmp_path / "current.parquet"
    cur.to_parquet(path, row_group_size=5_000)
    reference = Profile.from_frame(ref)

    chunked = Profile.from_parquet(path, chunksize=7_000, like=reference)
    whole = Profile.from_frame(cur, like=reference)
    assert_same_profile(chunked, whole)

    by_chunks, by_frame = drift(chunked, reference, log=False), drift(whole, reference, log=False)
    assert set(by_chunks.drifted_columns) == set(by_frame.drifted_columns) == {"num_0", "num_1", "num_2", "cat_0"}


def test_drift_of_a_dask_frame_against_a_registered_model(frames, model, nbt_home):
    import dask.dataframe as dd

    import nbtoolkit as nbt
    from nbtoolkit.drift import Profile

    ref, cur = frames
    estimator, y = model
    nbt.register(estimator, "scale-model", X=ref, y=y)
    stored = Profile.from_json(nbt.registry.read_artifact_text(
        nbt.registry.resolve("scale-model"), nbt.registry.PROFILE_ARTIFACT))

    ddf = dd.from_pandas(cur, npartitions=7)
    report = nbt.drift(ddf, model="scale-model", log=False)
    single = nbt.drift(Profile.from_frame(cur, like=stored, model=estimator), model="scale-model", log=False)

    assert report.n_current == len(cur)
    assert {"num_0", "num_1", "num_2", "cat_0"} <= set(report.drifted_columns)
    assert report.drifted_columns == single.drifted_columns
    got, want = report.to_frame().set_index("column"), single.to_frame().set_index("column")
    assert list(got.index) == list(want.index)
    assert "(prediction)" in got.index  # the model's outputs were profiled on every partition too
    np.testing.assert_allclose(got["statistic"].astype(float), want["statistic"].astype(float), rtol=1e-9)

    # A dask reference works too: both sides profiled per partition.
    same = nbt.drift(dd.from_pandas(cur, npartitions=3), dd.from_pandas(ref, npartitions=4), log=False)
    assert {"num_0", "num_1", "num_2", "cat_0"} <= set(same.drifted_columns)


def test_partition_profiles_on_a_separate_dask_cluster(frames, dask_scheduler):
    import dask.dataframe as dd
    from distributed import Client, get_task_stream

    from nbtoolkit.drift import Profile
    from nbtoolkit.drift.scale import profile_dask

    ref, cur = frames
    reference = Profile.from_frame(ref)
    ddf = dd.from_pandas(cur, npartitions=8)
    with Client(dask_scheduler.address, timeout="30s") as client:
        with get_task_stream(client) as stream:
            on_cluster = profile_dask(ddf, like=reference)
        cluster_workers = set(client.scheduler_info()["workers"])
    workers = {t["worker"] for t in stream.data if "_profile_partition" in str(t["key"])}
    assert workers and workers <= cluster_workers  # partitions were profiled by the workers
    # dask stores text as pyarrow strings: compare with the same frame as dask sees it
    assert_same_profile(on_cluster, Profile.from_frame(ddf.compute(), like=reference))


@pytest.mark.slow
def test_support_ticket_pipeline_on_a_separate_dask_cluster(dask_scheduler, example_run, tmp_path, monkeypatch):
    """notebooks/pipeline.yaml on a separately started scheduler + 2 workers = the local run
    (the session's ``example_run``, made with the same parameters on its own store)."""
    import json
    import time

    from distributed import Client

    from nbtoolkit.pipeline import run_pipeline
    from tests.conftest import EXAMPLE_SIZES, ROOT

    assert example_run.code == 0, example_run.out
    local_steps = example_run.run["steps"]
    local_outputs = {name: step.get("outputs") or {} for name, step in local_steps.items()}
    pipeline = ROOT / "notebooks" / "pipeline.yaml"
    home = tmp_path / "dask-home"
    monkeypatch.setenv("NBT_HOME", str(home))  # a fresh store: nothing cached
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "NBT_PREDICTIONS_URL", "NBT_EXPERIMENT"):
        monkeypatch.delenv(var, raising=False)
    with Client(dask_scheduler.address, timeout="30s") as client:
        client.get_task_stream(start=0, stop=0)  # makes the scheduler record where tasks run
        started = time.time()
        on_dask = run_pipeline(pipeline, parameters=EXAMPLE_SIZES, executor="dask",
                               scheduler=dask_scheduler.address)
        stream = client.get_task_stream(start=started)

    assert {s: r["status"] for s, r in on_dask.steps.items()} == {s: "ok" for s in local_steps}
    placed = {str(t["key"]).rsplit("-", 1)[-1]: t["worker"] for t in stream
              if str(t["key"]).startswith(f"nbt-{on_dask.run_id}-")}
    assert set(placed) == set(local_steps) and len(set(placed.values())) == 2, placed  # both workers ran steps

    def same_places(outputs, home):  # files written under each run's own home
        return json.loads(json.dumps(outputs).replace(str(home), "<home>"))

    assert same_places(on_dask.outputs, home) == same_places(local_outputs, example_run.home)
