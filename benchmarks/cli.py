"""How fast the ``nbt`` command answers, against the floors it cannot beat.

All cases are fresh processes, interleaved, medians of ROUNDS (default 5), on one embedded store:

1. ``nbt model list`` and ``nbt model versions iris`` vs the floor: a bare
   ``python -c "import mlflow; MlflowClient(uri).search_model_versions(...)"``.  Target <= 1.3x.
2. ``nbt data drift cur.csv --model iris/1`` vs the floor plus the check itself (the same drift,
   timed warm in this process: reading the CSV, the stored profile, the model's predictions and
   the tests).  Target <= 1.5x.  ``--no-predictions`` (inputs only: no model load, no sklearn) is
   shown too.  With prediction drift the model must be loaded, and ``import skops.io`` alone
   imports every scikit-learn estimator (skops builds its trusted-type list with
   ``sklearn.utils.all_estimators()`` at import); so that case is also set against the floor that
   loads a model: the same bare call plus ``import skops.io``.
3. a one-step ``nbt pipeline run`` (forced) vs the papermill CLI on the same notebook with the same
   parameter, cold processes both.  Target <= 1.0x.

Wall time is what the targets are about; CPU time (user + sys of the process and its children,
e.g. the kernel) is printed beside it because on a shared machine wall time swings with the load.

Run: .venv/bin/python benchmarks/cli.py   (ROUNDS=5)
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROUNDS = int(os.environ.get("ROUNDS", "5"))
BIN = Path(sys.executable).parent


def notebook(path: Path) -> None:
    cells = [
        {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "execution_count": None, "outputs": [],
         "source": "n = 1000"},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
         "source": "total = sum(range(n))"},
    ]
    nb = {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}}
    path.write_text(json.dumps(nb))


def setup(root: Path) -> dict[str, str]:
    env = {**os.environ, "NBT_HOME": str(root / "home"), "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("MLFLOW_REGISTRY_URI", None)
    code = ("import nbtoolkit as nbt\n"
            "from sklearn.datasets import load_iris\n"
            "from sklearn.linear_model import LogisticRegression\n"
            "X, y = load_iris(return_X_y=True, as_frame=True)\n"
            "clf = LogisticRegression(max_iter=500).fit(X, y)\n"
            "for _ in range(3):\n"
            "    nbt.register(clf, 'iris', X=X, y=y, metrics={'accuracy': 0.95})\n"
            "X.assign(**{'petal length (cm)': X['petal length (cm)'] + 1}).to_csv('cur.csv', index=False)\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, env=env, capture_output=True)
    notebook(root / "step.ipynb")
    (root / "one.yaml").write_text("name: one\nsteps:\n  - name: s\n    notebook: step.ipynb\n")
    return env


CPU: dict[str, list[float]] = {}


def timed(cmd: list[str], cwd: Path, env: dict[str, str], ok: tuple[int, ...] = (0,), name: str = "") -> float:
    """Wall time of a fresh process; its CPU time (user + sys, children included) goes to CPU[name]."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    CPU.setdefault(name, []).append(cpu)
    return elapsed


def check_in_process(root: Path, env: dict[str, str], *, predictions: bool) -> float:
    """The drift check alone, warm (imports done, one warm-up call), in a helper process."""
    code = ("import time, statistics, nbtoolkit as nbt\n"
            "from nbtoolkit.commands.data import read_table\n"
            f"kw = {{}} if {predictions} else {{'predictions': False}}\n"
            "def once():\n"
            "    t0 = time.perf_counter()\n"
            "    nbt.drift(read_table('cur.csv'), model='iris/1', **kw)\n"
            "    return time.perf_counter() - t0\n"
            "once()\n"
            "print(statistics.median(once() for _ in range(5)))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = setup(root)
        uri = f"sqlite:///{root / 'home' / 'mlflow.db'}"
        floor = [sys.executable, "-c", "import mlflow\nfrom mlflow import MlflowClient\n"
                 f"MlflowClient({uri!r}).search_model_versions(\"name='iris'\")"]
        floor_model = [sys.executable, "-c", "import mlflow, skops.io\nfrom mlflow import MlflowClient\n"
                       f"MlflowClient({uri!r}).search_model_versions(\"name='iris'\")"]
        nbt = str(BIN / "nbt")
        cases = {
            "floor: import mlflow; MlflowClient(uri).search_model_versions()": (floor, (0,)),
            "floor with the model's imports: + import skops.io": (floor_model, (0,)),
            "nbt model list": ([nbt, "model", "list"], (0,)),
            "nbt model versions iris": ([nbt, "model", "versions", "iris"], (0,)),
            "nbt data drift cur.csv --model iris/1": ([nbt, "data", "drift", "cur.csv", "--model", "iris/1"], (0,)),
            "nbt data drift cur.csv --model iris/1 --no-predictions":
                ([nbt, "data", "drift", "cur.csv", "--model", "iris/1", "--no-predictions"], (0,)),
            "papermill step.ipynb out.ipynb -p n 1000":
                ([str(BIN / "papermill"), "step.ipynb", "out.ipynb", "-p", "n", "1000"], (0,)),
            "nbt pipeline run one.yaml -p n 1000 --force":
                ([nbt, "pipeline", "run", "one.yaml", "-p", "n", "1000", "--force"], (0,)),
        }
        times: dict[str, list[float]] = {k: [] for k in cases}
        for name, (cmd, ok) in cases.items():  # warm the OS file cache once
            timed(cmd, root, env, ok)
        CPU.clear()
        for _ in range(ROUNDS):
            for name, (cmd, ok) in cases.items():
                times[name].append(timed(cmd, root, env, ok, name))
        med = {k: statistics.median(v) for k, v in times.items()}
        cpu = {k: statistics.median(v) for k, v in CPU.items()}
        check = check_in_process(root, env, predictions=True)
        check_inputs = check_in_process(root, env, predictions=False)
    load_after = os.getloadavg()
    print("load average (1, 5, 15 min) before: %.2f %.2f %.2f, after: %.2f %.2f %.2f" % (*load_before, *load_after))
    f = med["floor: import mlflow; MlflowClient(uri).search_model_versions()"]
    fm = med["floor with the model's imports: + import skops.io"]
    fc = cpu["floor: import mlflow; MlflowClient(uri).search_model_versions()"]
    print(f"{'case (fresh processes, medians of ' + str(ROUNDS) + ')':62s}   wall    CPU")
    for k, v in med.items():
        print(f"{k:62s} {v:6.2f} s {cpu[k]:5.2f} s")
    print(f"{'drift check alone, warm (with predictions / inputs only)':62s} {check:6.2f} s / {check_inputs:.2f} s")
    print()
    print("ratios: wall (CPU)")
    print(f"nbt model list / floor:                      {med['nbt model list'] / f:5.2f}x "
          f"({cpu['nbt model list'] / fc:.2f}x) (target <= 1.3x)")
    print(f"nbt model versions / floor:                  {med['nbt model versions iris'] / f:5.2f}x "
          f"({cpu['nbt model versions iris'] / fc:.2f}x) (target <= 1.3x)")
    d = med["nbt data drift cur.csv --model iris/1"]
    di = med["nbt data drift cur.csv --model iris/1 --no-predictions"]
    print(f"nbt data drift --model / (floor + check):    {d / (f + check):5.2f}x (target <= 1.5x)")
    print(f"  ... / (floor with the model's imports + check): {d / (fm + check):5.2f}x (the floor when predictions "
          "are tested)")
    print(f"  ... --no-predictions / (floor + check):    {di / (f + check_inputs):5.2f}x")
    run, pm = "nbt pipeline run one.yaml -p n 1000 --force", "papermill step.ipynb out.ipynb -p n 1000"
    print(f"nbt pipeline run (1 step) / papermill CLI:   {med[run] / med[pm]:5.2f}x "
          f"({cpu[run] / cpu[pm]:.2f}x) (target <= 1.0x)")


if __name__ == "__main__":
    main()
