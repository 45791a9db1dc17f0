"""Drift benchmark: nbtoolkit vs Evidently vs NannyML vs plain scipy, ratios from one run.

Data (issue 3): 20 columns — 10 normal floats, 5 Poisson ints, 5 string categoricals of 10
levels — reference and current of ``--rows`` rows each (default 1M); in the current data 3 floats
are shifted by 0.3 sd and one category mix is changed, so 4 columns should be flagged.

Evidently 0.7.23 (``Report([DataDriftPreset()])``) and NannyML 0.13.1 (univariate drift, KS and
Jensen–Shannon, chi-square) run in their own virtual environments under
``$TMPDIR/nbt-drift-bench`` (created on first use; ``pandas<3`` beside Evidently, ``statsmodels``
beside NannyML), reading the same Parquet files, so they never touch the project's packages.

Also timed: a profile-only check (the reference stored as a Profile, as with ``--model``) and
``--big-rows`` (default 10M) rows profiled chunk by chunk from Parquet.

    .venv/bin/python benchmarks/drift.py [--rows N] [--big-rows N] [--skip-others] [--skip-big]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

from nbtoolkit.examples.synthetic import CATEGORIES, COUNTS, DRIFTED, NUMERIC, drift_frame

BENCH = Path(tempfile.gettempdir()) / "nbt-drift-bench"
VENVS = {
    "evidently": ["evidently==0.7.23", "pandas<3"],
    "nannyml": ["nannyml==0.13.1", "statsmodels"],
}
EXPECTED = set(DRIFTED)


def make(n: int, seed: int, *, drifted: bool) -> pd.DataFrame:
    return drift_frame(n, seed, drifted=drifted, string_dtype="str")


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


# ------------------------------------------------------------------------------ plain scipy floor
def scipy_floor(ref: pd.DataFrame, cur: pd.DataFrame) -> set[str]:
    """What one would write by hand: ks_2samp + decile PSI per numeric, chi-square + PSI per category."""
    from scipy import stats

    def psi(r, c):
        r, c = np.clip(r / r.sum(), 1e-4, None), np.clip(c / c.sum(), 1e-4, None)
        return float(np.sum((c - r) * np.log(c / r)))

    flagged = set()
    for col in NUMERIC + COUNTS:
        ks = stats.ks_2samp(ref[col], cur[col])
        edges = np.unique(np.quantile(ref[col], np.linspace(0, 1, 11)))
        edges[0], edges[-1] = -np.inf, np.inf
        value = psi(np.histogram(ref[col], edges)[0], np.histogram(cur[col], edges)[0])
        if value >= 0.1 or ks.statistic >= 0.1:  # at 1M rows every p-value is ~0: use the distances
            flagged.add(col)
    for col in CATEGORIES:
        r, c = ref[col].value_counts(), cur[col].value_counts()
        table = pd.concat([r, c], axis=1).fillna(0).to_numpy().T
        stats.chi2_contingency(table)
        if psi(table[0], table[1]) >= 0.1:
            flagged.add(col)
    return flagged


# ------------------------------------------------------------------------------ other tools
EVIDENTLY = """
import json, resource, sys, time, pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
ref, cur = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2])
t0 = time.perf_counter()
snapshot = Report([DataDriftPreset()]).run(cur, ref)
seconds = time.perf_counter() - t0
flagged = []
for m in snapshot.dict()["metrics"]:
    cfg = m.get("config", {})
    if cfg.get("type", "").endswith("ValueDrift"):
        p_value = "p_value" in cfg["method"] or "test" in cfg["method"].lower()
        if (m["value"] < cfg["threshold"]) if p_value else (m["value"] >= cfg["threshold"]):
            flagged.append(cfg["column"])
print(json.dumps({"seconds": seconds, "flagged": flagged,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

NANNYML = """
import json, resource, sys, time, warnings, pandas as pd
warnings.filterwarnings("ignore")
import nannyml as nml
ref, cur = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2])
for frame in (ref, cur):
    for col in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[col]):
            frame[col] = frame[col].astype(object)
calc = nml.UnivariateDriftCalculator(
    column_names=list(ref.columns), chunk_number=1,
    continuous_methods=["kolmogorov_smirnov", "jensen_shannon"],
    categorical_methods=["chi2", "jensen_shannon"])
t0 = time.perf_counter(); calc.fit(ref); fit = time.perf_counter() - t0
t0 = time.perf_counter(); result = calc.calculate(cur); calculate = time.perf_counter() - t0
df = result.filter(period="analysis").to_df()
flagged = sorted({c[0] for c in df.columns if c[-1] == "alert" and bool(df[c].iloc[0])})
print(json.dumps({"seconds": fit + calculate, "fit": fit, "calculate": calculate, "flagged": flagged,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def venv_python(name: str) -> Path | None:
    python = BENCH / name / "bin" / "python"
    if python.exists():
        return python
    print(f"creating {BENCH / name} with {' '.join(VENVS[name])} ...", flush=True)
    try:
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(BENCH / name)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *VENVS[name]], check=True)
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"  could not install {name}: {exc}")
        return None
    return python


def run_other(name: str, script: str, ref_path: Path, cur_path: Path) -> dict | None:
    python = venv_python(name)
    if python is None:
        return None
    path = BENCH / f"run_{name}.py"
    path.write_text(script)
    env = {**os.environ, "NML_DISABLE_USAGE_LOGGING": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([str(python), str(path), str(ref_path), str(cur_path)], capture_output=True,
                          text=True, env=env)
    if proc.returncode:
        print(f"  {name} failed:\n{proc.stderr[-2000:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------ 10M rows, chunked
def write_chunked(path: Path, rows: int, seed: int, drifted: bool, chunk: int = 1_000_000) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    for i, start in enumerate(range(0, rows, chunk)):
        table = pa.Table.from_pandas(make(min(chunk, rows - start), seed * 1000 + i, drifted=drifted),
                                     preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=10_000_000)
    parser.add_argument("--skip-others", action="store_true", help="only nbtoolkit and scipy")
    parser.add_argument("--skip-big", action="store_true", help="skip the chunked 10M-row run")
    args = parser.parse_args()

    from nbtoolkit.drift import Profile, drift

    BENCH.mkdir(parents=True, exist_ok=True)
    ref, cur = make(args.rows, 1, drifted=False), make(args.rows, 2, drifted=True)
    frames_mb = (ref.memory_usage(deep=True).sum() + cur.memory_usage(deep=True).sum()) / 2**20
    drift(cur.head(2000), ref.head(2000), log=False)  # import scipy & co. outside the timings
    print(f"{args.rows:,} rows × 20 columns, reference + current = {frames_mb:.0f} MB in memory")

    results: dict[str, dict] = {}
    t, report = timed(drift, cur, ref, log=False)
    tracemalloc.start()
    drift(cur, ref, log=False)
    peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    results["nbtoolkit"] = {"seconds": t, "flagged": report.drifted_columns, "peak_extra_mb": peak_mb}
    t_build, profile = timed(Profile.from_frame, ref)
    t_check, report_p = timed(drift, cur, profile, log=False)
    results["nbtoolkit profile"] = {"seconds": t_check, "flagged": report_p.drifted_columns,
                                    "build": t_build, "json_kb": len(profile.to_json()) / 1024}
    t, flagged = timed(scipy_floor, ref, cur)
    results["scipy"] = {"seconds": t, "flagged": sorted(flagged)}
    html_kb = len(report.to_html()) / 1024

    if not args.skip_others:
        ref_path, cur_path = BENCH / f"ref_{args.rows}.parquet", BENCH / f"cur_{args.rows}.parquet"
        ref.to_parquet(ref_path)
        cur.to_parquet(cur_path)
        del ref, cur
        for name, script in (("evidently", EVIDENTLY), ("nannyml", NANNYML)):
            print(f"running {name} ...", flush=True)
            out = run_other(name, script, ref_path, cur_path)
            if out:
                results[name] = out
    else:
        del ref, cur

    if not args.skip_big:
        big_ref, big_cur = BENCH / f"big_ref_{args.big_rows}.parquet", BENCH / f"big_cur_{args.big_rows}.parquet"
        for path, seed, drifted in ((big_ref, 3, False), (big_cur, 4, True)):
            if not path.exists():
                print(f"writing {path} ...", flush=True)
                write_chunked(path, args.big_rows, seed, drifted)
        t0 = time.perf_counter()
        ref_p = Profile.from_parquet(big_ref)
        t_ref = time.perf_counter() - t0
        cur_p = Profile.from_parquet(big_cur, like=ref_p)
        big = drift(cur_p, ref_p, log=False)
        results[f"nbtoolkit {args.big_rows // 1_000_000}M chunked"] = {
            "seconds": time.perf_counter() - t0, "reference_profile": t_ref, "flagged": big.drifted_columns}

    ours = results["nbtoolkit"]["seconds"]
    print(f"\n{'tool':28} {'seconds':>9} {'× slower than nbtoolkit':>24}  flagged")
    for name, r in results.items():
        ok = "same 4" if set(r["flagged"]) == EXPECTED else f"{len(r['flagged'])}: {', '.join(sorted(r['flagged']))}"
        print(f"{name:28} {r['seconds']:9.2f} {r['seconds'] / ours:24.1f}  {ok}")
    print(f"\nnbtoolkit peak extra memory {results['nbtoolkit']['peak_extra_mb']:.0f} MB "
          f"= {1 + results['nbtoolkit']['peak_extra_mb'] / frames_mb:.2f}× the two frames ({frames_mb:.0f} MB)")
    p = results["nbtoolkit profile"]
    print(f"profile: built in {p['build']:.2f} s, {p['json_kb']:.0f} KB of JSON; check against it {p['seconds']:.2f} s")
    print(f"HTML report: {html_kb:.0f} KB")
    for name in ("evidently", "nannyml"):
        if name in results:
            extra = f" (fit {results[name]['fit']:.1f} s + calculate {results[name]['calculate']:.1f} s)" if name == "nannyml" else ""
            print(f"{name}: {results[name]['seconds']:.1f} s{extra}, peak RSS {results[name]['peak_rss_mb']:.0f} MB")
    print("\nratios: " + ", ".join(f"{name} / nbtoolkit = {results[name]['seconds'] / ours:.1f}×"
                                  for name in ("evidently", "nannyml", "scipy") if name in results))


if __name__ == "__main__":
    main()
