"""%nbt register vs mlflow.sklearn.log_model with default settings; nbt.load vs mlflow.pyfunc.load_model.

Both sides run in this process against the same fresh SQLite store, on the same fitted model,
alternating, after one warm-up call each (imports and table creation are not counted).

Cases (breast-cancer data, 569 x 30):
- linear: StandardScaler + LogisticRegression (issue 2 target: nbtoolkit >= 20x faster)
- forest: RandomForestClassifier(100 trees) (target: >= 10x faster). MLflow's defaults
  refuse this model (skops does not trust sklearn.tree._tree.Tree), so its side passes the one
  argument that makes it work, ``skops_trusted_types=skops.io.get_untrusted_types(...)``.
- load of the forest version: nbt.load (sha256 check included) vs mlflow.pyfunc.load_model
  (target: <= 1.2x).

Run: .venv/bin/python benchmarks/register.py   (ROUNDS=3 by default)
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROUNDS = int(os.environ.get("ROUNDS", "3"))


def _median(fn, rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="nbt-bench-register-"))
    os.environ["NBT_HOME"] = str(tmp / "home")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"

    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    import mlflow
    import mlflow.pyfunc
    import mlflow.sklearn
    import skops.io

    import nbtoolkit as nbt
    import nbtoolkit.config as cfg
    import nbtoolkit.store as store

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    forest = RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y)

    c = Config()
    c.HistoryManager.enabled = False
    ip = InteractiveShell.instance(config=c)
    ip.run_line_magic("load_ext", "nbtoolkit")
    ip.push({"linear": linear, "forest": forest, "X": X, "y": y})
    store.mlflow_module()  # same store for both sides
    exp = store.ensure_experiment("bench-mlflow")

    def nbt_register(var: str) -> None:
        ip.run_line_magic("nbt", f"register {var} --name bench_nbt_{var} --data X y --metric accuracy=0.97")

    def mlflow_default(model, name: str, **extra) -> None:
        with mlflow.start_run(experiment_id=exp):
            mlflow.sklearn.log_model(model, name="model", registered_model_name=name, **extra)

    try:
        mlflow_default(forest, "bench_mlflow_refused")
        refused = "accepted"
    except Exception as exc:  # MLflow's defaults: skops refuses the forest's tree type
        refused = f"refused ({type(exc).__name__}: untrusted types)"
        mlflow.end_run()
    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(forest))

    print(f"store: {cfg.tracking_uri()}; {ROUNDS} rounds, medians, alternating")
    results = {}
    for var, model, extra, target in (("linear", linear, {}, 20), ("forest", forest, {"skops_trusted_types": trusted}, 10)):
        nbt_register(var)
        mlflow_default(model, f"bench_mlflow_{var}", **extra)  # warm-up
        t_nbt, t_mlf = [], []
        for _ in range(ROUNDS):
            t0 = time.perf_counter(); nbt_register(var); t_nbt.append(time.perf_counter() - t0)
            t0 = time.perf_counter(); mlflow_default(model, f"bench_mlflow_{var}", **extra); t_mlf.append(time.perf_counter() - t0)
        a, b = statistics.median(t_nbt), statistics.median(t_mlf)
        results[var] = b / a
        print(f"{var:7} %nbt register --data X y: {a:.3f} s | mlflow.sklearn.log_model defaults"
              f"{' + skops_trusted_types' if extra else ''}: {b:.3f} s | nbtoolkit {b / a:.1f}x faster (target >= {target}x)")
    print(f"        (mlflow.sklearn.log_model with pure defaults on the forest: {refused})")

    ref = "bench_nbt_forest/1"
    nbt.load(ref); mlflow.pyfunc.load_model(f"models:/{ref}")  # warm-up
    t_l, t_p = [], []
    for _ in range(max(ROUNDS, 5)):
        t0 = time.perf_counter(); nbt.load(ref); t_l.append(time.perf_counter() - t0)
        t0 = time.perf_counter(); mlflow.pyfunc.load_model(f"models:/{ref}"); t_p.append(time.perf_counter() - t0)
    a, b = statistics.median(t_l), statistics.median(t_p)
    print(f"load    nbt.load (sha256 check + skops with recorded types): {a:.3f} s | "
          f"mlflow.pyfunc.load_model: {b:.3f} s | ratio {a / b:.2f}x (target <= 1.2x)")


if __name__ == "__main__":
    sys.exit(main())
