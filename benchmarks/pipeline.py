"""nbt run vs bare papermill, measured side by side in one run.

1. import:  ``import papermill`` vs ``nbtoolkit.pipeline.task.import_papermill()`` (fresh processes).
2. per step: ``papermill.execute_notebook`` on a 3-cell notebook (in this process, papermill
   warm) vs ``run_pipeline(force=True)`` of a 5-step chain of the same notebook (MLflow warm,
   parent + nested runs logged): per-step time / bare call time.  Target: overhead <= 10 %.
3. cache:   ``nbt run`` of the 5-step pipeline, cold (fresh store, fresh process) vs rerun
   (every step cached, fresh process).  Target: rerun <= 3 % of the cold run.
4. jobs:    two independent 10-second steps with ``jobs=2`` vs ``jobs=1`` (both forced, this
   process).  Target: <= 0.65x.

Run: .venv/bin/python benchmarks/pipeline.py   (ROUNDS=3 by default; SLEEP=10 for part 4)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROUNDS = int(os.environ.get("ROUNDS", "3"))
SLEEP = float(os.environ.get("SLEEP", "10"))
BIN = Path(sys.executable).parent


def notebook(path: Path) -> None:
    """Three code cells: parameters, a little work, record the result."""
    cells = [
        {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "execution_count": None, "outputs": [],
         "source": "upstream = {}\nn = 1000\nsleep = 0.0"},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
         "source": "import time\ntime.sleep(sleep)\ntotal = sum(range(n)) + sum(len(v) for v in upstream.values())"},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
         "source": "import nbtoolkit\nnbtoolkit.record('total', total)"},
    ]
    nb = {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}}
    path.write_text(json.dumps(nb))


def pipelines(root: Path) -> None:
    notebook(root / "step.ipynb")
    chain = ["name: chain", "steps:"]
    for i in range(1, 6):
        chain += [f"  - name: s{i}", "    notebook: step.ipynb", f"    parameters: {{n: {1000 + i}}}"]
        if i > 1:
            chain.append(f"    needs: [s{i - 1}]")
    (root / "chain.yaml").write_text("\n".join(chain) + "\n")
    (root / "pair.yaml").write_text(
        "name: pair\nsteps:\n"
        f"  - name: a\n    notebook: step.ipynb\n    parameters: {{sleep: {SLEEP}, n: 1}}\n"
        f"  - name: b\n    notebook: step.ipynb\n    parameters: {{sleep: {SLEEP}, n: 2}}\n")


def timed_import(code: str) -> float:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    # As on a user's machine, Python caches the bytecode of what it imports. This machine sets
    # PYTHONDONTWRITEBYTECODE, which made every rerun compile nbtoolkit's (editable) sources
    # again: 0.06 s of a 0.2 s cached rerun.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    root = Path(tempfile.mkdtemp(prefix="nbt-bench-pipeline-"))
    pipelines(root)
    os.environ["NBT_HOME"] = str(root / "home")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    rows: list[tuple[str, float, float, str]] = []

    # 1. import
    bare_imp = statistics.median(timed_import(
        "import time; t = time.perf_counter(); import papermill; print(time.perf_counter() - t)")
        for _ in range(ROUNDS))
    ours_imp = statistics.median(timed_import(
        "import time; t = time.perf_counter(); from nbtoolkit.pipeline.task import import_papermill; "
        "import_papermill(); print(time.perf_counter() - t)") for _ in range(ROUNDS))
    rows.append(("import papermill (s)", bare_imp, ours_imp, "—"))

    # 3. cache (fresh processes, fresh store) — before anything else writes into this home
    t = time.perf_counter()
    subprocess.run([str(BIN / "nbt"), "run", str(root / "chain.yaml")], check=True, capture_output=True)
    cold = time.perf_counter() - t
    reruns = []
    for _ in range(ROUNDS):
        t = time.perf_counter()
        out = subprocess.run([str(BIN / "nbt"), "run", str(root / "chain.yaml"), "--json"], check=True,
                             capture_output=True, text=True)
        reruns.append(time.perf_counter() - t)
        assert all(s["status"] == "cached" for s in json.loads(out.stdout)["steps"].values())
    cached = statistics.median(reruns)

    # 2. per step, in this process: warm both sides first
    from nbtoolkit.pipeline import run_pipeline
    from nbtoolkit.pipeline.task import import_papermill

    pm = import_papermill()
    import papermill as plain_pm  # the same module, for the bare calls

    assert pm is plain_pm
    run_pipeline(root / "chain.yaml", force=True)  # warm: MLflow imported, store open
    params = {"n": 1001, "upstream": {"s0": {"total": 1}}}
    plain_pm.execute_notebook(str(root / "step.ipynb"), str(root / "bare.ipynb"), parameters=params,
                              progress_bar=False, kernel_name="python3")
    bare, ours = [], []
    for _ in range(ROUNDS):  # alternate the two sides
        t = time.perf_counter()
        for _ in range(5):
            plain_pm.execute_notebook(str(root / "step.ipynb"), str(root / "bare.ipynb"), parameters=params,
                                      progress_bar=False, kernel_name="python3")
        bare.append((time.perf_counter() - t) / 5)
        t = time.perf_counter()
        run = run_pipeline(root / "chain.yaml", force=True)
        ours.append((time.perf_counter() - t) / 5)
        assert run.passed and run.mlflow_run_id
    bare_step, ours_step = statistics.median(bare), statistics.median(ours)
    rows.append(("per step: papermill vs run_pipeline (s)", bare_step, ours_step, "<= 1.10"))
    rows.append(("5-step run: cold nbt run vs cached rerun (s)", cold, cached, "<= 0.03"))

    # 4. two independent SLEEP-second steps: jobs=2 vs jobs=1
    t = time.perf_counter()
    assert run_pipeline(root / "pair.yaml", force=True, jobs=1).passed
    sequential = time.perf_counter() - t
    t = time.perf_counter()
    assert run_pipeline(root / "pair.yaml", force=True, jobs=2).passed
    parallel = time.perf_counter() - t
    rows.append((f"two {SLEEP:g}-s steps: jobs=1 vs jobs=2 (s)", sequential, parallel, "<= 0.65"))

    print(f"{'measure':48} {'baseline':>9} {'nbtoolkit':>10} {'ratio':>7}  target")
    for name, base, mine, target in rows:
        print(f"{name:48} {base:9.3f} {mine:10.3f} {mine / base:7.3f}  {target}")


if __name__ == "__main__":
    main()
