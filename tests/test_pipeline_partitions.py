"""Partitioned pipelines on real papermill kernels: --pending runs only what is new or changed,
a failed partition stops the run and is retried, --partition / --force / --backfill, status,
two concurrent --pending processes, a SQL source, and bad input refused before anything is written."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from nbtoolkit.errors import BadInput, StepFailed
from nbtoolkit.pipeline import load_pipeline, pipeline_status, run_pipeline

NBT = str(Path(sys.executable).parent / "nbt")
NOTEBOOK = Path(__file__).parent / "pipelines" / "partition.ipynb"
PIPELINE = """\
name: daily
partitions: {key: date, source: "data/date={date}/*.csv"}
steps:
  - name: count
    notebook: partition.ipynb
"""
pytestmark = pytest.mark.slow


def nbt(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([NBT, *args], capture_output=True, text=True, cwd=cwd, timeout=600, check=False)


def write_day(root: Path, day: str, rows: int = 2, text: str = "") -> Path:
    folder = root / "data" / f"date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "part.csv"
    path.write_text("a,b\n" + "".join(f"{i},{i}{text}\n" for i in range(rows)))
    return path


@pytest.fixture
def daily(nbt_home, tmp_path) -> Path:
    """A one-step pipeline partitioned by date over data/date=YYYY-MM-DD/*.csv, three days of data."""
    root = tmp_path / "daily"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / "partition.ipynb")
    (root / "pipeline.yaml").write_text(PIPELINE)
    for i, day in enumerate(("2024-01-01", "2024-01-02", "2024-01-03")):
        write_day(root, day, rows=i + 1)
    return root


def run_folders(home: Path, name: str = "daily") -> list[dict]:
    folder = home / "runs" / name
    if not folder.is_dir():
        return []
    return [json.loads((p / "run.json").read_text()) for p in sorted(folder.iterdir()) if (p / "run.json").exists()]


def test_pending_runs_new_then_nothing_then_what_changed(daily, nbt_home):
    first = run_pipeline(daily / "pipeline.yaml", pending=True)
    assert first.passed and first.processed == ["2024-01-01", "2024-01-02", "2024-01-03"]
    # each step got its partition and its files, relative to the pipeline folder
    outputs = {v: r.outputs["count"] for v, r in first.runs.items()}
    assert {k: outputs["2024-01-02"][k] for k in ("partition", "rows")} == {"partition": "2024-01-02", "rows": 2}
    # a fresh kernel per partition; from the second on, started while the previous partition ran
    kernels = [outputs[v]["kernel"] for v in first.runs]
    assert len({k["pid"] for k in kernels}) == 3
    starts = [json.loads((Path(r.run_dir) / "run.json").read_text())["started_ts"] for r in first.runs.values()]
    assert kernels[1]["started"] < starts[1] and kernels[2]["started"] < starts[2]
    rec = first.runs["2024-01-03"].steps["count"]
    assert rec.parameters == {} and rec.partition["value"] == "2024-01-03" and len(rec.partition["data_hash"]) == 64
    run_json = json.loads((Path(first.runs["2024-01-03"].run_dir) / "run.json").read_text())
    assert run_json["partition"]["value"] == "2024-01-03"

    second = run_pipeline(daily / "pipeline.yaml", pending=True)
    assert second.passed and second.runs == {} and len(second.up_to_date) == 3
    assert len(run_folders(nbt_home)) == 3  # nothing new: no run at all
    assert "nothing new" in str(second)

    write_day(daily, "2024-01-02", rows=5)  # changed data
    write_day(daily, "2024-01-04", rows=1)  # a new day
    third = run_pipeline(daily / "pipeline.yaml", pending=True)
    assert list(third.runs) == ["2024-01-02", "2024-01-04"]
    assert third.runs["2024-01-02"].outputs["count"]["rows"] == 5
    assert third.runs["2024-01-02"].steps["count"].status == "ok"  # not cached: the data hash is in the key

    status = pipeline_status(daily / "pipeline.yaml")
    assert [(p["partition"], p["status"]) for p in status.partitions] == [
        ("2024-01-01", "done"), ("2024-01-02", "done"), ("2024-01-03", "done"), ("2024-01-04", "done")]
    assert status.partitions[1]["last_run"] == third.runs["2024-01-02"].run_id
    assert status["count"] == "ok"
    watermark = json.loads((nbt_home / "runs" / "daily" / "partitions.json").read_text())["partitions"]
    assert watermark["2024-01-04"]["status"] == "done" and watermark["2024-01-04"]["file"].endswith("pipeline.yaml")
    # the MLflow run of each processed partition is tagged with it, and the watermark names it
    from nbtoolkit import store

    mlflow_run = store.client().get_run(watermark["2024-01-04"]["mlflow_run_id"])
    assert mlflow_run.data.tags["nbt.partition"] == "2024-01-04"
    assert mlflow_run.info.run_id == third.runs["2024-01-04"].mlflow_run_id


def test_failed_partition_stops_the_run_and_is_retried(daily, nbt_home):
    write_day(daily, "2024-01-02", text="FAIL")
    with pytest.raises(StepFailed) as info:
        run_pipeline(daily / "pipeline.yaml", pending=True)
    message = str(info.value)
    assert message.startswith("Partition '2024-01-02': Step 'count' failed") and "bad data" in message
    assert "1 later partition(s) wait" in message and "--pending retries it" in message
    result = info.value.partitioned  # type: ignore[attr-defined]
    assert result.processed == ["2024-01-01"] and result.failed == ["2024-01-02"] and result.waiting == ["2024-01-03"]
    rows = {p["partition"]: p["status"] for p in pipeline_status(daily / "pipeline.yaml").partitions}
    assert rows == {"2024-01-01": "done", "2024-01-02": "failed", "2024-01-03": "pending"}

    # the CLI: exit 1, one message; the failed partition is retried first, the done one is not rerun
    cli = nbt("pipeline", "run", "pipeline.yaml", "--pending", cwd=daily)
    assert cli.returncode == 1 and "Partition '2024-01-02'" in cli.stderr
    write_day(daily, "2024-01-02")
    retried = run_pipeline(daily / "pipeline.yaml", pending=True)
    assert list(retried.runs) == ["2024-01-02", "2024-01-03"] and retried.passed
    runs = run_folders(nbt_home)
    assert [r["partition"]["value"] for r in runs].count("2024-01-01") == 1


def test_partition_force_and_backfill(daily, nbt_home):
    one = run_pipeline(daily / "pipeline.yaml", partition="2024-01-02")
    assert list(one.runs) == ["2024-01-02"]
    again = run_pipeline(daily / "pipeline.yaml", partition="2024-01-02")
    assert again.runs == {} and again.up_to_date == ["2024-01-02"]  # done, same data
    forced = run_pipeline(daily / "pipeline.yaml", partition="2024-01-02", force=True)
    assert list(forced.runs) == ["2024-01-02"] and forced.runs["2024-01-02"].steps["count"].status == "ok"

    cli = nbt("pipeline", "run", "pipeline.yaml", "--backfill", "2024-01-01..2024-01-02", cwd=daily)
    assert cli.returncode == 0, cli.stderr
    assert "2024-01-01  done" in cli.stdout and "2024-01-02" not in cli.stdout.split("\n", 1)[1]
    rows = {p["partition"]: p["status"] for p in pipeline_status(daily / "pipeline.yaml").partitions}
    assert rows == {"2024-01-01": "done", "2024-01-02": "done", "2024-01-03": "pending"}
    status = nbt("pipeline", "status", "pipeline.yaml", "--format", "json", cwd=daily)
    assert status.returncode == 0
    assert [p["status"] for p in json.loads(status.stdout)["partitions"]] == ["done", "done", "pending"]


def test_two_pending_processes_never_process_the_same_partition(daily, nbt_home):
    procs = [subprocess.Popen([NBT, "pipeline", "run", "pipeline.yaml", "--pending"], cwd=daily,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    values = [r["partition"]["value"] for r in run_folders(nbt_home)]
    assert sorted(values) == ["2024-01-01", "2024-01-02", "2024-01-03"]  # each exactly once
    assert any("0 processed, 3 up to date" in out for out, _ in outs)  # the second found nothing left


def test_sql_source(nbt_home, tmp_path):
    root = tmp_path / "sql"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / "partition.ipynb")
    db = root / "tickets.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE tickets (id INTEGER, created_date TEXT, text TEXT)")
        conn.executemany("INSERT INTO tickets VALUES (?, ?, ?)",
                         [(1, "2024-02-01", "a"), (2, "2024-02-01", "b"), (3, "2024-02-02", "c")])
    (root / "pipeline.yaml").write_text(
        "name: sql-daily\n"
        f"partitions: {{key: date, sql: {{url: 'sqlite:///{db}', table: tickets, column: created_date}}}}\n"
        "steps:\n  - {name: count, notebook: partition.ipynb}\n")
    first = run_pipeline(root / "pipeline.yaml", pending=True)
    assert list(first.runs) == ["2024-02-01", "2024-02-02"]
    # for a table, partition_paths holds the bounds of the partition's query
    executed = json.loads(Path(first.runs["2024-02-01"].steps["count"].executed_notebook).read_text())
    injected = next(c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", []))
    bounds = f'{{"url": "sqlite:///{db}", "table": "tickets", "column": "created_date", "value": "2024-02-01"}}'
    assert f"partition_paths = {bounds}" in "".join(injected["source"])
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE tickets SET text = 'changed' WHERE id = 3")
    assert list(run_pipeline(root / "pipeline.yaml", pending=True).runs) == ["2024-02-02"]


def test_bad_input_is_one_line_and_writes_nothing(daily, nbt_home, tmp_path):
    path = daily / "pipeline.yaml"

    def refused(match: str, **kwargs) -> None:
        with pytest.raises(BadInput, match=match):
            run_pipeline(path, **kwargs)
        assert not (nbt_home / "runs" / "daily").exists() or not run_folders(nbt_home)

    refused(r"--backfill '2024-01-03..2024-01-01' is reversed", backfill="2024-01-03..2024-01-01")
    refused(r"No partition of 'daily' lies in --backfill", backfill="2023-01-01..2023-12-31")
    refused(r"--backfill takes FROM..TO", backfill="2024-01-01")
    refused(r"not an ISO date", partition="2024-1-2")
    refused(r"No partition '2024-01-09'", partition="2024-01-09")
    refused(r"pass one of --pending, --partition KEY, --backfill FROM..TO")
    refused(r"give one of --pending, --partition", pending=True, partition="2024-01-01")
    refused(r"pending must be True or False", pending="yes")
    with pytest.raises(BadInput, match=r"needs a partitioned pipeline"):
        run_pipeline(Path(__file__).parent / "pipelines" / "parallel.yaml", pending=True)

    # a source without {key}; a key value in the data that does not parse
    path.write_text(PIPELINE.replace("date={date}", "date=day"))
    with pytest.raises(BadInput, match=r"must name the key \{date\} once"):
        load_pipeline(path)
    path.write_text(PIPELINE)
    write_day(daily, "2024-13-01")
    refused(r"partition found in 'data/date=\{date\}/\*.csv' .* is not an ISO date", pending=True)
    shutil.rmtree(daily / "data" / "date=2024-13-01")
    cli = nbt("pipeline", "run", "pipeline.yaml", "--backfill", "2024-01-05..2024-01-01", cwd=daily)
    assert cli.returncode == 2 and cli.stderr.count("\n") == 1 and "reversed" in cli.stderr

    # a processed partition whose folder was deleted: said so, no crash
    run_pipeline(path, partition="2024-01-01")
    shutil.rmtree(daily / "data" / "date=2024-01-01")
    rows = {p["partition"]: (p["status"], p["reason"]) for p in pipeline_status(path).partitions}
    assert rows["2024-01-01"] == ("missing", "processed, but its data is gone from the source")
    with pytest.raises(BadInput, match=r"Partition '2024-01-01' of 'daily' was processed .* its data is gone"):
        run_pipeline(path, partition="2024-01-01")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        later = run_pipeline(path, pending=True)
    assert later.missing == ["2024-01-01"] and list(later.runs) == ["2024-01-02", "2024-01-03"]
    assert any("gone from the source" in str(w.message) for w in caught)

    # a watermark written by another pipeline (same name, another file)
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(NOTEBOOK, other / "partition.ipynb")
    (other / "pipeline.yaml").write_text(PIPELINE)
    write_day(other, "2024-01-01")
    # the two pipeline files' paths are cut in the message when long: match what does not depend on them
    written_by = r"The watermark of pipeline 'daily' .* was written by .* with key 'date' .*not by .*own name"
    with pytest.raises(BadInput, match=written_by):
        run_pipeline(other / "pipeline.yaml", pending=True)
    with pytest.raises(BadInput, match=r"written by"):
        pipeline_status(other / "pipeline.yaml")


LOCK_HOLDER = """
import sys
from nbtoolkit.pipeline import load_pipeline
from nbtoolkit.pipeline.watermark import open_watermark
mark = open_watermark(load_pipeline(sys.argv[1]))
with mark.lock():
    print("locked", flush=True)
    sys.stdin.readline()
"""


def test_team_mode_watermark_is_a_table_and_the_lock_a_postgres_advisory_lock(daily, nbt_home, postgres,
                                                                               monkeypatch):
    import threading

    from nbtoolkit.pipeline.watermark import SqlWatermark, identity, open_watermark

    monkeypatch.setenv("NBT_PREDICTIONS_URL", postgres.create_database("watermark"))
    pipeline = load_pipeline(daily / "pipeline.yaml")
    mark = open_watermark(pipeline)
    assert isinstance(mark, SqlWatermark) and "nbt_partitions" in mark.where
    # another process holds the lock: this one waits until it lets go
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(daily / "pipeline.yaml")], text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == "locked"
    got = threading.Event()

    def take() -> None:
        with mark.lock():
            got.set()

    waiter = threading.Thread(target=take)
    waiter.start()
    assert not got.wait(1.0)  # still held by the other process
    # a partition marked running is running while its run holds the lock, and pending once it is gone
    mark.write("2024-01-03", {**identity(pipeline), "status": "running", "data_hash": "x", "run_id": None})
    assert pipeline_status(daily / "pipeline.yaml").partitions[2]["status"] == "running"
    holder.communicate("go\n", timeout=60)
    assert got.wait(60)
    waiter.join()
    row = pipeline_status(daily / "pipeline.yaml").partitions[2]
    assert row["status"] == "pending" and "did not finish" in row["reason"]

    first = run_pipeline(daily / "pipeline.yaml", partition="2024-01-01")
    entries = mark.read()
    assert entries["2024-01-01"]["status"] == "done"
    assert entries["2024-01-01"]["run_id"] == first.runs["2024-01-01"].run_id
    assert not (nbt_home / "runs" / "daily" / "partitions.json").exists()  # the table, not the file
    rows = {p["partition"]: p["status"] for p in pipeline_status(daily / "pipeline.yaml").partitions}
    assert rows == {"2024-01-01": "done", "2024-01-02": "pending", "2024-01-03": "pending"}


def test_magic_runs_pending_partitions(daily, ip):
    from IPython.core.error import UsageError

    ip.run_line_magic("cd", str(daily))
    first = ip.run_line_magic("nbt", "pipeline run pipeline.yaml --partition 2024-01-01")
    assert first.processed == ["2024-01-01"]
    with pytest.raises(UsageError, match=r"--backfill '2024-01-03..2024-01-02' is reversed"):
        ip.run_line_magic("nbt", "pipeline run pipeline.yaml --backfill 2024-01-03..2024-01-02")
    status = ip.run_line_magic("nbt", "pipeline status pipeline.yaml")
    assert [p["status"] for p in status.partitions] == ["done", "pending", "pending"]
    assert "Partitions" in status._repr_html_() and "nbt-good" in status._repr_html_()
