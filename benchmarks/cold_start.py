"""The first call in a fresh process, against plain MLflow doing the same job (issue 23, item 2).

Every case is a fresh ``python -c`` (or ``nbt``) process on one embedded store, interleaved with its
floor, medians of ROUNDS (default 5). Target: each nbt case <= 1.0x its floor (stretch 0.5x).

==============================  ==================================================================
nbt                             plain-MLflow floor doing the same job
==============================  ==================================================================
``nbt.evaluate("iris/1", X, y)``  ``mlflow.sklearn.load_model("models:/iris/1")`` +
                                  ``accuracy_score(y, model.predict(X))``
``nbt.register(clf, "iris",``     ``mlflow.start_run()`` + ``mlflow.sklearn.log_model(clf,``
``X=X, y=y)``                     ``serialization_format="skops", registered_model_name="iris",``
                                  ``signature=...)`` (the same safe format; MLflow's default,
                                  cloudpickle, is not the same job)
``nbt data drift cur.csv``        ``load_model`` + ``predict`` + ``read_csv`` + scipy's ``ks_2samp``
``--model iris/1``                on every column and on the predictions
``nbt model list``                ``MlflowClient(uri).search_registered_models()``
==============================  ==================================================================

Both sides read X and y from the same CSV and fit the same model where they fit one. The
environment is the dev venv (bytecode compiled at install, as ``make venv`` and ``make demo`` do).
Set ``NO_PYC=1`` to run every process with ``PYTHONDONTWRITEBYTECODE=1`` (as many containers do: where
no .pyc was compiled at install, every process compiles what it imports again).

Run: .venv/bin/python benchmarks/cold_start.py   (ROUNDS=5)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROUNDS = int(os.environ.get("ROUNDS", "5"))
BIN = Path(sys.executable).parent

DATA = ("import pandas as pd\n"
        "frame = pd.read_csv('iris.csv')\n"
        "X, y = frame.drop(columns='target'), frame['target']\n")
FIT = "from sklearn.linear_model import LogisticRegression\nclf = LogisticRegression(max_iter=500).fit(X, y)\n"

CASES = {
    "evaluate": (
        DATA + "import nbtoolkit as nbt\nnbt.evaluate('iris/1', X, y)\n",
        DATA + "import mlflow.sklearn\nfrom sklearn.metrics import accuracy_score\n"
               "m = mlflow.sklearn.load_model('models:/iris/1')\naccuracy_score(y, m.predict(X))\n",
    ),
    "register": (
        DATA + FIT + "import nbtoolkit as nbt\nnbt.register(clf, 'iris', X=X, y=y)\n",
        DATA + FIT + "import mlflow, mlflow.sklearn, skops.io as sio\n"
               "from mlflow.models import infer_signature\n"
               "trusted = sio.get_untrusted_types(data=sio.dumps(clf))\n"
               "mlflow.set_experiment('floor')\n"
               "with mlflow.start_run():\n"
               "    mlflow.sklearn.log_model(clf, name='model', serialization_format='skops',\n"
               "        skops_trusted_types=trusted, registered_model_name='iris',\n"
               "        signature=infer_signature(X, clf.predict(X)))\n",
    ),
    "drift --model": (
        ["nbt", "data", "drift", "cur.csv", "--model", "iris/1"],
        "import pandas as pd, mlflow.sklearn\nfrom scipy.stats import ks_2samp\n"
        "ref = pd.read_csv('iris.csv').drop(columns='target')\ncur = pd.read_csv('cur.csv')\n"
        "m = mlflow.sklearn.load_model('models:/iris/1')\n"
        "[ks_2samp(ref[c], cur[c]) for c in cur.columns]\n"
        "ks_2samp(m.predict(ref), m.predict(cur))\n",
    ),
    "nbt model list": (
        ["nbt", "model", "list"],
        "from mlflow import MlflowClient\nimport os\n"
        "MlflowClient(os.environ['MLFLOW_TRACKING_URI']).search_registered_models()\n",
    ),
}


def setup(root: Path) -> tuple[dict[str, str], dict[str, str]]:
    home = root / "home"
    uri = f"sqlite:///{home / 'mlflow.db'}"
    base = {**os.environ, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", "GIT_PYTHON_REFRESH": "quiet"}
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "NBT_PREDICTIONS_URL"):
        base.pop(var, None)
    if os.environ.get("NO_PYC"):
        base["PYTHONDONTWRITEBYTECODE"] = "1"
    nbt_env = {**base, "NBT_HOME": str(home)}
    # the floor uses the same database and artifact folder nbtoolkit does
    floor_env = {**base, "MLFLOW_TRACKING_URI": uri, "MLFLOW_REGISTRY_URI": uri}
    code = ("from sklearn.datasets import load_iris\nimport nbtoolkit as nbt\n"
            "X, y = load_iris(return_X_y=True, as_frame=True)\n"
            "X.assign(target=y).to_csv('iris.csv', index=False)\n"
            "X.assign(**{'petal length (cm)': X['petal length (cm)'] + 1}).to_csv('cur.csv', index=False)\n"
            + FIT + "nbt.register(clf, 'iris', X=X, y=y)\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, env=nbt_env, capture_output=True)
    return nbt_env, floor_env


def timed(cmd: str | list[str], cwd: Path, env: dict[str, str]) -> float:
    argv = [str(BIN / cmd[0]), *cmd[1:]] if isinstance(cmd, list) else [sys.executable, "-c", cmd]
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode not in (0, 1):  # 1: drift found
        raise SystemExit(f"{argv} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        nbt_env, floor_env = setup(root)
        times: dict[tuple[str, str], list[float]] = {}
        for name, (ours, floor) in CASES.items():  # warm the OS file cache once
            timed(ours, root, nbt_env)
            timed(floor, root, floor_env)
        for _ in range(ROUNDS):
            for name, (ours, floor) in CASES.items():
                times.setdefault((name, "nbt"), []).append(timed(ours, root, nbt_env))
                times.setdefault((name, "floor"), []).append(timed(floor, root, floor_env))
    load_after = os.getloadavg()
    print("load average before: %.2f %.2f %.2f, after: %.2f %.2f %.2f" % (*load_before, *load_after))
    print(f"{'case (fresh processes, medians of ' + str(ROUNDS) + ')':34s}  nbt      floor    ratio (target <= 1.0x)")
    for name in CASES:
        ours = statistics.median(times[(name, "nbt")])
        floor = statistics.median(times[(name, "floor")])
        print(f"{name:34s} {ours:6.2f} s {floor:6.2f} s  {ours / floor:5.2f}x")


if __name__ == "__main__":
    main()
