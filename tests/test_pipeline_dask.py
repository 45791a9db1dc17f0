"""Pipeline steps on Dask distributed: a LocalCluster on 127.0.0.1 and a separately started
``dask scheduler`` + ``dask worker`` pair (fixtures in tests/services.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nbtoolkit.errors import StoreUnavailable
from nbtoolkit.pipeline import run_pipeline

from .services import free_port

NBT = str(Path(sys.executable).parent / "nbt")
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def statuses(run) -> dict[str, str]:
    return {name: rec["status"] for name, rec in run.steps.items()}


def test_dask_without_scheduler_starts_a_local_cluster_and_runs_steps_concurrently(folder):
    run = run_pipeline(folder / "parallel.yaml", executor="dask", jobs=2)  # barrier: needs both at once
    assert statuses(run) == {"left": "ok", "right": "ok"}


def test_three_steps_on_the_session_local_cluster(folder, dask_local_cluster, nbt_home):
    run = run_pipeline(folder / "pipeline.yaml", executor="dask", scheduler=dask_local_cluster.scheduler_address)
    assert statuses(run) == {"ingest": "ok", "train": "ok", "report": "ok"}
    assert run.outputs["train"]["total"] == 42
    assert Path(run.outputs["ingest"]["home"]) == nbt_home.resolve()  # the worker's kernel wrote our store
    again = run_pipeline(folder / "pipeline.yaml", executor="dask", scheduler=dask_local_cluster.scheduler_address)
    assert statuses(again) == {"ingest": "cached", "train": "cached", "report": "cached"}


def test_separate_scheduler_and_workers_via_the_cli(folder, dask_scheduler, nbt_home):
    res = subprocess.run([NBT, "run", "parallel.yaml", "--executor", "dask", "--scheduler", dask_scheduler.address,
                          "--json"], capture_output=True, text=True, cwd=folder, timeout=600)
    assert res.returncode == 0, res.stderr
    import json

    steps = json.loads(res.stdout)["steps"]
    assert {n: r["status"] for n, r in steps.items()} == {"left": "ok", "right": "ok"}  # 2 workers at once

    failing = subprocess.run([NBT, "run", "pipeline.yaml", "--executor", "dask", "--scheduler", dask_scheduler.address,
                              "-p", "fail=true"], capture_output=True, text=True, cwd=folder, timeout=600)
    assert failing.returncode == 1
    assert "Step 'train' failed at cell 5" in failing.stderr and "ValueError: boom" in failing.stderr


def test_unreachable_scheduler_is_one_clear_error(folder, nbt_home):
    address = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(StoreUnavailable, match="Cannot reach the Dask scheduler"):
        run_pipeline(folder / "pipeline.yaml", executor="dask", scheduler=address)
