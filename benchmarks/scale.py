"""Drift on data larger than memory: 10M rows x 20 columns, peak memory and time per path.

Paths, each in its own fresh subprocess (peak RSS: ``VmHWM`` of /proc/self/status, falling back to
``resource.getrusage``; one path's memory never hides another's), all against the same reference Profile (1M rows, JSON):

- ``single``   ``pd.read_parquet`` the whole file, ``Profile.from_frame(frame, like=ref)``, drift
- ``parquet``  ``Profile.from_parquet(path, chunksize=..., like=ref)`` (pyarrow batches), drift
- ``dask``     ``nbt.drift(dd.read_parquet(path), ref)`` (one task per row group, local threads)

The data (10 normal floats, 5 Poisson ints, 5 string categoricals of 10 levels; 3 floats shifted
and one category mix changed) is written to Parquet 500k rows at a time, never held whole by this
script. Figures: time and peak RSS per path, the in-memory size of the frame (pandas, deep), and
the ratios against the single-frame path measured in the same run.

    .venv/bin/python benchmarks/scale.py [--rows 10000000] [--chunksize 500000] [--skip-single]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pandas as pd

from nbtoolkit.examples.synthetic import DRIFTED, drift_frame

EXPECTED = set(DRIFTED)
ROW_GROUP = 500_000


def make(n: int, seed: int, *, drifted: bool) -> pd.DataFrame:
    return drift_frame(n, seed, drifted=drifted)


def write_parquet(path: Path, rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    try:
        for start in range(0, rows, ROW_GROUP):
            part = make(min(ROW_GROUP, rows - start), 1000 + start // ROW_GROUP, drifted=True)
            table = pa.Table.from_pandas(part, preserve_index=False)
            writer = writer or pq.ParquetWriter(str(path), table.schema)
            writer.write_table(table, row_group_size=ROW_GROUP)
    finally:
        if writer is not None:
            writer.close()


CHILD = textwrap.dedent('''
    import json, resource, sys, time
    path, ref_path, mode, chunksize = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

    def peak_rss():
        # VmHWM is this process's own high-water mark; Linux's ru_maxrss also counts what the
        # parent held when it forked us, so it is only the fallback.
        try:
            for line in open("/proc/self/status"):
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    import pandas as pd
    import nbtoolkit as nbt
    from nbtoolkit.drift import Profile
    ref = Profile.from_json(open(ref_path).read())
    base = peak_rss()
    t0 = time.perf_counter()
    extra = {}
    if mode == "single":
        frame = pd.read_parquet(path)
        extra["frame_bytes"] = int(frame.memory_usage(deep=True).sum())
        report = nbt.drift(Profile.from_frame(frame, like=ref), ref, log=False)
    elif mode == "parquet":
        report = nbt.drift(Profile.from_parquet(path, chunksize=chunksize, like=ref), ref, log=False)
    else:
        import dask
        import dask.dataframe as dd
        dask.config.set({"dataframe.convert-string": False})  # same dtypes as the other paths
        report = nbt.drift(dd.read_parquet(path, split_row_groups=True), ref, log=False)
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "peak_rss": peak_rss(), "import_rss": base,
                      "drifted": sorted(report.drifted_columns), "n_current": report.n_current, **extra}))
''')


def run_child(path: Path, ref_path: Path, mode: str, chunksize: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(ref_path), mode, str(chunksize)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--chunksize", type=int, default=ROW_GROUP)
    parser.add_argument("--skip-single", action="store_true", help="do not load the whole frame")
    args = parser.parse_args()

    from nbtoolkit.drift import Profile

    with tempfile.TemporaryDirectory(prefix="nbt-scale-bench-") as tmp:
        path, ref_path = Path(tmp) / "current.parquet", Path(tmp) / "reference.json"
        t0 = time.perf_counter()
        write_parquet(path, args.rows)
        ref_path.write_text(Profile.from_frame(make(1_000_000, 0, drifted=False)).to_json())
        print(f"data: {args.rows:,} rows x 20 columns, Parquet {path.stat().st_size / 2**20:,.0f} MiB "
              f"(written in {time.perf_counter() - t0:.0f} s); reference profile "
              f"{ref_path.stat().st_size / 1024:.0f} KiB")

        results = {}
        for mode in (["parquet", "dask"] if args.skip_single else ["single", "parquet", "dask"]):
            results[mode] = r = run_child(path, ref_path, mode, args.chunksize)
            assert r["n_current"] == args.rows, r
            assert EXPECTED <= set(r["drifted"]), (mode, r["drifted"])
            print(f"{mode:8} {r['seconds']:7.1f} s   peak RSS {r['peak_rss'] / 2**20:7,.0f} MiB "
                  f"(after imports {r['import_rss'] / 2**20:,.0f} MiB)   drifted {r['drifted']}")

        if "single" in results:
            single = results["single"]
            data = single["frame_bytes"]
            print(f"\nin-memory frame (pandas, deep): {data / 2**20:,.0f} MiB")
            for mode in ("parquet", "dask"):
                r = results[mode]
                print(f"{mode:8} time {r['seconds'] / single['seconds']:.2f}x single   "
                      f"peak RSS {r['peak_rss'] / single['peak_rss']:.2f}x single, "
                      f"{r['peak_rss'] / data:.2f}x the frame's size")


if __name__ == "__main__":
    main()
