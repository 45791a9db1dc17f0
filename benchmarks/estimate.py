"""Label-free estimation and drift over time: nbtoolkit vs NannyML 0.13.1 side by side.

Data:
- NannyML's documented quickstart datasets, loaded inside NannyML's venv and written to Parquet:
  ``load_synthetic_car_loan_dataset`` (binary, 50k reference + 50k analysis with targets kept
  apart) and ``load_synthetic_binary_classification_dataset`` (work from home, same shape);
- our synthetic data: a known labelling rule y ~ Bernoulli(sigmoid(1.5 x1 − x2 + 0.5 c)), a model
  that is overconfident (temperature 1.8: calibration matters) and covariate drift growing over the
  analysis chunks; for drift, the 20-column table of ``nbtoolkit.examples.synthetic`` with shifts
  from chunk 5 (50k reference, 10 × 5,000 analysis rows).

NannyML runs in its own venv (``$TMPDIR/nbt-drift-bench/nannyml``, created by benchmarks/drift.py
or here on first use) reading the same Parquet files. Both sides use chunks of 5,000 rows.
Estimation: CBPE(roc_auc, accuracy, f1) fit + estimate vs ``nbt.estimate``. Drift:
UnivariateDriftCalculator (KS for continuous, Jensen–Shannon for categorical columns, both with
its default thresholds: reference chunks' mean + 3 sd) fit + calculate vs ``nbt.drift(...,
chunk_size=5000, threshold="reference")`` with the same methods. Printed: per-chunk estimate
difference to CBPE, each tool's mean error against the realised values, the overlap of flagged
chunk × column cells (Jaccard), and time ratios.

Regression (``--regression`` runs only this part): NannyML's ``load_synthetic_car_price_dataset``
(60k reference + 60k analysis, targets kept apart), chunks of 6,000 rows, DLE(mae, mse, rmse,
mape) fit + estimate against ``nbt.estimate`` without ``proba`` on the same seven features;
printed: each tool's mean |estimate − realised| per metric and their ratio, the share of realised
values inside our band, wall and CPU times (CPU: all threads; the box is shared).

Shift-aware estimation (``--shift`` runs only this part): see benchmarks/estimate_shift.py.

    .venv/bin/python benchmarks/estimate.py [--repeat 3] [--regression] [--shift]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from drift import BENCH, venv_python  # noqa: E402  (same venv as the drift benchmark)

CHUNK = 5_000
METRICS = ["roc_auc", "accuracy", "f1"]

NANNYML = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, pandas as pd
import nannyml as nml

config = json.load(open(sys.argv[1]))
out = {}
for ds in config["datasets"]:
    if ds.get("load"):
        ref, ana, targets = getattr(nml, ds["load"])()
        ana = ana.merge(targets, on=ds["id"])
        ref.to_parquet(ds["reference"]); ana.to_parquet(ds["analysis"])
    ref, ana = pd.read_parquet(ds["reference"]), pd.read_parquet(ds["analysis"])
    for frame in (ref, ana):
        for col in ds["categorical"]:
            frame[col] = frame[col].astype(object)
    res = {}
    if ds.get("target"):
        times = []
        for _ in range(config["repeat"]):
            est = nml.CBPE(y_pred_proba=ds["proba"], y_pred=ds["prediction"], y_true=ds["target"],
                           metrics=config["metrics"], chunk_size=config["chunk"],
                           problem_type="classification_binary")
            t0 = time.perf_counter(); est.fit(ref); fit = time.perf_counter() - t0
            t0 = time.perf_counter(); result = est.estimate(ana); run = time.perf_counter() - t0
            times.append((fit + run, fit, run))
        best = min(times)
        df = result.filter(period="analysis").to_df()
        rows = []
        for i in range(len(df)):
            for m in config["metrics"]:
                rows.append({"chunk": df[("chunk", "key")].iloc[i], "metric": m,
                             "estimate": float(df[(m, "value")].iloc[i]),
                             "lower": float(df[(m, "lower_confidence_boundary")].iloc[i]),
                             "upper": float(df[(m, "upper_confidence_boundary")].iloc[i])})
        res["cbpe"] = {"seconds": best[0], "fit": best[1], "estimate": best[2], "rows": rows}
    times = []
    for _ in range(config["repeat"]):
        calc = nml.UnivariateDriftCalculator(column_names=ds["features"], chunk_size=config["chunk"],
                                             continuous_methods=["kolmogorov_smirnov"],
                                             categorical_methods=["jensen_shannon"])
        t0 = time.perf_counter(); calc.fit(ref); fit = time.perf_counter() - t0
        t0 = time.perf_counter(); drift = calc.calculate(ana); run = time.perf_counter() - t0
        times.append((fit + run, fit, run))
    best = min(times)
    df = drift.filter(period="analysis").to_df()
    keys = df[("chunk", "chunk", "key")].tolist()
    flagged = [[keys[i], c[0]] for c in df.columns if c[-1] == "alert" and c[0] != "chunk"
               for i in range(len(df)) if bool(df[c].iloc[i])]
    res["drift"] = {"seconds": best[0], "fit": best[1], "calculate": best[2], "flagged": flagged,
                    "cells": len(keys) * len(ds["features"])}
    out[ds["name"]] = res
print(json.dumps(out))
"""


# ------------------------------------------------------------------------------ our synthetic data
REG_CHUNK = 6_000
REG_FEATURES = ["car_age", "km_driven", "price_new", "accident_count", "door_count", "fuel", "transmission"]
REG_METRIC_SETS = [["mae", "rmse"], ["mae", "mse", "rmse", "mape"]]

NANNYML_DLE = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
pd.set_option("future.infer_string", False)  # DLE reshapes string columns, which pandas 3's Arrow strings refuse
import nannyml as nml

config = json.load(open(sys.argv[1]))
ref, ana, targets = nml.load_synthetic_car_price_dataset()
ana = ana.merge(targets, on="id")
ref.to_parquet(config["reference"]); ana.to_parquet(config["analysis"])
out = {}
for metrics in config["metric_sets"]:
    times = []
    for _ in range(config["repeat"]):
        r, a = ref.copy(), ana.copy()
        est = nml.DLE(feature_column_names=config["features"], y_pred="y_pred", y_true="y_true",
                      metrics=metrics, chunk_size=config["chunk"])
        w0, c0 = time.perf_counter(), time.process_time()
        est.fit(r)
        w1 = time.perf_counter()
        result = est.estimate(a)
        w2, c2 = time.perf_counter(), time.process_time()
        times.append((w2 - w0, w1 - w0, w2 - w1, c2 - c0))
    best = min(times)
    df = result.filter(period="analysis").to_df()
    rows = [{"chunk": df[("chunk", "key")].iloc[i], "metric": m, "estimate": float(df[(m, "value")].iloc[i]),
             "realised": float(df[(m, "realized")].iloc[i])} for i in range(len(df)) for m in metrics]
    out[",".join(metrics)] = {"seconds": best[0], "fit": best[1], "estimate": best[2], "cpu": best[3], "rows": rows}
print(json.dumps(out))
"""


def regression(repeat: int) -> list[dict]:
    """DLE vs nbt.estimate without proba on NannyML's car-price data (see the module docstring)."""
    import nbtoolkit as nbt

    folder = BENCH / "estimate"
    folder.mkdir(parents=True, exist_ok=True)
    config = {"reference": str(folder / "price_ref.parquet"), "analysis": str(folder / "price_ana.parquet"),
              "features": REG_FEATURES, "metric_sets": REG_METRIC_SETS, "chunk": REG_CHUNK, "repeat": repeat}
    (folder / "dle.json").write_text(json.dumps(config))
    python = venv_python("nannyml")
    if python is None:
        sys.exit("NannyML's venv could not be created; nothing to compare with.")
    script = folder / "run_dle.py"
    script.write_text(NANNYML_DLE)
    print("running NannyML DLE ...", flush=True)
    env = {**os.environ, "NML_DISABLE_USAGE_LOGGING": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([str(python), str(script), str(folder / "dle.json")], check=False, capture_output=True,
                          text=True, env=env)
    if proc.returncode:
        sys.exit(f"NannyML DLE failed:\n{proc.stderr[-3000:]}")
    theirs = json.loads(proc.stdout.strip().splitlines()[-1])
    r, a = pd.read_parquet(config["reference"]), pd.read_parquet(config["analysis"])
    nbt.estimate(r.head(3000), a.head(3000), target="y_true", prediction="y_pred", features=REG_FEATURES,
                 metrics=["mae"], chunk_size=1000)  # warm-up: imports outside the timings
    print(f"\ncar price (NannyML): regression estimation, chunks of {REG_CHUNK:,} rows; best of {repeat} runs")
    summary = []
    for metrics in REG_METRIC_SETS:
        dle = theirs[",".join(metrics)]
        walls, cpus, result = [], [], None
        for _ in range(repeat):
            w0, c0 = time.perf_counter(), time.process_time()
            result = nbt.estimate(r, a, target="y_true", prediction="y_pred", features=REG_FEATURES,
                                  metrics=metrics, chunk_size=REG_CHUNK)
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
        ours = result.to_frame()
        both = ours.merge(pd.DataFrame(dle["rows"]), on=["chunk", "metric"], suffixes=("", "_dle"))
        print(f"  metrics {', '.join(metrics)}:")
        line = {"metrics": ",".join(metrics)}
        for metric in metrics:
            part = both[both.metric == metric]
            err_ours = (part["estimate"] - part["realised"]).abs().mean()
            err_dle = (part["estimate_dle"] - part["realised"]).abs().mean()
            inside = ((part["realised"] >= part["lower"]) & (part["realised"] <= part["upper"])).mean()
            same = (part["realised"] - part["realised_dle"]).abs().max()
            apart = (part["estimate"] - part["estimate_dle"]).abs().mean()
            print(f"    {metric:5} |estimate − realised|: ours {err_ours:.4g}, DLE {err_dle:.4g} → ratio "
                  f"{err_ours / err_dle:.2f}   |ours − DLE| {apart:.4g}"
                  f"   realised inside our band {inside:.0%}   (realised values differ by ≤ {same:.1e})")
            line[f"{metric}_ratio"] = err_ours / err_dle
        wall, cpu = min(walls), min(cpus)
        print(f"    time: nbtoolkit {wall:.3f} s (CPU {cpu:.3f} s), DLE fit+estimate {dle['seconds']:.3f} s "
              f"(fit {dle['fit']:.3f} + estimate {dle['estimate']:.3f}; CPU {dle['cpu']:.3f} s) → "
              f"{dle['seconds'] / wall:.1f}× faster (CPU {dle['cpu'] / cpu:.1f}×)")
        line.update(speed=dle["seconds"] / wall, cpu_speed=dle["cpu"] / cpu)
        summary.append(line)
    print(pd.DataFrame(summary).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    return summary


def synthetic_estimation(n_ref: int = 50_000, chunks: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    def part(n, seed, shift):
        rng = np.random.default_rng(seed)
        x1, x2 = rng.normal(shift, 1, n), rng.normal(0, 1, n)
        c = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
        logit = 1.5 * x1 - x2 + 0.5 * (c == "a")
        y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
        p = 1 / (1 + np.exp(-1.8 * logit))                     # overconfident model
        return pd.DataFrame({"x1": x1, "x2": x2, "c": c, "y_true": y, "y_pred_proba": p,
                             "y_pred": (p >= 0.5).astype(int)})

    ref = part(n_ref, 0, 0.0)
    ana = pd.concat([part(CHUNK, 100 + i, 0.1 * i) for i in range(chunks)], ignore_index=True)
    return ref, ana


def timeline_chunks(timeline):
    """(index, key) of the current chunks of a DriftTimeline, oldest first."""
    from types import SimpleNamespace

    keys = list(dict.fromkeys(r["chunk"] for r in timeline.rows if r["period"] == "current"))
    return [SimpleNamespace(index=i, key=k) for i, k in enumerate(keys)]


def timed_best(fn, repeat: int):
    best, out = None, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        t = time.perf_counter() - t0
        best = t if best is None else min(best, t)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing (best is kept)")
    parser.add_argument("--regression", action="store_true", help="run only the regression comparison (DLE)")
    parser.add_argument("--shift", action="store_true",
                        help="run only the shift-aware estimation comparison (benchmarks/estimate_shift.py)")
    args = parser.parse_args()
    if args.shift:
        from estimate_shift import main as shift_main

        shift_main(args.repeat)
        return
    if args.regression:
        regression(args.repeat)
        return

    import nbtoolkit as nbt
    from nbtoolkit.examples.synthetic import CATEGORIES, DRIFTED, drift_frame

    folder = BENCH / "estimate"
    folder.mkdir(parents=True, exist_ok=True)
    ref, ana = synthetic_estimation()
    ref.to_parquet(folder / "syn_ref.parquet")
    ana.to_parquet(folder / "syn_ana.parquet")
    dref = drift_frame(50_000, 1, drifted=False)
    dana = pd.concat([drift_frame(CHUNK, 10 + i, drifted=i >= 5) for i in range(10)], ignore_index=True)
    dref.to_parquet(folder / "drift_ref.parquet")
    dana.to_parquet(folder / "drift_ana.parquet")

    datasets = [
        {"name": "car loan (NannyML)", "load": "load_synthetic_car_loan_dataset", "id": "id",
         "reference": str(folder / "car_ref.parquet"), "analysis": str(folder / "car_ana.parquet"),
         "target": "repaid", "prediction": "y_pred", "proba": "y_pred_proba",
         "features": ["car_value", "salary_range", "debt_to_income_ratio", "loan_length",
                      "repaid_loan_on_prev_car", "size_of_downpayment", "driver_tenure"],
         "categorical": ["salary_range", "repaid_loan_on_prev_car"]},
        {"name": "work from home (NannyML)", "load": "load_synthetic_binary_classification_dataset",
         "id": "id", "reference": str(folder / "wfh_ref.parquet"),
         "analysis": str(folder / "wfh_ana.parquet"), "target": "work_home_actual", "prediction": "y_pred",
         "proba": "y_pred_proba",
         "features": ["distance_from_office", "salary_range", "gas_price_per_litre",
                      "public_transportation_cost", "wfh_prev_workday", "workday", "tenure"],
         "categorical": ["salary_range", "wfh_prev_workday", "workday"]},
        {"name": "nbtoolkit synthetic", "reference": str(folder / "syn_ref.parquet"),
         "analysis": str(folder / "syn_ana.parquet"), "target": "y_true", "prediction": "y_pred",
         "proba": "y_pred_proba", "features": ["x1", "x2", "c"], "categorical": ["c"]},
        {"name": "drift table 20 cols", "reference": str(folder / "drift_ref.parquet"),
         "analysis": str(folder / "drift_ana.parquet"), "features": list(dref.columns),
         "categorical": list(CATEGORIES), "truth": sorted(DRIFTED)},
    ]
    config = folder / "config.json"
    config.write_text(json.dumps({"datasets": datasets, "metrics": METRICS, "chunk": CHUNK,
                                  "repeat": args.repeat}))

    python = venv_python("nannyml")
    if python is None:
        sys.exit("NannyML's venv could not be created; nothing to compare with.")
    script = folder / "run_nannyml.py"
    script.write_text(NANNYML)
    print("running NannyML ...", flush=True)
    env = {**os.environ, "NML_DISABLE_USAGE_LOGGING": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([str(python), str(script), str(config)], capture_output=True, text=True, env=env)
    if proc.returncode:
        sys.exit(f"NannyML failed:\n{proc.stderr[-3000:]}")
    theirs = json.loads(proc.stdout.strip().splitlines()[-1])

    # warm-up: imports (scikit-learn, scipy) outside the timings, as NannyML's are
    nbt.estimate(ref.head(2000), ana.head(2000), target="y_true", prediction="y_pred", proba="y_pred_proba",
                 metrics=METRICS, chunk_size=500)
    nbt.drift(dana.head(4000), dref.head(4000), chunk_size=1000, log=False)

    print(f"\nchunks of {CHUNK:,} rows; times are the best of {args.repeat} runs\n")
    summary = []
    for ds in datasets:
        name = ds["name"]
        r, a = pd.read_parquet(ds["reference"]), pd.read_parquet(ds["analysis"])
        line = {"dataset": name}
        if ds.get("target"):
            cbpe = theirs[name]["cbpe"]
            t, result = timed_best(lambda: nbt.estimate(
                r, a, target=ds["target"], prediction=ds["prediction"], proba=ds["proba"],
                metrics=METRICS, chunk_size=CHUNK), args.repeat)
            ours = result.to_frame()
            both = ours.merge(pd.DataFrame(cbpe["rows"]), on=["chunk", "metric"], suffixes=("", "_cbpe"))
            both["diff"] = (both["estimate"] - both["estimate_cbpe"]).abs()
            print(f"{name}: estimation over {len(ours) // len(METRICS)} chunks")
            for metric in METRICS:
                part = both[both.metric == metric]
                err_ours = (part["estimate"] - part["realised"]).abs().mean()
                err_theirs = (part["estimate_cbpe"] - part["realised"]).abs().mean()
                inside = ((part["realised"] >= part["lower"]) & (part["realised"] <= part["upper"])).mean()
                print(f"  {metric:9} |ours − CBPE| mean {part['diff'].mean():.1e} max {part['diff'].max():.1e}"
                      f"   |estimate − realised|: ours {err_ours:.4f}, CBPE {err_theirs:.4f}"
                      f"   realised inside our band: {inside:.0%}")
            print(f"  time: nbtoolkit {t:.3f} s, CBPE fit+estimate {cbpe['seconds']:.3f} s "
                  f"(fit {cbpe['fit']:.3f} + estimate {cbpe['estimate']:.3f}) → {cbpe['seconds'] / t:.1f}× faster")
            line.update(est_max_diff=float(both["diff"].max()), est_ratio=cbpe["seconds"] / t)
        d = theirs[name]["drift"]
        methods = {c: "jensenshannon" for c in ds["categorical"]}
        t, timeline = timed_best(lambda: nbt.drift(a, r, columns=ds["features"], method=methods,
                                                   chunk_size=CHUNK, threshold="reference", log=False), args.repeat)
        mine = {tuple(c) for c in timeline.drifted_cells}
        other = {tuple(c) for c in d["flagged"]}
        union = mine | other
        jaccard = len(mine & other) / len(union) if union else 1.0
        agree = 1 - len(mine ^ other) / d["cells"]
        print(f"{name}: drift over time, {len(ds['features'])} columns × {d['cells'] // len(ds['features'])} chunks")
        print(f"  flagged cells: nbtoolkit {len(mine)}, NannyML {len(other)}, both {len(mine & other)}"
              f" → overlap (Jaccard) {jaccard:.0%}, cells agreeing {agree:.1%}")
        if ds.get("truth"):  # the drift table: which cells really drifted is known
            truth = {(c.key, col) for c in timeline_chunks(timeline) if c.index >= 5 for col in ds["truth"]}
            for who, cells in (("nbtoolkit", mine), ("NannyML", other)):
                print(f"  {who}: {len(cells & truth)} of {len(truth)} truly drifted cells found, "
                      f"{len(cells - truth)} false alarm(s) among {d['cells'] - len(truth)} undrifted cells")
        print(f"  time: nbtoolkit {t:.3f} s, UnivariateDriftCalculator fit+calculate {d['seconds']:.3f} s "
              f"(fit {d['fit']:.3f} + calculate {d['calculate']:.3f}) → {d['seconds'] / t:.1f}× faster\n")
        line.update(drift_jaccard=jaccard, drift_ratio=d["seconds"] / t)
        summary.append(line)
    print(pd.DataFrame(summary).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    regression(args.repeat)


if __name__ == "__main__":
    main()
