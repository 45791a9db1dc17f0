"""Partitioned pipelines (issue 21): ``--pending`` with nothing new, and the cost of one more partition.

1. nothing new: ``nbt pipeline run pipeline.yaml --pending`` in a fresh process when all PARTS
   partitions are done (a watermark read and the partition files hashed; no kernel, no MLflow),
   median wall time of ROUNDS runs, beside ``python -c pass`` and ``nbt --version``, and the check
   alone (``run_pipeline(pending=True)`` timed inside a process that imported nbtoolkit).
   Target: <= 0.3 s.
2. per partition: a one-step pipeline over N partitions in one ``nbt pipeline run --pending``
   (fresh store, fresh process): the steady-state time per partition (median time from one
   partition's start to the next one's, after the first) and the all-in time per partition (the
   whole command / N),
   against papermill's per-notebook cost for the same notebook: the ``papermill`` command once per
   partition (what a cron loop over partitions runs), median of N. Target: <= 0.6x.
   Also shown: ``papermill.execute_notebook`` called N times in one warm process.

Run: .venv/bin/python benchmarks/partitions.py   (ROUNDS=7, PARTS=30, N=6 by default)
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROUNDS = int(os.environ.get("ROUNDS", "7"))
PARTS = int(os.environ.get("PARTS", "30"))
N = int(os.environ.get("N", "6"))
BIN = Path(sys.executable).parent


def notebook(path: Path) -> None:
    """Parameters, read the partition's files, record a count: the notebook every side runs."""
    cells = [
        {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "execution_count": None, "outputs": [],
         "source": "partition = ''\npartition_paths = []"},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
         "source": "rows = sum(len(open(p).read().splitlines()) - 1 for p in partition_paths)"},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
         "source": "import nbtoolkit\nnbtoolkit.record('rows', rows)"},
    ]
    nb = {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}}
    path.write_text(json.dumps(nb))


def project(root: Path, parts: int) -> Path:
    root.mkdir(parents=True)
    notebook(root / "step.ipynb")
    for i in range(parts):
        day = time.strftime("%Y-%m-%d", time.gmtime(1704067200 + 86400 * i))
        folder = root / "data" / f"date={day}"
        folder.mkdir(parents=True)
        (folder / "part.csv").write_text("a,b\n" + "".join(f"{j},{j * i}\n" for j in range(100)))
    (root / "pipeline.yaml").write_text(
        "name: daily\npartitions: {key: date, source: \"data/date={date}/*.csv\"}\n"
        "steps:\n  - {name: count, notebook: step.ipynb}\n")
    return root


def wall(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # as on a user's machine: bytecode is cached
    base = Path(tempfile.mkdtemp(prefix="nbt-bench-partitions-"))
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "NBT_PREDICTIONS_URL")}
    nbt = str(BIN / "nbt")

    # 1. nothing new
    root = project(base / "idle", PARTS)
    env1 = dict(env, NBT_HOME=str(base / "idle-home"))
    subprocess.run([nbt, "pipeline", "run", "pipeline.yaml", "--pending"], cwd=root, env=env1, check=True,
                   capture_output=True)
    idle = statistics.median(wall([nbt, "pipeline", "run", "pipeline.yaml", "--pending"], root, env1)
                             for _ in range(ROUNDS))
    python = statistics.median(wall([sys.executable, "-c", "pass"], root, env1) for _ in range(ROUNDS))
    version = statistics.median(wall([nbt, "--version"], root, env1) for _ in range(ROUNDS))
    # the check itself, in a process that has imported nbtoolkit: pipeline file, partition files, watermark
    code = ("import time; from nbtoolkit.pipeline import run_pipeline; t = time.perf_counter(); "
            "r = run_pipeline('pipeline.yaml', pending=True); print(time.perf_counter() - t); assert not r.runs")
    check = statistics.median(float(subprocess.run([sys.executable, "-c", code], cwd=root, env=env1, check=True,
                                                   capture_output=True, text=True).stdout.split()[-1])
                              for _ in range(ROUNDS))

    # 2. per partition
    root = project(base / "busy", N)
    env2 = dict(env, NBT_HOME=str(base / "busy-home"))
    total = wall([nbt, "pipeline", "run", "pipeline.yaml", "--pending"], root, env2)
    runs = sorted((json.loads(p.read_text()) for p in (base / "busy-home" / "runs" / "daily").glob("*/run.json")),
                  key=lambda r: r["started_ts"])
    assert len(runs) == N and all(r["status"] == "ok" for r in runs), [r["status"] for r in runs]
    # from one partition's start to the next one's, after the first: the first pays papermill's import and
    # (in a fresh store) MLflow's database set-up, once per command, not per partition
    steady = statistics.median(b["started_ts"] - a["started_ts"] for a, b in itertools.pairwise(runs[1:]))
    first = runs[1]["started_ts"] - runs[0]["started_ts"]
    papermill = []
    for i, part in enumerate(sorted((root / "data").iterdir())):
        files = [str(p) for p in sorted(part.glob("*.csv"))]
        papermill.append(wall([str(BIN / "papermill"), "step.ipynb", str(base / f"pm-{i}.ipynb"), "-p", "partition",
                               part.name, "-y", json.dumps({"partition_paths": files}), "--no-progress-bar"],
                              root, env2))
    pm_cli = statistics.median(papermill)
    code = ("import json, sys, time, papermill as pm\n"
            "parts = json.loads(sys.argv[1]); out = []\n"
            "for i, (name, files) in enumerate(parts):\n"
            "    t = time.perf_counter()\n"
            "    pm.execute_notebook('step.ipynb', f'{sys.argv[2]}/warm-{i}.ipynb', progress_bar=False,\n"
            "                        parameters={'partition': name, 'partition_paths': files})\n"
            "    out.append(time.perf_counter() - t)\n"
            "print(json.dumps(out))\n")
    parts = [(p.name, [str(f) for f in sorted(p.glob("*.csv"))]) for p in sorted((root / "data").iterdir())]
    warm = json.loads(subprocess.run([sys.executable, "-c", code, json.dumps(parts), str(base)], cwd=root, env=env2,
                                     check=True, capture_output=True, text=True).stdout.splitlines()[-1])
    pm_warm = statistics.median(warm[1:])  # the first call pays the kernel-spec and zmq warm-up

    print(f"1. --pending, nothing new ({PARTS} partitions, median of {ROUNDS}): {idle:.3f} s  "
          f"(python -c pass {python:.3f} s, nbt --version {version:.3f} s; the check itself in-process "
          f"{check:.3f} s)  target <= 0.300 s")
    print(f"2. per partition, one-step pipeline, {N} partitions in one --pending run:")
    print(f"   nbt steady state {steady:.2f} s/partition (median start-to-start after the first); first partition "
          f"{first:.2f} s; all-in {total / N:.2f} s/partition ({total:.1f} s total)")
    print(f"   papermill command per notebook {pm_cli:.2f} s (median of {N}); "
          f"execute_notebook in a warm process {pm_warm:.2f} s")
    print(f"   ratio steady / papermill command = {steady / pm_cli:.2f}  (target <= 0.60); "
          f"all-in / papermill command = {total / N / pm_cli:.2f}; steady / warm execute_notebook = "
          f"{steady / pm_warm:.2f}")


if __name__ == "__main__":
    main()
