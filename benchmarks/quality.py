"""Data quality over time and domain-classifier drift: nbtoolkit vs NannyML 0.13.1 side by side.

Data: NannyML's ``load_synthetic_car_loan_data_quality_dataset`` (50k reference + 50k analysis rows,
missing values in ``salary_range`` and ``driver_tenure``), loaded inside NannyML's venv
(``$TMPDIR/nbt-drift-bench/nannyml``, see benchmarks/drift.py) and written to Parquet; both sides read
the same files and cut chunks of 5,000 rows.

Quality: NannyML's MissingValues (7 feature columns), UnseenValues (the 3 categorical ones),
NumericalRange and SummaryStats Avg/Median/Std/Sum (the 4 numeric ones) and SummaryStatsRowCount,
each fit + calculate, against one ``nbt.quality(...)`` call. Printed: the largest relative
difference of the values, the overlap of the alerts (chunk × column × metric) and the time ratio.

Domain classifier: NannyML's DomainClassifierCalculator (LightGBM, 5-fold CV per chunk) fit +
calculate against ``nbt.drift(..., chunk_size=5000, multivariate="classifier")`` on the same 7
features (the id and the timestamp left out: they separate reference from analysis perfectly).

    .venv/bin/python benchmarks/quality.py [--repeat 3] [--skip-classifier]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from drift import BENCH, venv_python  # the same venv as the drift benchmark

CHUNK = 5_000
CATEGORICAL = ["salary_range", "repaid_loan_on_prev_car", "size_of_downpayment"]
NUMERIC = ["car_value", "debt_to_income_ratio", "loan_length", "driver_tenure"]
FEATURES = NUMERIC + CATEGORICAL

NANNYML = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, pandas as pd
import nannyml as nml

cfg = json.load(open(sys.argv[1]))
if not (cfg["reference"] and __import__("os").path.exists(cfg["reference"])):
    ref, ana, _ = nml.load_synthetic_car_loan_data_quality_dataset()
    ref.to_parquet(cfg["reference"]); ana.to_parquet(cfg["analysis"])
ref, ana = pd.read_parquet(cfg["reference"]), pd.read_parquet(cfg["analysis"])
for frame in (ref, ana):
    for col in cfg["categorical"]:
        if frame[col].dtype != bool:
            frame[col] = frame[col].astype(object)
chunk = cfg["chunk"]
calcs = {
    "missing_rate": (nml.MissingValuesCalculator, cfg["categorical"] + cfg["numeric"]),
    "unseen_rate": (nml.UnseenValuesCalculator, cfg["categorical"]),
    "out_of_range_rate": (nml.NumericalRangeCalculator, cfg["numeric"]),
    "mean": (nml.SummaryStatsAvgCalculator, cfg["numeric"]),
    "median": (nml.SummaryStatsMedianCalculator, cfg["numeric"]),
    "std": (nml.SummaryStatsStdCalculator, cfg["numeric"]),
    "sum": (nml.SummaryStatsSumCalculator, cfg["numeric"]),
}
out = {"rows": [], "seconds": 0.0}
best = None
for _ in range(cfg["repeat"]):
    rows, seconds = [], 0.0
    for metric, (cls, cols) in calcs.items():
        t0 = time.perf_counter()
        result = cls(column_names=cols, chunk_size=chunk).fit(ref).calculate(ana)
        seconds += time.perf_counter() - t0
        df = result.to_df()
        for i in range(len(df)):
            for col in cols:
                rows.append([df[("chunk", "period")].iloc[i], df[("chunk", "key")].iloc[i], col, metric,
                             float(df[(col, "value")].iloc[i]), bool(df[(col, "alert")].iloc[i])])
    t0 = time.perf_counter()
    result = nml.SummaryStatsRowCountCalculator(chunk_size=chunk).fit(ref).calculate(ana)
    seconds += time.perf_counter() - t0
    df = result.to_df()
    for i in range(len(df)):
        rows.append([df[("chunk", "period")].iloc[i], df[("chunk", "key")].iloc[i], "(rows)", "rows",
                     float(df[("rows_count", "value")].iloc[i]), bool(df[("rows_count", "alert")].iloc[i])])
    best = seconds if best is None else min(best, seconds)
    out["rows"] = rows
out["seconds"] = best
if cfg["classifier"]:
    t0, c0 = time.perf_counter(), time.process_time()
    calc = nml.DomainClassifierCalculator(feature_column_names=cfg["categorical"] + cfg["numeric"], chunk_size=chunk)
    result = calc.fit(ref).calculate(ana)
    out["classifier_seconds"] = time.perf_counter() - t0
    out["classifier_cpu"] = time.process_time() - c0
    df = result.to_df()
    out["classifier"] = [[df[("chunk", "period")].iloc[i], df[("chunk", "key")].iloc[i],
                          float(df[("domain_classifier_auroc", "value")].iloc[i]),
                          bool(df[("domain_classifier_auroc", "alert")].iloc[i])] for i in range(len(df))]
print(json.dumps(out))
"""


def run_nannyml(cfg: dict) -> dict | None:
    python = venv_python("nannyml")
    if python is None:
        return None
    script, config = BENCH / "run_quality_nannyml.py", BENCH / "quality_config.json"
    script.write_text(NANNYML)
    config.write_text(json.dumps(cfg))
    env = {**os.environ, "NML_DISABLE_USAGE_LOGGING": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([str(python), str(script), str(config)], capture_output=True, text=True, env=env,
                          check=False)
    if proc.returncode:
        print(f"NannyML failed:\n{proc.stderr[-3000:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def best_of(fn, repeat: int):
    best, value = math.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t0)
    return best, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-classifier", action="store_true")
    args = parser.parse_args()
    import nbtoolkit as nbt

    folder = BENCH / "quality"
    folder.mkdir(parents=True, exist_ok=True)
    ref_path, ana_path = folder / "reference.parquet", folder / "analysis.parquet"
    cfg = {"reference": str(ref_path), "analysis": str(ana_path), "chunk": CHUNK, "repeat": args.repeat,
           "categorical": CATEGORICAL, "numeric": NUMERIC, "classifier": not args.skip_classifier}
    theirs = run_nannyml(cfg)
    if theirs is None:
        sys.exit("NannyML's venv is missing and could not be created.")
    ref, ana = pd.read_parquet(ref_path), pd.read_parquet(ana_path)

    seconds, result = best_of(lambda: nbt.quality(ana, reference=ref, columns=FEATURES, chunk_size=CHUNK),
                              args.repeat)
    ours = {("reference" if r["period"] == "reference" else "analysis", r["chunk"], r["column"], r["metric"]):
            (r["value"], r["alert"]) for r in result.rows}
    worst, compared, absent = 0.0, 0, []
    their_alerts, our_alerts = set(), {k for k, (_, alert) in ours.items() if alert and k[0] == "analysis"}
    for period, chunk, column, metric, value, alert in theirs["rows"]:
        key = (period, chunk, column, metric)
        if key not in ours:
            absent.append(key)
            continue
        mine = ours[key][0]
        compared += 1
        if math.isnan(value) and math.isnan(mine):
            continue
        worst = max(worst, abs(mine - value) / max(abs(value), 1e-12))
        if alert and period == "analysis":
            their_alerts.add(key)
    both = their_alerts & our_alerts
    print(f"data quality on car-loan data quality ({len(ref)} + {len(ana)} rows, chunks of {CHUNK}):")
    print(f"  values compared: {compared} (not in ours: {len(absent)}), largest relative difference {worst:.2e}")
    print(f"  analysis alerts: NannyML {len(their_alerts)}, nbtoolkit {len(our_alerts)}, shared {len(both)} "
          f"({len(both) / max(len(their_alerts), 1):.0%} of NannyML's; extra "
          f"{len(our_alerts - their_alerts) / max(len(their_alerts), 1):.0%})")
    by_metric: dict[str, int] = {}
    for key in both:
        by_metric[key[3]] = by_metric.get(key[3], 0) + 1
    print("  shared alerts by metric: " + ", ".join(f"{m} {n}" for m, n in sorted(by_metric.items())))
    for key in sorted(their_alerts ^ our_alerts):
        print(f"    differs: {key} NannyML {key in their_alerts}, nbtoolkit {key in our_alerts}")
    print(f"  time: NannyML {theirs['seconds']:.2f} s, nbtoolkit {seconds:.3f} s — "
          f"{theirs['seconds'] / seconds:.0f}x faster")

    if not args.skip_classifier:
        nbt.drift(ana.head(2 * CHUNK), ref.head(2 * CHUNK), columns=FEATURES, chunk_size=CHUNK,
                  multivariate="classifier", log=False)  # warm-up: scikit-learn's import outside the timing
        ours_s = ours_cpu = math.inf
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            timeline = nbt.drift(ana, ref, columns=FEATURES, chunk_size=CHUNK, multivariate="classifier", log=False)
            ours_s, ours_cpu = min(ours_s, time.perf_counter() - t0), min(ours_cpu, time.process_time() - c0)
        mine = timeline.domain["rows"]
        print(f"domain classifier ({len(FEATURES)} features, chunks of {CHUNK}):")
        print("  chunk             NannyML AUROC alert   nbtoolkit AUROC alert")
        for (period, chunk, value, alert), row in zip(theirs["classifier"], mine):
            print(f"  {period[:3]} {chunk:<14} {value:.4f}  {alert!s:<5}   {row['auroc']:.4f}  {row['drifted']!s:<5}")
        print(f"  time: NannyML {theirs['classifier_seconds']:.1f} s, nbtoolkit {ours_s:.2f} s — "
              f"{theirs['classifier_seconds'] / ours_s:.0f}x faster")
        print(f"  CPU time (all threads): NannyML {theirs['classifier_cpu']:.1f} s, nbtoolkit {ours_cpu:.2f} s — "
              f"{theirs['classifier_cpu'] / ours_cpu:.0f}x less")


if __name__ == "__main__":
    main()
