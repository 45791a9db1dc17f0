"""``nbt serve`` (logging on) vs ``mlflow models serve`` (no logging) on the same champion, loopback only.

The champion is the support-ticket classifier (TF-IDF of subject and body + one-hot channel/tier →
logistic regression), registered once in a temporary home. One uvicorn worker each, driven by the
same asyncio + aiohttp client in this process with a fixed number of requests per case: single-row and 100-row ``dataframe_split``
bodies at concurrency 1, 8 and 32. Then 10,000 single-row requests at concurrency 32 against
``nbt serve`` with client ids: zero errors, and after SIGTERM the log holds exactly as many rows as
were served.

Both servers run at once and the cases alternate between them, ROUNDS times each (medians), so
that a busier minute of a shared machine slows both sides alike.

With ``BUSY=1`` one more process spins at the same priority for the whole run (``while True: pass``),
so one of a two-core machine's cores is taken by other work — for both servers alike.

Run: .venv/bin/python benchmarks/serve.py   (N_SINGLE=500 N_BATCH=100 ROUNDS=3 N_LOAD=10000 override;
PHASES=compare or PHASES=load runs one half; BUSY=1 keeps one core busy)
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

N_SINGLE = int(os.environ.get("N_SINGLE", "500"))
N_BATCH = int(os.environ.get("N_BATCH", "100"))
N_LOAD = int(os.environ.get("N_LOAD", "10000"))
PHASES = os.environ.get("PHASES", "compare,load").split(",")
ROUNDS = int(os.environ.get("ROUNDS", "3"))
BUSY = os.environ.get("BUSY", "0") == "1"
CONCURRENCY = (1, 8, 32)
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    out = open(log, "wb")
    proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 300
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"{cmd[:3]} exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{cmd[:3]} did not answer:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)


def stop(proc: subprocess.Popen) -> int:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(10)


FAILURES: collections.Counter[str] = collections.Counter()  # what the errors of the last drive() were


async def drive(url: str, bodies: list[bytes], concurrency: int) -> tuple[float, list[float], int, list[int]]:
    """Send every body once with ``concurrency`` requests in flight; wall time, latencies, errors, statuses."""
    import aiohttp

    latencies: list[float] = []
    statuses: list[int] = []
    errors = 0
    queue = iter(bodies)
    headers = {"Content-Type": "application/json"}
    FAILURES.clear()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker() -> None:
            nonlocal errors
            for body in queue:
                t0 = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        await resp.read()
                        statuses.append(resp.status)
                        if resp.status != 200:
                            errors += 1
                            FAILURES[f"HTTP {resp.status}"] += 1
                except aiohttp.ClientError as exc:
                    errors += 1
                    statuses.append(0)
                    FAILURES[type(exc).__name__] += 1
                latencies.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return wall, latencies, errors, statuses


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def bodies_for(frame, rows: int, n: int, *, ids: str | None = None) -> list[bytes]:
    out = []
    for k in range(n):
        start = (k * rows) % (len(frame) - rows)
        part = frame.iloc[start:start + rows]
        body = {"dataframe_split": {"columns": list(part.columns), "data": part.to_numpy().tolist()}}
        if ids is not None:
            body["params"] = {"ids": [f"{ids}-{k}-{j}" for j in range(rows)]}
        out.append(json.dumps(body).encode())
    return out


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="nbt-bench-serve-"))
    home = root / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "NBT_"))}
    env.update(NBT_HOME=str(home), MLFLOW_TRACKING_URI=f"sqlite:///{home}/mlflow.db",
               MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false",
               PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")  # mlflow models serve runs `uvicorn`
    os.environ.update(NBT_HOME=str(home))
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    import nbtoolkit as nbt
    from nbtoolkit.examples.tickets import FEATURES, build_classifier, generate_tickets
    from nbtoolkit.monitoring import PredictionLog  # noqa: F401  (imported now: load() needs it at the end)

    train = generate_tickets(4000, seed=0)
    live = generate_tickets(3000, seed=1, start="2026-02-01")[FEATURES].reset_index(drop=True)
    clf = build_classifier().fit(train[FEATURES], train["category"])
    nbt.register(clf, "tickets", X=train[FEATURES], y=train["category"], alias="champion")
    print(f"champion: tickets/1 (TF-IDF + logistic regression); home {home}", flush=True)

    cases = [(rows, c, N_SINGLE if rows == 1 else N_BATCH) for rows in (1, 100) for c in CONCURRENCY]
    results: dict[tuple[str, int, int], dict[str, float]] = {}
    servers = {
        "mlflow": lambda port: [str(BIN / "mlflow"), "models", "serve", "-m", "models:/tickets/1",
                                "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
        "nbt": lambda port: [str(BIN / "nbt"), "serve", "tickets", "--port", str(port), "--traffic", "0"],
    }
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if BUSY else None
    if busy is not None:
        print(f"BUSY=1: pid {busy.pid} keeps one core busy for both servers", flush=True)
    try:
        if "compare" in PHASES:
            compare(servers, env, root, live, cases, results)
            table(results, cases)
        if "load" in PHASES:
            load(servers["nbt"], env, root, live, home)
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    shutil.rmtree(root, ignore_errors=True)


def compare(servers: dict, env: dict[str, str], root: Path, live, cases: list, results: dict) -> None:
    """Both servers up at once (one idles while the other is driven); each case ROUNDS times,
    alternating, so that a slower minute of a shared machine hits both sides; medians reported."""
    procs, urls = {}, {}
    try:
        for name, cmd in servers.items():
            port = free_port()
            procs[name] = start(cmd(port), env, port, root / f"{name}.log")
            urls[name] = f"http://127.0.0.1:{port}/invocations"
            asyncio.run(drive(urls[name], bodies_for(live, 1, 100), 4))  # warm-up
            asyncio.run(drive(urls[name], bodies_for(live, 100, 20), 4))
        for rows, c, n in cases:
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
            for _ in range(ROUNDS):
                for name in servers:
                    wall, lat, errors, _ = asyncio.run(drive(urls[name], bodies_for(live, rows, n), c))
                    runs[name].append({"rps": n / wall, "p50": pct(lat, 50) * 1000, "p99": pct(lat, 99) * 1000,
                                       "errors": errors})
                    if errors:
                        print(f"  {name} rows={rows} c={c}: errors {errors} "
                              f"({', '.join(f'{k}: {v}' for k, v in FAILURES.items())})", flush=True)
            for name, rs in runs.items():
                r = results[(name, rows, c)] = {k: statistics.median(x[k] for x in rs) for k in ("rps", "p50", "p99")}
                r["errors"] = sum(x["errors"] for x in rs)
                print(f"  {name:6} rows={rows:3} c={c:2}: {r['rps']:7.1f} req/s  p50 {r['p50']:6.1f} ms  "
                      f"p99 {r['p99']:6.1f} ms  errors {r['errors']}  (median of {ROUNDS})", flush=True)
    finally:
        for proc in procs.values():
            stop(proc)


def table(results: dict, cases: list) -> None:
    print("\n| Rows per request | Concurrency | nbt serve req/s | mlflow req/s | throughput ratio | "
          "nbt p50 / p99 ms | mlflow p50 / p99 ms | p99 ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for rows, c, _ in cases:
        a, b = results[("nbt", rows, c)], results[("mlflow", rows, c)]
        print(f"| {rows} | {c} | {a['rps']:.0f} | {b['rps']:.0f} | **{a['rps'] / b['rps']:.2f}×** | "
              f"{a['p50']:.1f} / {a['p99']:.1f} | {b['p50']:.1f} / {b['p99']:.1f} | {a['p99'] / b['p99']:.2f}× |")


def load(cmd, env: dict[str, str], root: Path, live, home: Path) -> None:
    """N_LOAD single-row requests with client ids at concurrency 32: zero errors, zero rows lost."""
    from nbtoolkit.monitoring import PredictionLog

    port = free_port()
    proc = start(cmd(port), env, port, root / "nbt-load.log")
    try:
        wall, lat, errors, statuses = asyncio.run(
            drive(f"http://127.0.0.1:{port}/invocations", bodies_for(live, 1, N_LOAD, ids="load"), 32))
    finally:
        code = stop(proc)
    served = statuses.count(200)
    ids = [f"load-{k}-0" for k in range(N_LOAD)]
    in_log = len(PredictionLog(f"sqlite:///{home}/predictions.db").existing_ids(ids, model="tickets"))
    print(f"\n{N_LOAD} single-row requests with ids at concurrency 32: {N_LOAD / wall:.0f} req/s, p50 "
          f"{pct(lat, 50) * 1000:.1f} ms, p99 {pct(lat, 99) * 1000:.1f} ms; errors {errors}; served {served}; "
          f"rows in the log {in_log} (lost {served - in_log}); exit code after SIGTERM {code}")
    print((root / "nbt-load.log").read_text().strip().splitlines()[-1])


if __name__ == "__main__":
    main()
