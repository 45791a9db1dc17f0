"""``%nbt drift`` / ``%nbt validate`` magics and ``nbt drift`` / ``nbt validate`` on files."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from IPython.core.error import UsageError

import nbtoolkit as nbt
from nbtoolkit.cli import main
from nbtoolkit.errors import CheckFailed, NotFound
from nbtoolkit.testing import assert_no_drift


def tickets(n: int, seed: int, *, drift: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "amount": rng.normal(1.3 if drift else 1.0, 1.0, n),
        "channel": rng.choice(["email", "chat", "phone"], n, p=[0.2, 0.2, 0.6] if drift else [0.5, 0.3, 0.2]),
        "created_at": pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 10**6, n), unit="s"),
    })


@pytest.fixture
def files(tmp_path):
    ref, same, drifted = tickets(3000, 1), tickets(3000, 2), tickets(3000, 3, drift=True)
    paths = {"ref": tmp_path / "ref.parquet", "same": tmp_path / "same.csv", "drifted": tmp_path / "drifted.csv"}
    ref.to_parquet(paths["ref"])
    same.to_csv(paths["same"], index=False)
    drifted.to_csv(paths["drifted"], index=False)
    return {k: str(v) for k, v in paths.items()}


# ------------------------------------------------------------------------------ CLI
def test_cli_exit_codes_and_formats(files, tmp_path, capsys, nbt_home):
    assert main(["drift", files["same"], "--reference", files["ref"], "--fail-on-drift"]) == 0
    out = capsys.readouterr().out
    assert "no dataset drift" in out and "created_at" in out and "skipped" in out  # ISO dates parsed from CSV
    assert out.splitlines()[0].startswith("Drift: no dataset drift (0 of 2 columns, threshold 50%) — no column drifted")
    assert main(["drift", files["drifted"], "--reference", files["ref"], "--fail-on-drift"]) == 1
    assert capsys.readouterr().out.startswith("Drift: DRIFT (2 of 2 columns, threshold 50%) — drifted: ")
    # columns drifted but fewer than the dataset share: exit 0 under --fail, and the line names them
    assert main(["data", "drift", files["drifted"], "--reference", files["ref"], "--fail", "--drift-share", "1",
                 "--threshold", "amount=10"]) == 0
    assert capsys.readouterr().out.startswith(
        "Drift: no dataset drift (1 of 2 columns, threshold 100%) — drifted: channel; ")
    assert main(["drift", files["drifted"], "--reference", files["ref"]]) == 0
    capsys.readouterr()
    assert main(["drift", files["drifted"], "--reference", files["ref"], "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["drifted"] and sorted(data["drifted_columns"]) == ["amount", "channel"]
    html = tmp_path / "report.html"
    assert main(["drift", files["drifted"], "--reference", files["ref"], "--format", "html",
                 "--output", str(html), "--threshold", "amount=0.5", "--method", "channel=psi"]) == 0
    assert "Report written to" in capsys.readouterr().out
    text = html.read_text()
    assert text.startswith("<!doctype html>") and "<svg" in text and len(text) < 30_000
    assert ">psi<" in text


@pytest.mark.parametrize("argv,message", [
    (["drift", "missing.csv", "--reference", "REF"], "No such current file"),
    (["drift", "CUR", "--reference", "REF", "--model", "m"], "exactly one of --reference and --model"),
    (["drift", "CUR", "--reference", "BAD"], "Cannot read reference file"),
    (["drift", "CUR", "--reference", "REF", "--columns", "amount,nope"], "Unknown column 'nope'"),
    (["drift", "CUR", "--reference", "REF", "--threshold", "x=abc"], "Malformed --threshold"),
    (["drift", "CUR", "--model", "nosuch@champion"], "No model named 'nosuch'"),
])
def test_cli_bad_input_exits_2_with_one_line(argv, message, files, tmp_path, capsys, nbt_home):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"\x00\x01 definitely not parquet")
    subst = {"CUR": files["same"], "REF": files["ref"], "BAD": str(bad)}
    assert main([subst.get(a, a) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_cli_validate(files, capsys, nbt_home):
    assert main(["validate", files["same"], "--reference", files["ref"]]) == 0
    frame = pd.read_csv(files["same"]).drop(columns="amount")
    frame.to_csv(files["same"], index=False)
    assert main(["validate", files["same"], "--reference", files["ref"]]) == 1
    assert "missing column" in capsys.readouterr().out


def test_real_nbt_command_exit_code(files, nbt_home):
    proc = subprocess.run([sys.executable, "-m", "nbtoolkit.cli", "drift", files["drifted"], "--reference",
                           files["ref"], "--fail-on-drift"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "DRIFT" in proc.stdout


# ------------------------------------------------------------------------------ registry profile
@pytest.fixture
def registered(nbt_home, iris, iris_model):
    X, y = iris
    nbt.register(iris_model, "iris", X=X, y=y, alias="champion")
    return X


def test_drift_against_stored_profile_with_prediction_drift(registered, iris_model, files, capsys):
    X = registered
    same = nbt.drift(X, model="iris@champion")
    assert not same.drifted_columns
    assert {"(prediction)", "(confidence)"} <= set(same.columns)
    moved = X.copy()
    moved["petal_length"] += 2.0
    report = nbt.drift(moved, model="iris@champion", method="psi")
    assert "petal_length" in report.drifted_columns and "(prediction)" in report.drifted_columns
    assert report.reference.startswith("iris/1 profile")
    with pytest.raises(CheckFailed, match="petal_length"):
        assert_no_drift(moved, model="iris@champion", max_drifted=0)
    path = files["same"].replace("same.csv", "iris.csv")
    moved.to_csv(path, index=False)
    assert main(["drift", path, "--model", "iris@champion", "--fail-on-drift", "--method", "psi"]) == 1
    assert "petal_length" in capsys.readouterr().out


def test_a_cold_command_predicts_through_the_model_helper_with_the_same_report(registered, files, tmp_path):
    """`nbt data drift --model` in a fresh process loads the model in a helper process (skops is
    imported there, beside MLflow here): same report as in-process; its errors come back as they are."""
    X = registered
    moved = X.copy()
    moved["petal_length"] += 2.0
    path = tmp_path / "moved.csv"
    moved.to_csv(path, index=False)
    expected = nbt.drift(moved, model="iris@champion", method="psi").to_dict()
    nbt_cli = [sys.executable, "-m", "nbtoolkit.cli"]
    proc = subprocess.run([*nbt_cli, "data", "drift", str(path), "--model", "iris@champion", "--method", "psi",
                           "--format", "json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["drifted_columns"] == expected["drifted_columns"] and "(prediction)" in got["drifted_columns"]
    for col in ("(prediction)", "(confidence)", "petal_length"):
        a = next(c for c in got["columns"] if c["column"] == col)
        b = next(c for c in expected["columns"] if c["column"] == col)
        assert a["statistic"] == pytest.approx(b["statistic"], rel=1e-9), col


def test_the_model_helper_hands_back_load_errors_and_predictions(registered, nbt_home):
    from nbtoolkit import registry
    from nbtoolkit.errors import IntegrityError
    from nbtoolkit.registry.model_process import HelperModel, ModelProcess

    X = registered
    here = registry.load("iris@champion")
    helper = ModelProcess()
    try:
        assert not isinstance(registry.load("iris@champion"), HelperModel)  # only when asked for
        model = registry.load("iris@champion", process=helper)
        assert isinstance(model, HelperModel) and "helper process" in repr(model)
        assert list(model.predict(X)) == list(here.predict(X))
        np.testing.assert_allclose(model.predict_proba(X), here.predict_proba(X), rtol=1e-12)
        assert not hasattr(model, "fit") and not hasattr(model, "_private")
        bad = nbt_home / "bad-model"
        bad.mkdir()
        (bad / "model.skops").write_bytes(b"not a skops file")
        with pytest.raises(IntegrityError, match=r"The model.skops of iris/9 is not a skops file"):
            helper.load(bad, {"nbt.format": "skops", "nbt.skops_trusted_types": '["os.system"]'}, "iris/9")
        assert list(model.predict(X[:3])) == list(here.predict(X[:3]))  # still serving after an error
    finally:
        code = helper.close()
    assert code == 0


def test_version_without_profile_is_a_clear_error(nbt_home, iris, iris_model):
    X, _ = iris
    nbt.register(iris_model, "bare")
    with pytest.raises(NotFound, match=r"bare/1 .* has no stored drift profile; register it with --data"):
        nbt.drift(X, model="bare")


def test_drift_logged_to_active_mlflow_run(nbt_home):
    from nbtoolkit import store

    mlflow = store.mlflow_module()
    store.ensure_experiment()
    ref, cur = tickets(2000, 1), tickets(2000, 2, drift=True)
    with mlflow.start_run(experiment_id=store.ensure_experiment()) as run:
        nbt.drift(cur, ref)
    metrics = store.client().get_run(run.info.run_id).data.metrics
    assert metrics["drift.dataset_drifted"] == 1.0 and metrics["drift.amount.wasserstein"] > 0.1


# ------------------------------------------------------------------------------ magics
def test_magics(ip, registered):
    ip.user_ns["cur"] = registered.assign(petal_length=registered.petal_length + 2)
    ip.user_ns["X"] = registered
    shown = []
    ip.display_pub.publish = lambda data, **kw: shown.append(data)
    report = ip.run_line_magic("nbt", "drift cur --model iris@champion --method psi")
    assert "petal_length" in report.drifted_columns
    assert any("image/png" in d for d in shown)  # plots of the drifted columns
    report = ip.run_line_magic("nbt", "drift cur --reference X --columns petal_length,sepal_width --no-plot")
    assert list(report.columns) == ["petal_length", "sepal_width"]
    with pytest.raises(UsageError, match="Drift: DRIFT"):
        ip.run_line_magic("nbt", "drift cur --reference X --fail --share 0.2 --no-plot")
    with pytest.raises(UsageError, match="Unknown column 'petal': not in the reference. Did you mean 'petal_"):
        ip.run_line_magic("nbt", "drift cur --reference X --columns petal")
    with pytest.raises(UsageError, match="No variable named 'nope'"):
        ip.run_line_magic("nbt", "drift nope --reference X")
    ok = ip.run_line_magic("nbt", "validate X --model iris@champion")
    assert ok.passed
    ip.user_ns["broken"] = registered.drop(columns="sepal_width")
    with pytest.raises(UsageError, match="sepal_width: missing column"):
        ip.run_line_magic("nbt", "validate broken --model iris@champion --fail")
    ip.run_line_magic("config", "Nbt.drift_threshold = 0.9")
    assert ip.run_line_magic("nbt", "drift cur --reference X --no-plot").drift_share == 0.9
    assert "--fail" in ip.run_line_magic("nbt", "drift --help")


def test_support_ticket_shaped_model(nbt_home):
    """Free text, categories and a datetime, a TF-IDF pipeline: the shape of the README example."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    def make(n, seed, *, live=False):
        rng = np.random.default_rng(seed)
        topics = np.array(["refund", "login", "printer", "invoice"])
        topic = rng.choice(topics, n, p=[0.1, 0.1, 0.4, 0.4] if live else None)
        return pd.DataFrame({
            "subject": [f"{t} problem #{i}" for i, t in enumerate(topic)],
            "body": [f"hello my {t} does not work since {rng.integers(1, 30)} days, order {i}" for i, t in enumerate(topic)],
            "channel": rng.choice(["email", "chat"], n, p=[0.1, 0.9] if live else [0.5, 0.5]),
            "tier": rng.choice(["free", "pro"], n),
            "created_at": pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 10**6, n), unit="s"),
        }), topic

    X, y = make(1500, 1)
    features = ColumnTransformer([("subject", TfidfVectorizer(), "subject"), ("body", TfidfVectorizer(), "body"),
                                  ("cat", OneHotEncoder(handle_unknown="ignore"), ["channel", "tier"])])
    model = make_pipeline(features, LogisticRegression(max_iter=300)).fit(X, y)
    nbt.register(model, "tickets", X=X, y=y, alias="champion")
    live, _ = make(1200, 2, live=True)
    report = nbt.drift(live, model="tickets@champion")
    rows = report.columns
    assert rows["subject"]["type"] == "text" and rows["created_at"]["method"] == "skipped"
    assert {"channel", "(prediction)"} <= set(report.drifted_columns)
    assert "tier" not in report.drifted_columns
    assert report.plot("(prediction)").axes


def test_the_cli_and_the_magic_name_flags_where_the_api_names_arguments(files, tmp_path, capsys, ip, nbt_home):
    """'pass columns=[...]' was printed by `nbt data drift`, which takes --columns."""
    from nbtoolkit.errors import BadInput

    ref = pd.read_parquet(files["ref"])
    short = tmp_path / "short.csv"
    ref.drop(columns=["channel"]).to_csv(short, index=False)
    with pytest.raises(BadInput, match=r"pass columns=\[\.\.\.\] to compare a subset"):
        nbt.drift(ref.drop(columns=["channel"]), ref)  # the API keeps its own spelling
    assert main(["data", "drift", str(short), "--reference", files["ref"]]) == 2
    err = capsys.readouterr().err
    assert "pass --columns a,b to compare a subset" in err and "columns=[" not in err
    ip.user_ns.update(ref=ref, short=ref.drop(columns=["channel"]))
    with pytest.raises(UsageError, match="pass --columns a,b to compare a subset"):
        ip.run_line_magic("nbt", "drift short --reference ref")
    with pytest.raises(UsageError, match=r"use at most 3000, or --chunk-number\.$"):
        ip.run_line_magic("nbt", "drift ref --reference ref --chunk-size 5000")


def test_every_flag_spelling_is_a_real_flag():
    from nbtoolkit.commands import cli_commands, magic_commands
    from nbtoolkit.vocabulary import FLAGS

    flags = set()
    for command in [*cli_commands().values(), *magic_commands().values()]:
        for action in command.parser()._actions:
            flags.update(action.option_strings)
    for api, flag in FLAGS.items():
        assert flag.split()[0] in flags, (api, flag)


def test_the_api_reads_the_files_the_cli_takes(files, tmp_path):
    """nbt.drift("a.csv", "b.parquet") was refused although `nbt data drift` takes the same files."""
    from pathlib import Path

    from nbtoolkit.commands.data import read_table
    from nbtoolkit.errors import BadInput

    by_path = nbt.drift(files["drifted"], Path(files["ref"]), log=False)
    by_frame = nbt.drift(read_table(files["drifted"]), read_table(files["ref"]), log=False)
    pd.testing.assert_frame_equal(by_path.to_frame(), by_frame.to_frame())
    assert by_path.columns["created_at"].method == "skipped"  # ISO dates parsed as the CLI parses them
    assert nbt.drift(files["drifted"], files["ref"], chunk_size=1000, log=False).n_current == 3000
    with pytest.raises(BadInput, match=r"^No such current file: 'nope\.csv'; give the path of a CSV or Parquet file\.$"):
        nbt.drift("nope.csv", files["ref"])
    (tmp_path / "bad.parquet").write_text("a,b\n1,2\n")
    with pytest.raises(BadInput, match=r"Cannot read reference file '.*as CSV or Parquet \(ValueError"):
        nbt.drift(files["drifted"], tmp_path / "bad.parquet")


# ------------------------------------------------------------------------------ data quality in the report
def iris_frames():
    """Iris (real measurements) with its species as a category; the current copy has 20 % of petal
    lengths gone missing, 10 flowers of a species the reference never had, 6 sepal widths beyond
    the reference's widest."""
    from sklearn.datasets import load_iris

    data = load_iris(as_frame=True)
    ref = data.frame.drop(columns="target").assign(species=data.target_names[data.target])
    cur = ref.copy()
    rng = np.random.default_rng(0)
    cur.loc[rng.choice(len(cur), 30, replace=False), "petal length (cm)"] = np.nan
    cur.loc[rng.choice(len(cur), 10, replace=False), "species"] = "hybrid"
    cur.loc[rng.choice(len(cur), 6, replace=False), "sepal width (cm)"] = ref["sepal width (cm)"].max() + 1.0
    return ref, cur


def test_the_drift_report_shows_missing_unseen_and_out_of_range(tmp_path, capsys, nbt_home):
    ref, cur = iris_frames()
    report = nbt.drift(cur, ref)
    petal, species, width = (report.columns[c] for c in ("petal length (cm)", "species", "sepal width (cm)"))
    assert (petal.missing_reference, petal.missing_current) == (0.0, 0.2) and petal.missing_changed
    assert (species.unseen_values, species.unseen_rate) == (1, 10 / 150) and species.out_of_range_rate is None
    assert width.out_of_range_rate == 6 / 150 and width.unseen_rate is None
    assert report.columns["sepal length (cm)"].out_of_range_rate == 0.0 and not report.columns[
        "sepal length (cm)"].quality_flagged
    assert report.unseen == ["species"] and report.out_of_range == ["sepal width (cm)"]
    line = report.summary()
    assert "unseen categories: species 6.7% (1 new)" in line and "outside the reference range: sepal width (cm) 4.0%" \
        in line and "missing values: petal length (cm) 0.0% → 20.0%" in line
    frame = report.to_frame().set_index("column")
    assert frame.loc["species", "unseen_values"] == 1 and frame.loc["sepal width (cm)", "out_of_range_rate"] == 0.04
    html = report._repr_html_()
    assert "unseen / out of range (cur)" in html and "6.7% (1 new)" in html and "nbt-quality" in html

    # the same from stored profiles: a reference profile, and a current one built chunk by chunk like= it
    stored = nbt.Profile.from_frame(ref)
    assert nbt.drift(cur, stored).to_frame().equals(report.to_frame())
    chunked = nbt.Profile.from_chunks([cur.iloc[:50], cur.iloc[50:]], like=stored)
    again = nbt.drift(chunked, stored).columns
    assert again["sepal width (cm)"].out_of_range_rate == 6 / 150 and again["species"].unseen_rate == 10 / 150
    # a current profile stored before out-of-range values were counted still reads: the share is unknown
    old = json.loads(chunked.to_json())
    for entry in old["columns"].values():
        entry.pop("outside", None)
    legacy = nbt.drift(nbt.Profile.from_json(json.dumps(old)), stored)
    assert legacy.columns["sepal width (cm)"].out_of_range_rate is None and legacy.columns["species"].unseen_values == 1
    assert "unseen categories: species" in legacy.summary() and "outside the reference range" not in legacy.summary()

    # the CLI's text and JSON
    ref.to_parquet(tmp_path / "ref.parquet")
    cur.to_csv(tmp_path / "cur.csv", index=False)
    assert main(["drift", str(tmp_path / "cur.csv"), "--reference", str(tmp_path / "ref.parquet")]) == 0
    text = capsys.readouterr().out
    header, *rows = text.splitlines()[1:]
    assert "missing" in header and "unseen/outside" in header
    assert any(r.split()[0] == "species" and "6.7% (1 new)" in r for r in rows)
    assert any(r.strip().startswith("sepal width") and "4.0%" in r and "0.0% → 0.0%" in r for r in rows)
    assert main(["drift", str(tmp_path / "cur.csv"), "--reference", str(tmp_path / "ref.parquet"),
                 "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["unseen_columns"] == ["species"] and data["out_of_range_columns"] == ["sepal width (cm)"]
    species_row = next(c for c in data["columns"] if c["column"] == "species")
    assert species_row["unseen_values"] == 1 and species_row["missing_current"] == 0.0
