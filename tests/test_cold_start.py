"""The first call in a fresh process: import order that keeps it cheap, with trust unchanged.

skops' import names every scipy ufunc it trusts by scanning ``sys.modules`` in import order
(pickle's ``whichmodule``); a cold ``evaluate`` therefore imports scikit-learn (and so scipy)
before MLflow. These tests check, in fresh processes, that it does, and that skops' default
trusted lists — which :func:`nbtoolkit.registry.trust.audit` relies on — come out the same
whichever order the modules were imported in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

LISTS = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
import skops.io._trusted_types as T
print(json.dumps({k: sorted(map(str, v)) for k, v in vars(T).items() if k.isupper() and isinstance(v, list)}))
"""

MLFLOW_STORE = ["mlflow", "mlflow.store.tracking.sqlalchemy_store", "mlflow.store.model_registry.sqlalchemy_store"]


def _lists(*first: str) -> dict[str, list[str]]:
    out = subprocess.run([sys.executable, "-c", LISTS, *first], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_skops_trusted_lists_do_not_depend_on_import_order():
    alone = _lists()
    after_mlflow = _lists(*MLFLOW_STORE)
    sklearn_first = _lists("sklearn.base", *MLFLOW_STORE)
    assert alone["SCIPY_UFUNC_TYPE_NAMES"] and alone["SKLEARN_ESTIMATOR_TYPE_NAMES"]
    assert after_mlflow == alone
    assert sklearn_first == alone


REGISTER = """
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
import nbtoolkit as nbt
X, y = load_iris(return_X_y=True, as_frame=True)
X.assign(target=y).to_csv("iris.csv", index=False)
nbt.register(LogisticRegression(max_iter=500).fit(X, y), "iris", X=X, y=y)
"""

# pandas imports neither scipy nor scikit-learn: the process is cold for both when evaluate starts
EVALUATE = """
import json, sys
import pandas as pd
frame = pd.read_csv("iris.csv")
assert "scipy" not in sys.modules and "sklearn" not in sys.modules
import nbtoolkit as nbt
report = nbt.evaluate("iris/1", frame.drop(columns="target"), frame["target"])
order = list(sys.modules)
print(json.dumps({"accuracy": report.metrics["accuracy"], "scipy": order.index("scipy.special"),
                  "mlflow": order.index("mlflow"), "skops": order.index("skops.io")}))
"""


def test_cold_evaluate_imports_scipy_before_mlflow(nbt_home):
    env = {**os.environ, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    subprocess.run([sys.executable, "-c", REGISTER], check=True, env=env, capture_output=True)
    out = subprocess.run([sys.executable, "-c", EVALUATE], check=True, env=env, capture_output=True, text=True)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["accuracy"] > 0.9
    assert seen["scipy"] < seen["mlflow"] < seen["skops"]


EXIT = """
import atexit, sys
import nbtoolkit as nbt
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True, as_frame=True)
nbt.register(LogisticRegression(max_iter=500).fit(X, y), "iris", X=X, y=y)
LEFT_OPEN = open("left-open.txt", "w")  # never closed: flushed when the module is cleared
LEFT_OPEN.write("written")
atexit.register(lambda: print("exit handler ran"))
"""


def test_exit_after_mlflow_still_runs_handlers_and_keeps_the_store(nbt_home, tmp_path):
    """The freeze at exit (store._freeze_at_exit) skips garbage collection only: exit handlers
    run, a file left open is flushed, and what was written is in the store for the next process."""
    env = {**os.environ, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    out = subprocess.run([sys.executable, "-c", EXIT], check=True, env=env, capture_output=True, text=True)
    assert "exit handler ran" in out.stdout
    assert (tmp_path / "left-open.txt").read_text() == "written"
    import nbtoolkit as nbt

    assert [row["version"] for row in nbt.versions("iris").rows] == ["1"]
