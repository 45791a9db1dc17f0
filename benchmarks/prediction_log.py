"""PredictionLog throughput on SQLite (rows/s), against plain sqlite3 measured in the same run.

- log: ``PredictionLog.log`` of ticket rows (inputs as JSON, confidence, routing) in batches of
  ``BATCH`` rows, one transaction each (duplicate-id check included) — vs the anchor: the same rows
  JSON-encoded and written with ``sqlite3.executemany`` in one transaction per batch, same WAL
  settings, no checks.
- 4 writer processes logging at once (no row lost; total rows/s).
- record_outcomes, and reading a window back with inputs (``frame(inputs=True)``).

Run: .venv/bin/python benchmarks/prediction_log.py   (ROWS=20000 BATCH=1000 by default)
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sqlite3
import tempfile
import time
from pathlib import Path

ROWS = int(os.environ.get("ROWS", "20000"))
BATCH = int(os.environ.get("BATCH", "1000"))
WRITERS = 4


def _rows(n: int):
    from nbtoolkit.examples.tickets import FEATURES, generate_tickets

    base = generate_tickets(min(n, 2000), seed=0)
    reps = -(-n // len(base))
    import pandas as pd

    frame = pd.concat([base] * reps, ignore_index=True).iloc[:n]
    return frame[FEATURES].reset_index(drop=True), frame["category"].tolist(), frame["created_at"].tolist()


def _nbt_log(url: str, X, preds, stamps, prefix: str) -> float:
    from nbtoolkit.monitoring import PredictionLog

    plog = PredictionLog(url)
    plog.count()  # connect + create the table outside the timing
    t0 = time.perf_counter()
    for start in range(0, len(X), BATCH):
        stop = min(start + BATCH, len(X))
        plog.log("tickets/1", X.iloc[start:stop], preds[start:stop], confidence=[0.8] * (stop - start),
                 ids=[f"{prefix}{i}" for i in range(start, stop)], routed_to_human=[False] * (stop - start),
                 timestamps=stamps[start:stop], alias="champion", registered=False)
    return time.perf_counter() - t0


def _raw_log(path: Path, X, preds, stamps) -> float:
    con = sqlite3.connect(path, isolation_level=None, timeout=60)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("CREATE TABLE p (id TEXT PRIMARY KEY, model_name TEXT, model_version TEXT, alias TEXT, ts TEXT,"
                " inputs TEXT, prediction TEXT, confidence REAL, routed_to_human INTEGER)")
    records = X.to_dict("records")
    t0 = time.perf_counter()
    for start in range(0, len(X), BATCH):
        stop = min(start + BATCH, len(X))
        rows = [(f"r{i}", "tickets", "1", "champion", str(stamps[i]), json.dumps(records[i]), preds[i], 0.8, 0)
                for i in range(start, stop)]
        con.execute("BEGIN IMMEDIATE")
        con.executemany("INSERT INTO p VALUES (?,?,?,?,?,?,?,?,?)", rows)
        con.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    con.close()
    return elapsed


def _writer(url: str, worker: int, n: int, ready, go, spans) -> None:
    from nbtoolkit.monitoring import PredictionLog

    X, preds, stamps = _rows(n)
    PredictionLog(url).count()  # imports and connection outside the timing
    ready.put(worker)
    go.wait()
    start = time.time()
    _nbt_log(url, X, preds, stamps, prefix=f"w{worker}-")
    spans.put((start, time.time()))


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="nbt-bench-plog-"))
    os.environ["NBT_HOME"] = str(tmp / "home")
    X, preds, stamps = _rows(ROWS)
    url = f"sqlite:///{tmp / 'log.db'}"

    raw_s = _raw_log(tmp / "raw.db", X, preds, stamps)
    nbt_s = _nbt_log(url, X, preds, stamps, prefix="a")
    print(f"log, {ROWS} rows in batches of {BATCH}:")
    print(f"  nbtoolkit PredictionLog.log  {ROWS / nbt_s:10,.0f} rows/s")
    print(f"  plain sqlite3 executemany    {ROWS / raw_s:10,.0f} rows/s")
    print(f"  ratio nbtoolkit / plain      {raw_s / nbt_s:10.2f}")

    from nbtoolkit.monitoring import PredictionLog

    plog = PredictionLog(url)
    ids = [f"a{i}" for i in range(0, ROWS, 2)]
    t0 = time.perf_counter()
    plog.record_outcomes(ids, ["billing"] * len(ids))
    out_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    back = plog.frame("tickets", inputs=True)
    read_s = time.perf_counter() - t0
    assert len(back) == ROWS
    print(f"record_outcomes ({len(ids)} ids)    {len(ids) / out_s:10,.0f} rows/s")
    print(f"frame(inputs=True) ({ROWS} rows) {ROWS / read_s:10,.0f} rows/s")

    curl = f"sqlite:///{tmp / 'concurrent.db'}"
    per = ROWS // WRITERS
    ctx = mp.get_context("spawn")
    ready, spans, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_writer, args=(curl, w, per, ready, go, spans)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get()
    go.set()
    times = [spans.get() for _ in procs]
    for p in procs:
        p.join()
    wall = max(e for _, e in times) - min(s for s, _ in times)
    n = PredictionLog(curl).count()
    print(f"{WRITERS} writer processes at once: {n}/{per * WRITERS} rows kept, {n / wall:,.0f} rows/s "
          f"in total")


if __name__ == "__main__":
    main()
