"""``nbt serve`` (issue 16): a real uvicorn server on 127.0.0.1, driven over HTTP with ``requests``.

One server per module serves ``iris`` (the CLI in a subprocess, bearer token on, live alerts on,
alias polling every 0.2 s); the durability tests start their own. Nothing waits a fixed time:
every wait polls with a deadline.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

requests = pytest.importorskip("requests")

# One server per module and tests that build on each other's traffic: one xdist worker, file order.
pytestmark = pytest.mark.xdist_group("serve")

VENV_BIN = Path(sys.executable).parent
COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, what: str, timeout: float = 30.0, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


class Server:
    """``nbt serve`` in its own process group; output in a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._out = open(log, "ab")
        self.proc = subprocess.Popen([str(VENV_BIN / "nbt"), "serve", *args, "--port", str(self.port)],
                                     stdout=self._out, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def wait_ready(self, timeout: float = 120.0) -> Server:
        def up():
            if self.proc.poll() is not None:
                raise AssertionError(f"nbt serve exited ({self.proc.returncode}):\n{self.output()}")
            try:
                return requests.get(f"{self.url}/ping", timeout=1).status_code == 200
            except requests.RequestException:  # refused, or bound but still loading (no answer yet)
                return False

        try:
            wait_for(up, "nbt serve to answer /ping", timeout)
        except BaseException:  # never leave a server behind when it did not come up
            self.stop(signal.SIGKILL)
            raise
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._out.close()
        return self.proc.returncode


class Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        type(self).received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def split(X, ids=None) -> dict:
    body = {"dataframe_split": {"columns": list(X.columns), "data": X.to_numpy().tolist()}}
    if ids is not None:
        body["params"] = {"ids": list(ids)}
    return body


@pytest.fixture(scope="module")
def home(tmp_path_factory, _empty_mlflow_db, iris):
    """A home with iris v1 (@champion, saved threshold 0.9) and v2; env for this module only."""
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("serve")
    h = root / "home"
    h.mkdir()
    shutil.copy(_empty_mlflow_db, h / "mlflow.db")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NBT_HOME", str(h))
        for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "NBT_PREDICTIONS_URL", "NBT_EXPERIMENT",
                    "NBT_SERVE_TOKEN"):
            mp.delenv(var, raising=False)
        mp.chdir(root)
        import nbtoolkit as nbt
        from nbtoolkit.registry import TAG_THRESHOLD, set_version_tag

        X, y = iris
        nbt.register(LogisticRegression(max_iter=500).fit(X, y), "iris", X=X, y=y, alias="champion")
        set_version_tag("iris/1", TAG_THRESHOLD, "0.9")
        nbt.register(LogisticRegression(C=0.01, max_iter=500).fit(X, y), "iris", X=X, y=y)
        yield h


@pytest.fixture(scope="module")
def hook():
    Hook.received = []
    httpd = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/hook"
    httpd.shutdown()


@pytest.fixture(scope="module")
def server(home, hook):
    env = dict(os.environ, NBT_HOME=str(home), NBT_SERVE_TOKEN=TOKEN)
    srv = Server(["iris", "--traffic", "0.3", "--poll", "0.2", "--alert", "volume>5", "--alert", "human_share>0.99",
                  "--monitor-interval", "0.3", "--window", "1h", "--webhook", hook],
                 env, home.parent / "server.log").wait_ready()
    srv.session = requests.Session()
    srv.session.headers.update(AUTH)
    yield srv
    code = srv.stop()
    assert code == 0, srv.output()
    assert "nothing left unwritten" in srv.output()


def post(srv, route: str, body, **kw):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
    return srv.session.post(f"{srv.url}{route}", data=data, headers=headers, timeout=30, **kw)


def logged(home: Path, ids) -> int:
    from nbtoolkit.monitoring import PredictionLog

    return len(PredictionLog(f"sqlite:///{home}/predictions.db").existing_ids(list(ids), model="iris"))


def log_count(home: Path) -> int:
    from nbtoolkit.monitoring import PredictionLog

    plog = PredictionLog(f"sqlite:///{home}/predictions.db")
    try:
        return plog.count("iris")
    finally:
        plog.dispose()


# ------------------------------------------------------------------------------ the protocol
def test_token_guards_every_route_but_ping(server):
    assert requests.get(f"{server.url}/ping", timeout=5).status_code == 200
    for route in ("/health", "/version", "/metrics"):
        r = requests.get(f"{server.url}{route}", timeout=5)
        assert r.status_code == 401 and "bearer token" in r.json()["message"]
    r = requests.post(f"{server.url}/invocations", json=split_rows(1), timeout=5,
                      headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    assert server.session.get(f"{server.url}/version", timeout=5).json()["serving"]["champion"]["version"] == "1"


def split_rows(n: int, start: int = 0) -> dict:
    from sklearn.datasets import load_iris

    X = load_iris(as_frame=True).data.iloc[start:start + n]
    X.columns = COLUMNS
    return split(X)


def test_invocations_speaks_every_mlflow_format(server, home, iris):
    X, _ = iris
    rows = X.iloc[[0, 60, 120]]
    records = rows.to_dict("records")
    bodies = {
        "dataframe_split": split(rows, ids=["s0", "s1", "s2"]),
        "dataframe_records": {"dataframe_records": records, "params": {"ids": ["r0", "r1", "r2"]}},
        "instances": {"instances": records, "params": {"ids": ["i0", "i1", "i2"]}},
        "inputs": {"inputs": {c: rows[c].tolist() for c in COLUMNS}, "params": {"ids": ["n0", "n1", "n2"]}},
    }
    seen = {}
    for fmt, body in bodies.items():
        r = post(server, "/invocations", body)
        assert r.status_code == 200, r.text
        preds = r.json()["predictions"]
        assert [set(p) for p in preds] == [{"id", "prediction", "confidence", "needs_human", "alias",
                                            "model_version"}] * 3
        assert [p["id"] for p in preds] == body["params"]["ids"]
        seen[fmt] = [(p["prediction"], round(p["confidence"], 9)) for p in preds if p["alias"] == "champion"]
        for p in preds:  # the saved threshold of version 1 hands low confidence to a human
            assert p["needs_human"] == (p["confidence"] < 0.9)
    assert len({tuple(v) for v in seen.values()}) == 1 or all(len(v) < 3 for v in seen.values())
    r = post(server, "/invocations", "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n",
             headers={"Content-Type": "text/csv"})
    assert r.status_code == 200 and len(r.json()["predictions"][0]["id"]) == 32  # generated id
    all_ids = [i for b in bodies.values() for i in b["params"]["ids"]]
    wait_for(lambda: logged(home, all_ids) == 12, "the 12 predictions in the log")


def _logged_in_order(server, home, tag: str) -> None:
    """Send one good row with a fresh id and wait until it is in the log. The log writer keeps
    arrival order, so every row sent before it is in the log too: the count is then settled."""
    marker = f"{tag}-{uuid.uuid4().hex[:8]}"
    r = post(server, "/invocations", {**split_rows(1), "params": {"ids": [marker]}})
    assert r.status_code == 200
    wait_for(lambda: logged(home, [marker]) == 1, f"row {marker} in the log")


@pytest.mark.parametrize("body, status, says", [
    (b"{not json", 400, "not valid JSON"),
    ({"dataframe_split": {"columns": ["sepal_length", "sepal_width", "petal_length"], "data": [[1, 2, 3]]}},
     400, "Missing column 'petal_width'"),
    ({"dataframe_records": [{"sepal_length": 5, "sepal_width": "wide", "petal_length": 1, "petal_width": 0.2}]},
     400, "Column 'sepal_width' must be a number"),
    ({"dataframe_split": {"columns": COLUMNS, "data": []}}, 400, "empty"),
    ({"inputs": [{"sepal_length": 5, "sepal_width": 3, "petal_length": 1, "petal_width": 0.2}] * 2,
      "params": {"ids": ["dup", "dup"]}}, 400, "Duplicate id 'dup'"),
    ({"dataframe_split": {"columns": COLUMNS, "data": [[1, 2, 3, 4]]}, "dataframe_records": []}, 400, "exactly one"),
    ({"dataframe_split": {"columns": COLUMNS, "data": [[1, 2, 3, 4]]}, "params": {"ids": ["a", "b"]}}, 400,
     "2 ids for 1 rows"),
    # found by the second round of bad inputs: each was a 500, a 400 naming no column, or accepted
    (b'{"inputs": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", 400, "nests arrays or objects too deeply"),
    (b'{"dataframe_split": {"columns": ["sepal_length", "sepal_width", "petal_length", "petal_width"], '
     b'"data": [[5.1, Infinity, 1.4, 0.2]]}}', 400, "Column 'sepal_width' has Infinity in row 0"),
    (b'{"dataframe_split": {"columns": ["sepal_length", "sepal_width", "petal_length", "petal_width"], '
     b'"data": [[5.1, 3.5, NaN, 0.2]]}}', 400, "column 'petal_length' has a missing value (null or NaN) in row 0"),
    ({"dataframe_split": {"columns": COLUMNS, "data": [[1, 2, 3, 4]]},
      "params": {"timestamps": ["9999-12-31T23:59:59-05:00"]}}, 400, "out of the range of date/times"),
    ({"dataframe_split": {"columns": COLUMNS, "data": [[1, 2, 3, 4]]},
      "params": {"timestamps": ["9999-01-01T00:00:00"]}}, 400, "more than a day in the future"),
    ({"dataframe_split": {"columns": COLUMNS, "data": [[1, 2, 3, 4]]},
      "params": {"timestamps": ["1970-01-01T00:00:00Z"]}}, 400, "before 2000-01-01"),
])
def test_bad_input_is_one_json_line_and_logs_nothing(server, home, body, status, says):
    _logged_in_order(server, home, "before")  # rows of earlier tests still in flight land first
    before = log_count(home)
    r = post(server, "/invocations", body)
    assert r.status_code == status
    assert "\n" not in r.text and set(r.json()) == {"error_code", "message"}
    assert says in r.json()["message"], r.json()["message"]
    _logged_in_order(server, home, "after")  # still serving; anything the bad body logged is in by now
    assert log_count(home) == before + 1


def test_ids_already_logged_and_big_bodies_are_refused(server, home):
    r = post(server, "/invocations", {**split_rows(2), "params": {"ids": ["once-1", "once-2"]}})
    assert r.status_code == 200
    r = post(server, "/invocations", {**split_rows(2), "params": {"ids": ["once-2", "new-3"]}})
    assert r.status_code == 400 and "'once-2'" in r.json()["message"]
    r = post(server, "/invocations", b'{"inputs": "' + b"x" * (10 * 1024 * 1024) + b'"}')
    assert r.status_code == 413 and "limit" in r.json()["message"]
    wait_for(lambda: logged(home, ["once-1", "once-2", "new-3"]) == 2, "only the first request logged")
    r = post(server, "/outcomes", {"ids": ["never-served"], "labels": [1]})
    assert r.status_code == 400 and "not in the prediction log" in r.json()["message"]
    r = post(server, "/outcomes", {"ids": ["once-1"], "labels": [1, 2]})
    assert r.status_code == 400 and "one label per id" in r.json()["message"]


def test_outcomes_feed_the_log_that_feedback_frame_reads(server, home):
    r = post(server, "/invocations", {**split_rows(3, 50), "params": {"ids": ["fb-1", "fb-2", "fb-3"]}})
    assert r.status_code == 200
    # immediately: the server flushes the queued predictions before recording their outcomes
    r = post(server, "/outcomes", {"ids": ["fb-1", "fb-2", "fb-3"], "labels": [1, 1, 2], "source": "agent"})
    assert r.status_code == 200 and r.json() == {"recorded": 3, "source": "agent"}
    from nbtoolkit.monitoring import PredictionLog

    fb = PredictionLog(f"sqlite:///{home}/predictions.db").feedback_frame("iris", source="agent")
    assert sorted(fb["prediction_id"]) == ["fb-1", "fb-2", "fb-3"] and set(COLUMNS) <= set(fb.columns)
    text = server.session.get(f"{server.url}/metrics", timeout=5).text
    assert 'nbt_outcomes_total{source="agent"} 3.0' in text


def _outcome_of(home: Path, ident: str, model: str = "iris"):
    from nbtoolkit.monitoring import PredictionLog

    frame = PredictionLog(f"sqlite:///{home}/predictions.db").frame(model)
    value = frame.loc[frame["id"] == ident, "outcome"].iloc[0]
    return value if isinstance(value, str) else None


@pytest.mark.parametrize("labels, says", [
    (["penguin"], "labels[0] (id 'lab-1') 'penguin' is not a class of iris/1; its classes are 0, 1, 2 ("),
    ([2, "penguin"], "'penguin' is not a class of iris/1"),       # mixed: the valid one is not recorded
    (["1"], "(the label is a string, the classes are numbers)"),
    ([True], "True is not a class of iris/1"),
    (b"NaN", "The body holds NaN, which is not a JSON value"),
    (b"Infinity", "The body holds Infinity"),
    (b"[" * 50_000 + b"]" * 50_000, "nests arrays or objects too deeply"),
    ([[0]], "must be a class label"),
])
def test_outcomes_that_are_not_classes_of_the_model_are_refused_and_record_nothing(server, home, labels, says):
    """The server's iris model has classes 0, 1, 2: anything else is one JSON line, nothing recorded,
    and an outcome already recorded for the id stays."""
    r = post(server, "/invocations", {**split_rows(2), "params": {"ids": ["lab-1", "lab-2"]}})
    assert r.status_code in (200, 400)  # 400: an earlier case served these ids already
    assert post(server, "/outcomes", {"ids": ["lab-1", "lab-2"], "labels": [0, 0]}).status_code == 200
    ids = b'["lab-1"]' if isinstance(labels, bytes) else ["lab-1", "lab-2"][:len(labels)][::-1]
    if isinstance(labels, bytes):
        body = b'{"ids": ' + ids + b', "labels": [' + labels + b"]}"
    else:
        body = {"ids": ids, "labels": labels}
    r = post(server, "/outcomes", body)
    assert r.status_code == 400 and "\n" not in r.text and set(r.json()) == {"error_code", "message"}
    assert says in r.json()["message"], r.json()["message"]
    assert (_outcome_of(home, "lab-1"), _outcome_of(home, "lab-2")) == ("0", "0")
    r = post(server, "/outcomes", {"ids": ["lab-1", "lab-2"], "labels": [2, 1.0]})  # 1.0: the class 1
    assert r.status_code == 200 and (_outcome_of(home, "lab-1"), _outcome_of(home, "lab-2")) == ("2", "1")


def test_rows_outside_the_contract_are_served_flagged_counted_and_alerted(server, home, iris):
    """Out of range and a missing value in a column that had none: served, flagged on their log rows,
    counted in /metrics, and the share fires contract>0.05 in nbt monitor."""
    import datetime as dt

    X, _ = iris
    since = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)).replace(tzinfo=None).isoformat()
    good = X.iloc[:6]
    bad = good.copy()
    bad["petal_length"] = [100.0, -5.0, 1.4, 1.4, 1.4, 1.4]  # rows 0, 1 out of [1.0, 6.9]
    ids = [f"ct-{k}" for k in range(12)]
    r = post(server, "/invocations", split(pd_concat(bad, good), ids))
    assert r.status_code == 200 and len(r.json()["predictions"]) == 12
    wait_for(lambda: logged(home, ids) == 12, "the 12 rows in the log")
    from nbtoolkit.monitoring import PredictionLog

    frame = PredictionLog(f"sqlite:///{home}/predictions.db").frame("iris").set_index("id").loc[ids]
    flagged = {i: json.loads(c) for i, c in frame["contract"].items() if isinstance(c, str)}
    assert flagged == {"ct-0": [{"column": "petal_length", "kind": "out_of_range"}],
                       "ct-1": [{"column": "petal_length", "kind": "out_of_range"}]}
    text = server.session.get(f"{server.url}/metrics", timeout=5).text
    assert 'nbt_contract_violations_total{column="petal_length",kind="out_of_range"} 2.0' in text
    env = dict(os.environ, NBT_HOME=str(home))
    done = subprocess.run([str(VENV_BIN / "nbt"), "monitor", "iris", "--window", "1h", "--since", since,
                           "--no-drift", "--alert", "contract>0.05"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "contract>0.05" in done.stdout and "1 alert(s) fired" in done.stderr


def test_metrics_show_the_missing_rate_of_recent_inputs(server, iris):
    """nbt_input_quality{column,metric}: the inputs as received, over the last rows — a request with a
    missing value moves its column's missing_rate, whether or not the model could serve it."""
    import re

    X, _ = iris
    body = split(X.iloc[:4])
    column = body["dataframe_split"]["columns"][1]
    body["dataframe_split"]["data"][0][1] = None
    post(server, "/invocations", body)
    text = server.session.get(f"{server.url}/metrics", timeout=5).text
    found = re.search(rf'nbt_input_quality{{column="{column}",metric="missing_rate"}} ([0-9.e-]+)', text)
    assert found and 0 < float(found.group(1)) <= 0.25, text[-2000:]


def test_a_female_male_model_refuses_the_outcome_penguin_and_records_nothing(home):
    """The issue's case on a server of its own: a model of sex from penguin measurements."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import nbtoolkit as nbt

    rng = np.random.default_rng(0)
    sex = np.where(rng.random(120) < 0.5, "female", "male")
    X = pd.DataFrame({"bill_length": rng.normal(40, 3, 120) + (sex == "male") * 4,
                      "body_mass": rng.normal(3800, 300, 120) + (sex == "male") * 600})
    nbt.register(LogisticRegression(max_iter=500).fit(X, sex), "penguins", X=X, y=pd.Series(sex), alias="champion")
    env = dict(os.environ, NBT_HOME=str(home))
    env.pop("NBT_SERVE_TOKEN", None)
    srv = Server(["penguins", "--traffic", "0"], env, home.parent / "penguins.log").wait_ready()
    srv.session = requests.Session()
    try:
        r = post(srv, "/invocations", {"dataframe_records": X.head(2).to_dict("records"),
                                       "params": {"ids": ["pg-1", "pg-2"]}})
        assert r.status_code == 200, r.text
        r = post(srv, "/outcomes", {"ids": ["pg-1", "pg-2"], "labels": ["female", "penguin"]})
        assert r.status_code == 400 and set(r.json()) == {"error_code", "message"}
        assert ("labels[1] (id 'pg-2') 'penguin' is not a class of penguins/1; its classes are 'female', 'male'"
                in r.json()["message"]), r.json()["message"]
        assert [_outcome_of(home, i, "penguins") for i in ("pg-1", "pg-2")] == [None, None]  # in the database
        assert post(srv, "/outcomes", {"ids": ["pg-1"], "labels": ["male"]}).status_code == 200
        assert [_outcome_of(home, i, "penguins") for i in ("pg-1", "pg-2")] == ["male", None]
    finally:
        assert srv.stop() == 0, srv.output()


def test_row_contract_flags_unseen_categories_out_of_range_and_nulls():
    """The per-row check against a stored contract, on values as a request parses them."""
    import pandas as pd

    from nbtoolkit.contract import Contract
    from nbtoolkit.serving.journal import encode_entry, entry, entry_rows
    from nbtoolkit.serving.protocol import parse_body
    from nbtoolkit.serving.rowcontract import RowContract

    ref = pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"], "flag": [True, False, True],
                        "n": [1.0, None, 2.0], "k": [1, 2, 3]})
    contract = RowContract(json.loads(Contract.from_frame(ref).to_json())["columns"])
    body = (b'{"dataframe_records": [{"x": 2.0, "c": "a", "flag": true, "n": null, "k": 2},'
            b'{"x": 9.0, "c": "z", "flag": false, "n": 5.0, "k": 0},'
            b'{"x": null, "c": null, "flag": true, "n": 1.5, "k": 3},'
            b'{"x": NaN, "c": "b", "flag": "maybe", "n": 1.0, "k": 1}]}')
    batch = parse_body(body, "application/json", None)
    flags, counts = contract.check(batch.values, batch.n)
    got = [None if f is None else [(d["column"], d["kind"]) for d in json.loads(f)] for f in flags]
    assert got == [None,
                   [("x", "out_of_range"), ("n", "out_of_range"), ("k", "out_of_range"), ("c", "unseen_category")],
                   [("x", "null"), ("c", "null")],
                   [("x", "null"), ("flag", "unseen_category")]]
    assert counts[("x", "null")] == 2 and counts[("c", "unseen_category")] == 1 and sum(counts.values()) == 8
    item = entry("m", batch, ids=list("abcd"), versions=["1"] * 4, aliases=["champion"] * 4,
                 ts=__import__("datetime").datetime(2026, 1, 1), predictions=[0] * 4, confidences=[None] * 4,
                 humans=[False] * 4, probabilities=[None] * 4, contract=flags)
    assert [r["contract"] for r in entry_rows(json.loads(encode_entry(item)))] == flags


def pd_concat(*frames):
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------------------ the whole loop
def test_whole_loop_promote_challenger_traffic_moves_rollback(server, home, iris):
    """predict → outcomes → promote challenger → traffic moves → promote → rollback, under load."""
    import nbtoolkit as nbt
    from nbtoolkit.monitoring.deployment import route_share

    X, y = iris
    rows = X.sample(60, random_state=0, replace=True)
    errors: list[str] = []
    served = {"n": 0}
    stop = threading.Event()

    def load():  # requests keep flowing through every swap: none may fail
        s = requests.Session()
        s.headers.update(AUTH)
        while not stop.is_set():
            r = s.post(f"{server.url}/invocations", json=split_rows(5, 100), timeout=30)
            if r.status_code != 200:
                errors.append(r.text)
            served["n"] += 1

    def version_of(alias):
        return server.session.get(f"{server.url}/version", timeout=5).json()["serving"].get(alias, {}).get("version")

    def serve(tag):
        ids = [f"{tag}-{k}" for k in range(len(rows))]
        r = post(server, "/invocations", split(rows, ids))
        assert r.status_code == 200, r.text
        return r.json()["predictions"]

    samples: list[tuple[float, str]] = []
    events: list[tuple[float, str]] = []

    def scrape():  # /metrics over the run, for the picture in the README
        s = requests.Session()
        s.headers.update(AUTH)
        while not stop.is_set():
            samples.append((time.monotonic(), s.get(f"{server.url}/metrics", timeout=10).text))
            stop.wait(0.1)

    scraper = threading.Thread(target=scrape, daemon=True)
    scraper.start()
    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    try:
        before = serve("loop-a")
        assert {p["model_version"] for p in before} == {"1"} and {p["alias"] for p in before} == {"champion"}
        r = post(server, "/outcomes", {"ids": [p["id"] for p in before], "labels": y.loc[rows.index].tolist()})
        assert r.status_code == 200

        events.append((time.monotonic(), "promote v2 → challenger"))
        nbt.promote("iris", 2, alias="challenger")
        wait_for(lambda: version_of("challenger") == "2", "the challenger to be picked up")
        after = serve("loop-b")
        for p in after:  # the canary: exactly the ids whose stable hash falls under the 30 % share
            canary = route_share(p["id"], "iris") < 0.3
            assert (p["alias"], p["model_version"]) == (("challenger", "2") if canary else ("champion", "1"))
        assert 0 < sum(p["alias"] == "challenger" for p in after) < len(after)

        events.append((time.monotonic(), "promote v2 → champion"))
        nbt.promote("iris", 2, alias="champion")
        wait_for(lambda: version_of("champion") == "2", "the promotion to be picked up")
        assert {p["model_version"] for p in serve("loop-c")} == {"2"}

        events.append((time.monotonic(), "rollback champion → v1"))
        nbt.rollback("iris", alias="champion")
        wait_for(lambda: version_of("champion") == "1", "the rollback to be picked up")
        back = serve("loop-d")
        assert {p["model_version"] for p in back if p["alias"] == "champion"} == {"1"}
        wait_for(lambda: served["n"] >= 5, "some background requests")
        if os.environ.get("NBT_SCREENSHOTS"):  # a longer tail after the rollback for the picture
            time.sleep(1.5)
    finally:
        stop.set()
        loader.join(30)
        scraper.join(30)
    assert not errors, errors[:3]
    if os.environ.get("NBT_SCREENSHOTS"):
        folder = Path(__file__).resolve().parents[1] / os.environ["NBT_SCREENSHOTS"]  # relative: to the repo
        plot_metrics(samples, events, folder / "serve-metrics.png")
    text = server.session.get(f"{server.url}/metrics", timeout=5).text
    assert 'nbt_model_info{alias="challenger",version="2"} 1.0' in text
    assert "nbt_model_swaps_total" in text
    from nbtoolkit.monitoring import PredictionLog

    wait_for(lambda: logged(home, [f"loop-d-{k}" for k in range(len(rows))]) == len(rows), "the loop logged")
    frame = PredictionLog(f"sqlite:///{home}/predictions.db").frame("iris")
    assert {"1", "2"} <= set(frame["model_version"]) and {"champion", "challenger"} <= set(frame["alias"])


def plot_metrics(samples, events, path: Path) -> None:
    """Predictions/s by alias and version, human share, log rows vs served: from /metrics scrapes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from prometheus_client.parser import text_string_to_metric_families

    t0 = samples[0][0]
    series = []
    for t, text in samples:
        point = {"t": t - t0, "pred": {}, "human": 0.0, "written": 0.0, "queued": 0.0, "p50": None}
        for fam in text_string_to_metric_families(text):
            for smp in fam.samples:
                if smp.name == "nbt_predictions_total":
                    key = f"@{smp.labels['alias']} v{smp.labels['version']}"
                    point["pred"][key] = point["pred"].get(key, 0.0) + smp.value
                elif smp.name == "nbt_needs_human_total":
                    point["human"] += smp.value
                elif smp.name == "nbt_log_rows_written_total":
                    point["written"] = smp.value
                elif smp.name == "nbt_log_queue_rows":
                    point["queued"] = smp.value
        series.append(point)
    fig, axes = plt.subplots(3, 1, figsize=(8, 7.5), sharex=True)
    keys = sorted({k for p in series for k in p["pred"]})
    for key in keys:
        xs, ys = [], []
        for a, b in zip(series, series[1:]):
            dt_ = b["t"] - a["t"]
            if dt_ > 0:
                xs.append(b["t"])
                ys.append((b["pred"].get(key, 0) - a["pred"].get(key, 0)) / dt_)
        axes[0].plot(xs, ys, label=key)
    axes[0].set_ylabel("predictions / s")
    axes[0].legend(loc="upper left", fontsize=8)
    total = [sum(p["pred"].values()) for p in series]
    share = [(b["human"] - a["human"]) / max(1.0, tb - ta)
             for a, b, ta, tb in zip(series, series[1:], total, total[1:])]
    axes[1].plot([p["t"] for p in series[1:]], share, color="tab:red")
    axes[1].set_ylabel("share to a human")
    axes[1].set_ylim(0, 1)
    axes[2].plot([p["t"] for p in series], total, label="served (nbt_predictions_total)")
    axes[2].plot([p["t"] for p in series], [p["written"] for p in series], "--",
                 label="in the log (nbt_log_rows_written_total)")
    axes[2].set_ylabel("rows")
    axes[2].set_xlabel("seconds (test run, /metrics scraped every 0.1 s)")
    axes[2].legend(loc="upper left", fontsize=8)
    for t, label in events:
        for ax in axes:
            ax.axvline(t - t0, color="grey", linestyle=":")
        axes[0].annotate(label, (t - t0, axes[0].get_ylim()[1]), rotation=90, va="top", ha="right", fontsize=7)
    fig.suptitle("nbt serve /metrics during the promote → canary → promote → rollback test")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def test_a_tampered_version_is_refused_and_the_old_one_keeps_serving(server, home, iris):
    import nbtoolkit as nbt
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    mv = nbt.register(LogisticRegression(C=0.1, max_iter=500).fit(X, y), "iris", X=X, y=y)
    version = str(getattr(mv, "version", None) or mv.to_dict()["version"])
    from nbtoolkit import store

    info = store.mlflow_module().models.get_model_info(f"models:/iris/{version}")
    model_files = [p for p in Path(home).rglob("*") if p.is_file() and info.model_id in str(p)
                   and p.suffix in (".skops", ".pkl", ".cloudpickle")]
    assert model_files, f"no stored model file for {info.model_id}"
    with open(model_files[0], "ab") as f:
        f.write(b"tampered")
    nbt.promote("iris", version, alias="challenger")

    def refused():
        body = server.session.get(f"{server.url}/health", timeout=5).json()
        return [p for p in body["problems"] if f"version {version}, which was refused" in p] and body

    health = wait_for(refused, "the refusal to show in /health")
    assert health["status"] == "degraded" and health["serving"]["challenger"]["version"] == "2"
    assert post(server, "/invocations", split_rows(3)).status_code == 200
    assert "nbt_model_swaps_refused_total 1.0" in server.session.get(f"{server.url}/metrics", timeout=5).text
    nbt.promote("iris", 2, alias="challenger")  # back to a good version: the problem clears
    wait_for(lambda: not server.session.get(f"{server.url}/health", timeout=5).json()["problems"],
             "/health to clear")


def test_live_alerts_reach_the_webhook_and_metrics(server, hook):
    wait_for(lambda: any(a["rule"] == "volume>5" for body in Hook.received for a in body["alerts"]),
             "the volume alert at the webhook")
    body = next(b for b in Hook.received if any(a["rule"] == "volume>5" for a in b["alerts"]))
    assert body["model"] == "iris" and body["latest_window"]["volume"] > 5
    text = server.session.get(f"{server.url}/metrics", timeout=5).text
    assert 'nbt_alerts_fired_total{rule="volume>5"} 1.0' in text  # fired once, not at every evaluation
    assert 'nbt_alert_active{rule="volume>5"} 1.0' in text
    assert 'nbt_alert_active{rule="human_share>0.99"} 0.0' in text
    for name in ("nbt_http_requests_total", "nbt_http_request_duration_seconds_bucket", "nbt_predictions_total",
                 "nbt_prediction_duration_seconds_bucket", "nbt_confidence_bucket", "nbt_needs_human_total",
                 "nbt_window_human_share", "nbt_window_estimated_accuracy", "nbt_window_accuracy",
                 "nbt_window_drift_share", "nbt_window_contract", "nbt_log_rows_written_total", "nbt_log_queue_rows"):
        assert name in text, name


# ------------------------------------------------------------------------------ durability
@pytest.mark.slow
def test_queue_full_is_503_sigkill_loses_nothing_sigterm_drains(home):
    """Rows held in memory (a long linger) survive SIGKILL through the journal; SIGTERM drains."""
    env = dict(os.environ, NBT_HOME=str(home))
    env.pop("NBT_SERVE_TOKEN", None)
    journal = home.parent / "journal-durability"
    args = ["iris", "--log-linger", "3600", "--log-batch", "100000", "--log-queue", "10", "--traffic", "0",
            "--journal-dir", str(journal)]
    a = Server(args, env, home.parent / "a.log").wait_ready()
    try:
        ids = [f"kill-{k}" for k in range(7)]
        r = requests.post(f"{a.url}/invocations", json={**split_rows(7), "params": {"ids": ids}}, timeout=30)
        assert r.status_code == 200
        full = requests.post(f"{a.url}/invocations", json={**split_rows(7), "params": {"ids": ["full-1"] * 1 + [
            f"full-{k}" for k in range(2, 8)]}}, timeout=30)
        assert full.status_code == 503 and "nothing was logged" in full.json()["message"]
        assert logged(home, ids) == 0  # still in memory: the linger has not passed
    finally:
        a.stop(signal.SIGKILL)
    b = Server(args, env, home.parent / "b.log").wait_ready()
    try:
        assert logged(home, ids) == 7
        assert logged(home, [f"full-{k}" for k in range(1, 8)]) == 0
        assert "of the 7 prediction(s) its journal holds, 0 were in the log and 7 were written to it now" in b.output()
        health = requests.get(f"{b.url}/health", timeout=5).json()
        assert health["previous_run"]["recovered"] == 7
        more = [f"term-{k}" for k in range(5)]
        assert requests.post(f"{b.url}/invocations", json={**split_rows(5), "params": {"ids": more}},
                             timeout=30).status_code == 200
    finally:
        code = b.stop(signal.SIGTERM)
    assert code == 0, b.output()
    assert logged(home, more) == 5
    assert "nothing left unwritten" in b.output()
    assert not list(journal.glob("journal-*"))


def _log_helper(server: Server) -> int:
    """The pid of the server's prediction-log helper process (``HelperProcess("nbtoolkit.serving.shipper:_helper")``)."""
    children = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children").read_text().split()
    helpers = [int(c) for c in children
               if b"nbtoolkit.serving.shipper" in Path(f"/proc/{c}/cmdline").read_bytes()]
    assert len(helpers) == 1, children
    return helpers[0]


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


@pytest.mark.slow
def test_the_log_helper_dying_or_outliving_the_server_loses_nothing(home):
    """The rows are written by a helper process. Killed alone: /health and /invocations answer 503
    and what it held is written from the journal at the next start. The server killed alone: the
    helper writes what it received, then exits."""
    env = dict(os.environ, NBT_HOME=str(home))
    env.pop("NBT_SERVE_TOKEN", None)
    journal = home.parent / "journal-helper"
    args = ["iris", "--log-linger", "3600", "--log-batch", "100000", "--traffic", "0", "--journal-dir", str(journal)]
    a = Server(args, env, home.parent / "helper-a.log").wait_ready()
    try:
        held = [f"helper-a-{k}" for k in range(3)]
        assert requests.post(f"{a.url}/invocations", json={**split_rows(3), "params": {"ids": held}},
                             timeout=30).status_code == 200
        helper = _log_helper(a)
        os.kill(helper, signal.SIGKILL)
        health = wait_for(lambda: (r := requests.get(f"{a.url}/health", timeout=5)).status_code == 503 and r.json(),
                          "/health to notice the dead helper")
        assert "helper process is not running" in " ".join(health["problems"])
        refused = requests.post(f"{a.url}/invocations", json={**split_rows(2), "params": {"ids": ["x-1", "x-2"]}},
                                timeout=30)
        assert refused.status_code == 503 and "nothing was logged" in refused.json()["message"]
    finally:
        code = a.stop(signal.SIGTERM)
    assert code == 1 and "3 could not be written" in a.output(), a.output()
    assert logged(home, held) == 0 and logged(home, ["x-1", "x-2"]) == 0
    b = Server(args, env, home.parent / "helper-b.log").wait_ready()
    try:
        assert logged(home, held) == 3
        assert "3 were written to it now" in b.output()
        sent = [f"helper-b-{k}" for k in range(4)]
        assert requests.post(f"{b.url}/invocations", json={**split_rows(4), "params": {"ids": sent}},
                             timeout=30).status_code == 200
        helper = _log_helper(b)
        b.proc.kill()  # the server alone: the helper reads the end of its pipe, drains, exits
        b.proc.wait(30)
        wait_for(lambda: _gone(helper), "the helper to exit after its server died")
        assert logged(home, sent) == 4  # written by the helper despite its 3600 s linger
    finally:
        b.stop(signal.SIGKILL)
    c = Server(args, env, home.parent / "helper-c.log").wait_ready()
    try:
        assert "of the 4 prediction(s) its journal holds, 4 were in the log and 0 were written to it now" in c.output()
    finally:
        assert c.stop(signal.SIGTERM) == 0, c.output()
    assert not list(journal.glob("journal-*"))


def test_a_journal_entry_gives_the_rows_the_server_used_to_build(tmp_path):
    """The compact entry a request journals and sends gives, after its JSON round trip, exactly the
    rows built from the parsed request: inputs JSON (missing values, NaN, unicode), timestamps."""
    import datetime as dt
    import math

    from nbtoolkit.serving.journal import encode_entry, entry, entry_rows
    from nbtoolkit.serving.protocol import parse_body

    body = json.dumps({"dataframe_records": [{"a": 1.5, "b": "héllo \"q\"", "c": None},
                                             {"a": math.nan, "b": "x", "c": 3},
                                             {"a": 2, "b": "", "c": -1}],
                       "params": {"timestamps": ["2026-01-02T03:04:05", "2026-01-02T03:04:06Z",
                                                 "2026-01-02T05:04:07+02:00"]}}).encode()
    batch = parse_body(body, "application/json", None)
    ids, now = ["i1", "i2", "i3"], dt.datetime(2026, 5, 6, 7, 8, 9, 123456)
    item = entry("m", batch, ids=ids, versions=["1", "2", "1"], aliases=["champion", "challenger", "champion"],
                 ts=now, predictions=[0, "b", None], confidences=[0.9, None, 0.5], humans=[False, True, False],
                 probabilities=['{"a": 0.9}', None, '{"a": 0.5}'])
    rows = entry_rows(json.loads(encode_entry(item)))
    assert [r["inputs"] for r in rows] == batch.records_json()
    assert json.loads(rows[1]["inputs"]) == {"a": None, "b": "x", "c": 3}
    assert [r["ts"] for r in rows] == batch.timestamps
    assert [r["prediction"] for r in rows] == ["0", "b", None]
    assert [(r["id"], r["model_version"], r["alias"], r["confidence"], r["routed_to_human"]) for r in rows] == [
        ("i1", "1", "champion", 0.9, False), ("i2", "2", "challenger", None, True), ("i3", "1", "champion", 0.5, False)]
    batch.timestamps = None
    assert {r["ts"] for r in entry_rows(json.loads(encode_entry(entry(
        "m", batch, ids=ids, versions=["1"] * 3, aliases=["champion"] * 3, ts=now, predictions=[1, 2, 3],
        confidences=[None] * 3, humans=[False] * 3, probabilities=[None] * 3))))} == {now}


# ------------------------------------------------------------------------------ start-up errors
@pytest.mark.parametrize("case", ["unknown model", "unknown alias", "port in use", "unreachable log", "bad traffic"])
def test_startup_problems_exit_2_with_one_line(home, capsys, case):
    from nbtoolkit.cli import main

    port = free_port()
    args = ["serve", "iris", "--port", str(port)]
    holder = None
    if case == "unknown model":
        args[1] = "irs"
    elif case == "unknown alias":
        args += ["--champion", "prod"]
    elif case == "port in use":
        holder = socket.socket()
        holder.bind(("127.0.0.1", port))
        holder.listen(1)
    elif case == "unreachable log":
        args += ["--predictions-url", f"postgresql+psycopg2://nobody@127.0.0.1:{free_port()}/nowhere"]
    elif case == "bad traffic":
        args += ["--traffic", "1.5"]
    try:
        assert main(args) == 2
    finally:
        if holder:
            holder.close()
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    expected = {"unknown model": "No model named 'irs'. Did you mean 'iris'?", "unknown alias": "no alias 'prod'",
                "port in use": f"Port {port} on 127.0.0.1 is already in use",
                "unreachable log": "Cannot reach the prediction log", "bad traffic": "--traffic must be"}[case]
    assert expected in err


@pytest.mark.parametrize("case", ["a file", "below a file", "unwritable"])
def test_a_journal_dir_that_cannot_be_a_folder_exits_2_with_one_line(home, tmp_path, capsys, case):
    """Checked with the settings, before the log is opened or anything is created."""
    from nbtoolkit.cli import main

    afile = tmp_path / "journal.txt"
    afile.write_text("not a folder")
    if case == "unwritable":
        if os.geteuid() == 0:  # root writes through any mode bits; sysfs refuses new files even to root
            journal, says = Path("/sys/nbt-journal"), "cannot be written"
        else:
            locked = tmp_path / "locked"
            locked.mkdir(mode=0o500)
            journal, says = locked / "journal", "cannot be written"
    else:
        journal = afile if case == "a file" else afile / "deeper" / "journal"
        says = "is a file" if case == "a file" else "is below the file '"  # a long tmp path is cut in the middle
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["serve", "iris", "--port", str(free_port()), "--journal-dir", str(journal)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("nbt serve: --journal-dir '") and says in err, err  # long paths are cut in the middle
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert afile.read_text() == "not a folder" and (journal == afile or not journal.exists())


def test_load_ext_and_the_cli_module_do_not_import_the_server():
    code = ("import sys, nbtoolkit; from nbtoolkit.commands import magic_commands, cli_commands; "
            "magic_commands(); cli_commands(); import nbtoolkit.commands.serving; "
            "bad = [m for m in ('fastapi', 'uvicorn', 'prometheus_client', 'mlflow', 'starlette') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.slow
def test_magic_serve_background_returns_a_handle(ip, iris_model, iris):
    from IPython.core.error import UsageError

    import nbtoolkit as nbt

    X, y = iris
    nbt.register(iris_model, "flowers", X=X, y=y, alias="champion")
    with pytest.raises(UsageError, match="add --background"):
        ip.run_line_magic("nbt", "serve flowers")
    handle = ip.run_line_magic("nbt", "serve flowers --background --port 0 --poll 1")
    try:
        assert handle.url.startswith("http://127.0.0.1:") and handle.url in repr(handle)
        r = requests.post(f"{handle.url}/invocations", json=split_rows(2), timeout=30)
        assert r.status_code == 200 and r.json()["predictions"][0]["model_version"] == "1"
    finally:
        assert handle.stop() == 0


def test_chunked_bodies_over_the_limit_are_refused(server):
    def chunks():  # no Content-Length: the server counts while it reads
        for _ in range(11):
            yield b"x" * (1024 * 1024)

    r = server.session.post(f"{server.url}/invocations", data=chunks(), timeout=60,
                            headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "limit" in r.json()["message"]


def test_writer_applies_back_pressure_while_the_log_fails_and_loses_nothing(tmp_path):
    """The database fails: the writer keeps its batch and retries, the queue fills, submit refuses
    (503 in the server); when the database is back every accepted row is written once."""
    import datetime as dt

    from nbtoolkit.errors import StoreUnavailable
    from nbtoolkit.monitoring import PredictionLog
    from nbtoolkit.serving.logwriter import LogWriter, QueueFull

    plog = PredictionLog(f"sqlite:///{tmp_path}/p.db")
    real_append, down = plog.append, threading.Event()
    down.set()

    def append(rows):
        if down.is_set():
            raise StoreUnavailable("The prediction log at 'test' failed (database is down); nothing was written.")
        return real_append(rows)

    plog.append = append
    writer = LogWriter(plog, max_rows=6, batch_rows=100, linger=0.0).start()

    def rows(prefix, n):
        now = dt.datetime(2026, 1, 1)
        return [{"id": f"{prefix}{k}", "model_name": "m", "model_version": "1", "alias": "champion", "ts": now,
                 "inputs": "{}", "prediction": "a", "confidence": 0.9, "routed_to_human": False,
                 "probabilities": None} for k in range(n)]

    writer.submit(rows("a", 3), 10)
    writer.submit(rows("b", 3), 10)
    with pytest.raises(QueueFull):
        writer.submit(rows("c", 1), 10)
    wait_for(lambda: writer.last_error is not None, "the writer to meet the failing database")
    assert plog.count() == 0
    down.clear()
    assert writer.flush(timeout=30)
    assert writer.stop() == 0
    assert plog.count() == 6


def test_journal_sync_flushes_each_request_and_recovery_reads_entries_and_old_row_lines(tmp_path):
    """--journal-sync: one fdatasync per request line; the lines read back exactly, the compact
    entries of today's servers and the row lines of servers before the helper process alike."""
    import datetime as dt

    from nbtoolkit.monitoring import PredictionLog
    from nbtoolkit.serving.journal import Journal, encode_entry, entry, recover
    from nbtoolkit.serving.protocol import parse_body

    plog = PredictionLog(f"sqlite:///{tmp_path}/p.db")
    when = dt.datetime(2026, 1, 2, 3, 4, 5, 678901)

    def line(seq, prefix, n):
        batch = parse_body(json.dumps({"dataframe_records": [{"a": 1.5}] * n}).encode(), "application/json", None)
        item = entry("m", batch, ids=[f"{prefix}{k}" for k in range(n)], versions=["1"] * n,
                     aliases=["champion"] * n, ts=when, predictions=["x"] * n, confidences=[0.75] * n,
                     humans=[k == 0 for k in range(n)], probabilities=['{"x": 0.75, "y": 0.25}'] * n)
        return ('{"seq":%d,"entry":%s}' % (seq, encode_entry(item))).encode()

    plain = Journal(tmp_path / "plain", log_url=plog.safe_url)
    assert plain.append_line(1, line(1, "p", 2)) is None and plain.syncs == 0
    synced = Journal(tmp_path / "synced", log_url=plog.safe_url, sync=True)
    for seq, prefix, n in ((1, "a", 2), (2, "b", 1)):
        synced.make_durable(synced.append_line(seq, line(seq, prefix, n)))
    assert synced.syncs == 2  # one per request
    old = ["c0", "m", "1", "champion", when.isoformat(), '{"a": 1.5}', "x", 0.75, True, None]
    with open(synced.current, "ab") as f:  # a line as servers before the helper process wrote it
        f.write(json.dumps({"seq": 3, "rows": [old]}).encode() + b"\n")
    synced.close(everything_logged=False)  # as a server that could not write them
    found = recover(tmp_path / "synced", plog)
    assert (found.served, found.recovered, found.torn_lines) == (4, 4, 0)
    frame = plog.frame("m", probabilities=True, inputs=True).sort_values("id")
    assert list(frame["id"]) == ["a0", "a1", "b0", "c0"]
    assert list(frame["routed_to_human"]) == [True, False, True, True]
    assert (frame["ts"] == when).all() and (frame["inputs"].map(lambda x: x == {"a": 1.5})).all()
    assert frame["probabilities"].iloc[0] == {"x": 0.75, "y": 0.25} and frame["probabilities"].iloc[3] is None


def test_a_large_window_is_read_in_a_helper_process_with_the_same_metrics(tmp_path):
    """From offload_rows rows on, the window is read by a helper process: same metrics, same alerts."""
    import datetime as dt
    import math

    from nbtoolkit.monitoring import PredictionLog
    from nbtoolkit.serving.alerts import LiveMonitor

    plog = PredictionLog(f"sqlite:///{tmp_path}/p.db")
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    plog.append([{"id": f"r{k}", "model_name": "m", "model_version": "1", "alias": "champion",
                  "ts": now - dt.timedelta(minutes=k), "inputs": "{}", "prediction": "ab"[k % 2],
                  "confidence": 0.5 + k / 100, "routed_to_human": k % 3 == 0, "probabilities": None}
                 for k in range(20)])
    plog.record_outcomes(["r0", "r1", "r2", "r3"], ["a", "a", "a", "b"], source="human", model="m")
    here = LiveMonitor("m", plog, rules=["volume>10", "human_share>0.5"], offload_rows=10**9)
    there = LiveMonitor("m", plog, rules=["volume>10", "human_share>0.5"], offload_rows=0)
    try:
        expected, got = here.evaluate(now), there.evaluate(now)
        assert there._helper is not None and here._helper is None  # it really went elsewhere
        assert [a["rule"] for a in got] == [a["rule"] for a in expected] == ["volume>10"]
        for key, value in here.latest.items():
            same = value == there.latest[key] or (isinstance(value, float) and math.isnan(value)
                                                   and math.isnan(there.latest[key]))
            assert same, (key, value, there.latest[key])
        assert there.latest["volume"] == 20 and there.latest["labeled"] == 4
        # outcomes arriving wake the monitor; they leave its helper running (only stop() ends it)
        helper = there._helper
        there._thread = object()  # as if started: a nudge counts only in the worker that evaluates
        there.nudge()
        assert there.outcome_batches == 1 and helper.alive
        there.evaluate(now)
        assert there._helper is helper and there.offload_rows == 0  # still read elsewhere
    finally:
        there.stop()
    assert not helper.alive or helper.proc.wait(timeout=10) is not None  # stop() ended it


def test_the_live_monitor_fires_on_the_share_of_rows_outside_the_contract(tmp_path):
    """contract>0.05 over the rolling window: the share of flagged rows, its gauge, the alert."""
    import datetime as dt

    from nbtoolkit.monitoring import PredictionLog
    from nbtoolkit.serving.alerts import LiveMonitor
    from nbtoolkit.serving.metrics import ServingMetrics

    plog = PredictionLog(f"sqlite:///{tmp_path}/p.db")
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    flag = '[{"column":"x","kind":"out_of_range"}]'
    plog.append([{"id": f"r{k}", "model_name": "m", "model_version": "1", "alias": "champion",
                  "ts": now - dt.timedelta(minutes=k), "inputs": "{}", "prediction": "a", "confidence": 0.9,
                  "routed_to_human": False, "probabilities": None, "contract": flag if k < 2 else None}
                 for k in range(20)])
    metrics = ServingMetrics()
    live = LiveMonitor("m", plog, rules=["contract>0.05", "contract>0.2"], metrics=metrics)
    fired = live.evaluate(now)
    assert [a["rule"] for a in fired] == ["contract>0.05"] and live.latest["contract"] == 0.1
    assert "nbt_window_contract 0.1" in metrics.render()[0].decode()


def test_an_ordinary_alias_move_is_logged_at_info_in_words(nbt_home, iris, iris_model, caplog):
    """A challenger arriving is the registry doing its job: INFO, ``@challenger: none -> 2``
    (it was a WARNING reading ``@challenger - -> 2``)."""
    import logging

    import nbtoolkit as nbt
    from nbtoolkit.serving.swap import ModelSet

    X, y = iris
    nbt.register(iris_model, name="iris", X=X, y=y, alias="champion")
    models = ModelSet("iris")
    models.load()
    nbt.register(iris_model, name="iris", X=X, y=y, alias="challenger")
    with caplog.at_level(logging.INFO, logger="nbtoolkit.serving"):
        assert models.poll() == ["@challenger: none -> 2"]
        nbt.promote("iris", 2, alias="champion")
        assert models.poll() == ["@champion: 1 -> 2"]
    moves = [r for r in caplog.records if r.name == "nbtoolkit.serving"]
    assert [r.getMessage() for r in moves] == ["nbt serve: iris: @challenger: none -> 2",
                                               "nbt serve: iris: @champion: 1 -> 2"]
    assert {r.levelno for r in moves} == {logging.INFO}
