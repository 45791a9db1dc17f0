"""The 3-step test pipeline on real papermill kernels: parameters, upstream, cache, --force,
--step, a failing step, resume after SIGKILL, secrets, --jobs 2, MLflow records, events."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nbtoolkit.errors import StepFailed
from nbtoolkit.pipeline import pipeline_status, run_pipeline

NBT = str(Path(sys.executable).parent / "nbt")
pytestmark = pytest.mark.slow


def nbt(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([NBT, *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def statuses(run) -> dict[str, str]:
    return {name: rec["status"] for name, rec in run.steps.items()}


def wait_until(predicate, timeout: float = 180.0, what: str = "condition"):
    """Poll for a condition that another process makes true (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_three_steps_parameters_upstream_cache_force_and_step(folder, nbt_home):
    events = []
    run = run_pipeline(folder / "pipeline.yaml", progress=events.append)
    assert run.passed and statuses(run) == {"ingest": "ok", "train": "ok", "report": "ok"}
    ingest = run.outputs["ingest"]
    assert ingest["n_rows"] == 21  # the step's own parameter
    assert run.outputs["train"]["total"] == 42  # computed from upstream["ingest"]["n_rows"]
    assert run.outputs["train"]["seen_seed"] == {"seed": 7, "quote": "it's"}  # pipeline-wide default
    assert run.outputs["report"]["summary"] == "42 rows doubled; seed 7"
    # the kernel is the venv's python, runs in the notebook's folder, sees the run and the store
    assert Path(ingest["python"]).parent == Path(sys.executable).parent
    assert Path(ingest["cwd"]) == folder
    assert ingest["run_id"] == run.run_id
    assert ingest["notebook_path"] == str(folder / "01_ingest.ipynb")
    assert Path(ingest["home"]) == nbt_home.resolve()
    # executed notebooks and run.json in <home>/runs/<pipeline>/<run_id>/
    run_dir = nbt_home.resolve() / "runs" / "three-steps" / run.run_id
    assert Path(run.run_dir) == run_dir
    assert sorted(p.name for p in run_dir.iterdir()) == ["ingest.ipynb", "report.ipynb", "run.json", "train.ipynb"]
    doc = json.loads((run_dir / "run.json").read_text())
    assert doc["status"] == "ok" and doc["steps"]["train"]["outputs"]["total"] == 42
    assert doc["steps"]["train"]["parameters"] == {"seed": 7}
    # a step is a typed record; run.json stores its fields, the run's result holds a copy
    from nbtoolkit.reports.pipeline import StepRecord

    train = run.steps["train"]
    assert isinstance(train, StepRecord) and train.status == "ok" and train.upstream == {"ingest": ingest}
    assert list(doc["steps"]["train"]) == train.keys() and doc["steps"]["train"]["key"] == train.key
    assert train.mlflow_run_id and doc["steps"]["train"]["mlflow_run_id"] == train.mlflow_run_id
    # progress events: started, each step running then ok, finished
    assert events[0].step is None and events[0].status == "started" and events[0].total == 3
    assert [(e.step, e.status) for e in events if e.step == "train"] == [("train", "running"), ("train", "ok")]
    assert events[-1].step is None and events[-1].status == "ok" and events[-1].done == 3
    assert all(e.duration is not None for e in events if e.status == "ok" and e.step)

    _check_mlflow(run)

    again = run_pipeline(folder / "pipeline.yaml")
    assert statuses(again) == {"ingest": "cached", "train": "cached", "report": "cached"}
    assert again.outputs == run.outputs and again.mlflow_run_id is None
    assert sorted(p.name for p in Path(again.run_dir).iterdir()) == ["run.json"]
    assert again.steps["train"]["cached_from"] == run.run_id
    probe = subprocess.run([sys.executable, "-c", (
        "import sys; from nbtoolkit.pipeline import run_pipeline; "
        f"r = run_pipeline({str(folder / 'pipeline.yaml')!r}); "
        "print(sorted(set(r.counts())), [m for m in ('papermill', 'mlflow', 'nbformat', 'pandas') if m in sys.modules])")],
        capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "['cached'] []"  # a cached rerun imports none of them
    status = pipeline_status(folder / "pipeline.yaml")
    assert [status[s] for s in ("ingest", "train", "report")] == ["cached", "cached", "cached"]

    changed = run_pipeline(folder / "pipeline.yaml", parameters={"train.seed": 8})
    assert statuses(changed) == {"ingest": "cached", "train": "ok", "report": "ok"}
    assert changed.outputs["report"]["summary"] == "42 rows doubled; seed 8"
    # judged with the parameters the last run was given: what `nbt status` says right after `-p`
    status = pipeline_status(folder / "pipeline.yaml")
    assert [status[s] for s in ("ingest", "train", "report")] == ["cached", "ok", "ok"]
    reasons = {r["step"]: r["reason"] for r in status.steps}
    assert reasons["train"] == "" and "stale" not in str(status)
    cli = nbt("status", "pipeline.yaml", cwd=folder)
    assert cli.returncode == 0 and "stale" not in cli.stdout and "ok" in cli.stdout, cli.stdout + cli.stderr
    # against the file's defaults (parameters={}), or other -p values, the step is stale
    defaults = pipeline_status(folder / "pipeline.yaml", parameters={})
    assert defaults["train"] == "stale" and defaults["ingest"] == "cached"
    assert {r["step"]: r["reason"] for r in defaults.steps}["train"] == "the parameters changed"
    assert pipeline_status(folder / "pipeline.yaml", parameters={"train.seed": 8})["train"] == "ok"

    forced = run_pipeline(folder / "pipeline.yaml", force=True)
    assert statuses(forced) == {"ingest": "ok", "train": "ok", "report": "ok"}

    only = run_pipeline(folder / "pipeline.yaml", steps=["train"])
    assert statuses(only) == {"ingest": "cached", "train": "ok", "report": "ok"}
    leaf = run_pipeline(folder / "pipeline.yaml", steps=["report"])
    assert statuses(leaf) == {"ingest": "cached", "train": "cached", "report": "ok"}

    # editing a notebook's source makes it (and what depends on it) stale
    nb_path = folder / "03_report.ipynb"
    nb = json.loads(nb_path.read_text())
    nb["cells"][-1]["source"] = nb["cells"][-1]["source"] + ["\n# edited"]
    nb_path.write_text(json.dumps(nb))
    assert pipeline_status(folder / "pipeline.yaml")["report"] == "stale"
    assert statuses(run_pipeline(folder / "pipeline.yaml"))["report"] == "ok"


def _check_mlflow(run) -> None:
    from nbtoolkit import store

    client = store.client()
    parent = client.get_run(run.mlflow_run_id)
    assert parent.data.tags["nbt.pipeline_run"] == run.run_id and parent.info.status == "FINISHED"
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{run.mlflow_run_id}'")
    by_step = {r.data.tags["nbt.step"]: r for r in children}
    assert set(by_step) == {"ingest", "train", "report"}
    train = by_step["train"]
    assert train.data.metrics["total"] == 42 and train.data.metrics["duration_s"] > 0
    assert train.data.params["seed"] == "7" and train.data.tags["nbt.status"] == "ok"
    assert [a.path for a in client.list_artifacts(train.info.run_id, "notebook")] == ["notebook/train.ipynb"]


def test_failing_step_exits_1_names_the_cell_and_resumes(folder, nbt_home):
    res = nbt("run", "pipeline.yaml", "-p", "fail=true", cwd=folder)
    assert res.returncode == 1, res.stderr
    message = res.stderr.strip().splitlines()[-1]
    assert message.startswith("nbt run: Step 'train' failed at cell 5 (In [")
    assert "ValueError: boom: training failed on purpose" in message
    executed = message.split("executed notebook: ")[1].split(".ipynb")[0] + ".ipynb"
    assert Path(executed).is_file() and Path(executed).name == "train.ipynb"
    assert "Skipped because of it: report." in message
    last = sorted((nbt_home / "runs" / "three-steps").iterdir())[-1]
    doc = json.loads((last / "run.json").read_text())
    assert {n: r["status"] for n, r in doc["steps"].items()} == {"ingest": "ok", "train": "failed", "report": "skipped"}
    assert "KeyboardInterrupt" not in res.stdout + res.stderr  # the kernel is not interrupted on shutdown

    resumed = nbt("run", "pipeline.yaml", "--json", cwd=folder)
    assert resumed.returncode == 0, resumed.stderr
    steps = json.loads(resumed.stdout)["steps"]
    assert {n: r["status"] for n, r in steps.items()} == {"ingest": "cached", "train": "ok", "report": "ok"}


def test_a_step_kernel_is_shut_down_by_request_without_an_interrupt(monkeypatch):
    """jupyter_client's shutdown sends SIGINT first, and a failing step printed a spurious
    ``KeyboardInterrupt caught in kernel``; a step's kernel gets the shutdown request alone."""
    import asyncio

    from jupyter_client.manager import KernelManager

    from nbtoolkit.pipeline.task import _kernel_manager_class

    interrupts = []
    original = KernelManager._async_interrupt_kernel

    async def spy(self):
        interrupts.append(self)
        await original(self)

    monkeypatch.setattr(KernelManager, "_async_interrupt_kernel", spy)

    async def start_and_shut_down():
        km = _kernel_manager_class()(kernel_name="python3")
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        await kc.wait_for_ready(timeout=120)
        kc.stop_channels()
        process = km.provisioner.process
        await km.shutdown_kernel()
        return process

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:  # its own event loop: an earlier test may leave one running here
        process = pool.submit(asyncio.run, start_and_shut_down()).result()
    assert interrupts == []
    assert process.wait(timeout=30) == 0  # it exited on the request, not by SIGTERM or SIGKILL


def test_sigkill_leaves_a_readable_run_json_and_the_next_run_resumes(folder, nbt_home):
    gate = folder / "gate.flag"
    proc = subprocess.Popen([NBT, "run", "pipeline.yaml", "-p", f"train.wait_for={gate}"], cwd=folder,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(lambda: Path(f"{gate}.started").exists(), what="the train step to start")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the orchestrator and its kernel, mid-step
        proc.wait(timeout=60)
    killed_dir = next((nbt_home / "runs" / "three-steps").iterdir())
    doc = json.loads((killed_dir / "run.json").read_text())
    assert doc["status"] == "running"
    assert {n: r["status"] for n, r in doc["steps"].items()} == {"ingest": "ok", "train": "running", "report": "pending"}
    assert pipeline_status(folder / "pipeline.yaml", parameters={"train.wait_for": str(gate)})["train"] == "killed"

    gate.write_text("go")
    resumed = run_pipeline(folder / "pipeline.yaml", parameters={"train.wait_for": str(gate)})
    assert statuses(resumed) == {"ingest": "cached", "train": "ok", "report": "ok"}
    assert resumed.steps["ingest"]["cached_from"] == doc["run_id"]


def test_secrets_reach_the_kernel_but_are_never_written(folder, nbt_home):
    secret = "s3cr3t-Ω-value"
    run = run_pipeline(folder / "pipeline.yaml", secrets={"token": secret})
    assert run.outputs["train"]["token_length"] == len(secret)
    written = [p for p in nbt_home.rglob("*") if p.is_file() and p.suffix in (".ipynb", ".json", ".db", ".txt")]
    assert any(p.suffix == ".ipynb" for p in written)
    for path in written:
        assert secret.encode() not in path.read_bytes(), path
    train_nb = (Path(run.run_dir) / "train.ipynb").read_text()
    assert "NBT_SECRET_TOKEN" in train_nb


@pytest.mark.parametrize("value", [
    "it's \"quoted\"", "two\nlines", "unicodé ✓ 中文", "'); import os; os._exit(1) #", "\\n is not a newline",
])
def test_parameter_strings_arrive_unchanged(folder, value):
    path = folder / "echo.yaml"
    path.write_text("name: echo\nsteps:\n  - name: echo\n    notebook: echo.ipynb\n")
    run = run_pipeline(path, parameters={"text": value, "items": [1, "two", {"k": None}]})
    assert run.outputs["echo"] == {"text": value, "items": [1, "two", {"k": None}]}


@pytest.mark.parametrize("crash, line", [
    ("exit", "SystemExit: 1"),
    ("die", "the kernel died"),
])
def test_sys_exit_and_dead_kernels_fail_the_step(folder, crash, line):
    with pytest.raises(StepFailed) as info:
        run_pipeline(folder / "pipeline.yaml", parameters={"crash": crash})
    message = str(info.value)
    assert "Step 'train' failed at cell 6" in message and line in message
    assert statuses(info.value.run) == {"ingest": "ok", "train": "failed", "report": "skipped"}


@pytest.mark.parametrize("other_thread", [False, True], ids=["fork", "spawn"])
def test_two_independent_steps_run_concurrently_with_jobs_2(folder, other_thread):
    # workers are forked from a single-threaded orchestrator, spawned when another thread runs
    import threading

    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    if other_thread:
        thread.start()
    try:
        # each step waits for the other's flag file: the run can only succeed if both run at once
        run = run_pipeline(folder / "parallel.yaml", jobs=2)
    finally:
        stop.set()
    assert statuses(run) == {"left": "ok", "right": "ok"}
    assert run.outputs["left"]["pid"] != run.outputs["right"]["pid"]


def test_notebooks_with_vscode_kernelspec_names_run(folder, nbt_home):
    """``python`` (VS Code) and ``PYTHON3`` kernelspecs run, as papermill runs them via jupyter_client."""
    for written in ("python", "PYTHON3"):
        nb = json.loads((folder / "echo.ipynb").read_text())
        nb["metadata"]["kernelspec"]["name"] = written
        (folder / f"{written}.ipynb").write_text(json.dumps(nb))
    (folder / "k.yaml").write_text("name: kernels\nsteps:\n  - name: a\n    notebook: python.ipynb\n"
                                   "  - name: b\n    notebook: PYTHON3.ipynb\n")
    run = run_pipeline(folder / "k.yaml", jobs=2)
    assert run.passed and statuses(run) == {"a": "ok", "b": "ok"}
    assert Path(run.run_dir).parent == nbt_home.resolve() / "runs" / "kernels"


def test_pipeline_magic_runs_and_returns_the_run(ip, folder):
    run = ip.run_line_magic("nbt", f"pipeline run {folder / 'pipeline.yaml'} -p n_rows=3 --jobs 1")
    assert run.passed and run.outputs["train"]["total"] == 6
    status = ip.run_line_magic("nbt", f"pipeline status {folder / 'pipeline.yaml'} -p n_rows=3")
    assert [r["status"] for r in status.steps] == ["ok", "ok", "ok"]
    assert "<table" in run._repr_html_()
