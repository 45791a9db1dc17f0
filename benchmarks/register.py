"""%nbt register (through the magic, in-process) vs mlflow.sklearn.log_model with default settings.

Both sides run in this process against the same fresh SQLite store, on the same fitted model,
alternating, after one warm-up call each (imports and table creation are not counted).
Target (issue 2): nbtoolkit >= 20x faster.  Run: .venv/bin/python benchmarks/register.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROUNDS = int(os.environ.get("ROUNDS", "3"))


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="nbt-bench-register-"))
    os.environ["NBT_HOME"] = str(tmp / "home")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"

    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    import mlflow
    import mlflow.sklearn

    import nbtoolkit.config as cfg
    import nbtoolkit.store as store

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)

    c = Config()
    c.HistoryManager.enabled = False
    ip = InteractiveShell.instance(config=c)
    ip.run_line_magic("load_ext", "nbtoolkit")
    ip.push({"clf": model, "X": X, "y": y})

    def nbt_register() -> None:
        ip.run_line_magic("nbt", "register clf --name bench_nbt --data X y --metric accuracy=0.97")

    store.mlflow_module()  # same store for both sides
    exp = store.ensure_experiment("bench-mlflow")

    def mlflow_default() -> None:
        with mlflow.start_run(experiment_id=exp):
            mlflow.sklearn.log_model(model, name="model", registered_model_name="bench_mlflow")

    nbt_register()
    mlflow_default()  # warm-up: imports, tables
    t_nbt, t_mlf = [], []
    for _ in range(ROUNDS):
        t0 = time.perf_counter(); nbt_register(); t_nbt.append(time.perf_counter() - t0)
        t0 = time.perf_counter(); mlflow_default(); t_mlf.append(time.perf_counter() - t0)
    a, b = statistics.median(t_nbt), statistics.median(t_mlf)
    print(f"store: {cfg.tracking_uri()}")
    print(f"%nbt register (with --data X y: fingerprint, schema, profile, signature, example): "
          f"median {a:.3f} s over {ROUNDS}")
    print(f"mlflow.sklearn.log_model(registered_model_name=...) defaults:              "
          f"median {b:.3f} s over {ROUNDS}")
    print(f"ratio: nbtoolkit is {b / a:.1f}x faster (target >= 20x)")


if __name__ == "__main__":
    sys.exit(main())
