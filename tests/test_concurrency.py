"""Several processes on one shared MLflow server (PostgreSQL) and one prediction log at once.

Worker processes are real ``python`` processes started together behind a file barrier: each
imports and prepares everything, touches ``ready-<i>``, then waits for ``go`` so that the racing
calls really overlap.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

N = 8

_PRELUDE = textwrap.dedent("""
    import json, sys, time, pathlib
    job = json.loads(sys.argv[1])
    barrier = pathlib.Path(job["barrier"])
    i = job["i"]

    def wait(flag):
        (barrier / f"ready-{flag}-{i}").touch()
        while not (barrier / flag).exists():
            time.sleep(0.005)
""")


def run_together(tmp_path: Path, body: str, jobs: list[dict], *, rounds: int = 1, between=None,
                 timeout: float = 300) -> list[dict]:
    """Run ``body`` in one process per job; release round r when all touched ``ready-go<r>``."""
    barrier = tmp_path / f"barrier-{uuid.uuid4().hex[:6]}"
    barrier.mkdir()
    script = tmp_path / "worker.py"
    script.write_text(_PRELUDE + textwrap.dedent(body))
    procs = [subprocess.Popen([sys.executable, str(script), json.dumps({**job, "i": i, "barrier": str(barrier)})],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i, job in enumerate(jobs)]
    try:
        deadline = time.monotonic() + timeout
        for r in range(rounds):
            flag = f"go{r}"
            while len(list(barrier.glob(f"ready-{flag}-*"))) < len(jobs):
                dead = [p for p in procs if p.poll() not in (None, 0)]
                assert not dead, dead[0].communicate()[1][-3000:]
                assert time.monotonic() < deadline, "workers never reached the barrier"
                time.sleep(0.05)
            if r and between:
                between(r)
            (barrier / flag).touch()
        outputs = []
        for p in procs:
            out, err = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
            assert p.returncode == 0, err[-3000:]
            outputs.append(json.loads(out.strip().splitlines()[-1]))
        return outputs
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_eight_processes_register_versions_of_one_model_at_once(server_home, tmp_path):
    import nbtoolkit as nbt
    from nbtoolkit import registry, store

    name = f"race-{uuid.uuid4().hex[:8]}"
    body = """
        from sklearn.datasets import load_iris
        from sklearn.linear_model import LogisticRegression
        import nbtoolkit as nbt
        from nbtoolkit import store
        store.mlflow_module()
        X, y = load_iris(return_X_y=True, as_frame=True)
        model = LogisticRegression(max_iter=300).fit(X, y)
        wait("go0")
        mv = nbt.register(model, job["name"], metrics={"worker": i}, alias=f"w{i}")
        nbt.promote(job["name"], mv.version, alias="champion")
        print(json.dumps({"version": mv.version}))
    """
    outputs = run_together(tmp_path, body, [{"name": name}] * N)

    got = [o["version"] for o in outputs]
    assert sorted(got, key=int) == [str(v) for v in range(1, N + 1)]  # all present, numbers unique
    table = nbt.versions(name)
    assert sorted(int(r["version"]) for r in table.rows) == list(range(1, N + 1))

    rm = store.client().get_registered_model(name)
    for i, version in enumerate(got):  # every worker's own alias points at its own version
        assert rm.aliases[f"w{i}"] == version
        assert registry.run_metrics(registry.resolve(f"{name}/{version}"))["worker"] == i
    # Serialised promotions: each one pushed the holder before it, so the history holds every
    # other version exactly once (a lost update would drop or repeat one).
    champion = rm.aliases["champion"]
    history = json.loads(rm.tags[registry.ALIAS_HISTORY + "champion"])
    assert sorted(history + [champion], key=int) == [str(v) for v in range(1, N + 1)]
    assert not [m for m in store.client().search_registered_models() if m.name.startswith("nbt-lock.")]


def _serial_outcomes(start: tuple[str, list[str]], ops: list[tuple[str, str | None]]) -> set:
    """End states (holder, history) of every serial order of ``ops`` from ``start``."""
    outcomes = set()
    for order in itertools.permutations(ops):
        holder, history = start[0], list(start[1])
        for op, version in order:
            if op == "promote":
                if version != holder:
                    history.append(holder)
                holder = version
            else:
                while history and history[-1] == holder:
                    history.pop()
                if history:  # else: "no earlier holder" (BadInput), nothing changes
                    holder = history.pop()
        outcomes.add((holder, tuple(history)))
    return outcomes


def test_promote_racing_rollback_ends_as_some_serial_order(server_home, tmp_path):
    from nbtoolkit import registry, store

    c = store.client()
    name = f"alias-race-{uuid.uuid4().hex[:8]}"
    c.create_registered_model(name)
    run = c.create_run(store.ensure_experiment())  # versions without files: only aliases move here
    for _ in range(4):
        c.create_model_version(name, source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    start = ("2", ["1"])
    ops = [("promote", "3"), ("promote", "4"), ("rollback", None), ("rollback", None)]
    expected = _serial_outcomes(start, ops)
    rounds = 3

    def reset(_round=None):
        c.set_registered_model_tag(name, registry.ALIAS_HISTORY + "champion", json.dumps(start[1]))
        c.set_registered_model_alias(name, "champion", start[0])

    ends = []

    def check_and_reset(r):
        rm = c.get_registered_model(name)
        ends.append((rm.aliases["champion"], tuple(json.loads(rm.tags.get(registry.ALIAS_HISTORY + "champion", "[]")))))
        reset()

    reset()
    body = """
        import nbtoolkit as nbt
        from nbtoolkit.errors import BadInput
        nbt.versions(job["name"])  # warm up: imports and a first request
        done = []
        for r in range(job["rounds"]):
            wait(f"go{r}")
            try:
                if job["op"] == "promote":
                    res = nbt.promote(job["name"], job["version"], alias="champion")
                else:
                    res = nbt.rollback(job["name"], alias="champion")
                done.append([res.previous, res.version])
            except BadInput:
                done.append(None)
        print(json.dumps({"done": done}))
    """
    jobs = [{"name": name, "op": op, "version": v, "rounds": rounds} for op, v in ops]
    run_together(tmp_path, body, jobs, rounds=rounds, between=check_and_reset)
    check_and_reset(rounds)

    assert len(ends) == rounds
    for end in ends:
        assert end in expected, f"{end} is not the end state of any serial order: {sorted(expected)}"


def test_eight_processes_write_the_prediction_log_on_postgresql(postgres, tmp_path):
    from nbtoolkit.monitoring import PredictionLog

    url = postgres.create_database(f"predictions_{uuid.uuid4().hex[:8]}")
    per_worker, batch = 400, 50
    body = """
        from nbtoolkit.monitoring import PredictionLog
        plog = PredictionLog(job["url"])
        plog.count()  # connect (and race to create the table) before the barrier
        wait("go0")
        written = []
        for b in range(job["per_worker"] // job["batch"]):
            ids = [f"w{i}-{b}-{k}" for k in range(job["batch"])]
            rows = [{"subject": f"ticket {x}", "len": k} for k, x in enumerate(ids)]
            written += plog.log("tickets/1", rows, ["billing"] * len(ids), confidence=[0.9] * len(ids), ids=ids,
                                registered=False)
        print(json.dumps({"ids": written}))
    """
    outputs = run_together(tmp_path, body, [{"url": url, "per_worker": per_worker, "batch": batch}] * N)

    sent = [i for o in outputs for i in o["ids"]]
    assert len(sent) == N * per_worker == len(set(sent))
    plog = PredictionLog(url)
    frame = plog.frame("tickets")
    assert plog.count() == N * per_worker
    assert sorted(frame["id"]) == sorted(sent)  # no row lost, none duplicated
    assert not frame["id"].duplicated().any()
    plog.dispose()
