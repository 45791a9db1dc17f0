"""The pipeline file, parameters, cache keys and record(): everything short of running a kernel."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nbtoolkit.errors import BadInput
from nbtoolkit.pipeline import load_pipeline, record
from nbtoolkit.pipeline.cache import step_key
from nbtoolkit.pipeline.spec import resolve_parameters, source_hash

NBT = str(Path(sys.executable).parent / "nbt")


def write(folder: Path, text: str, name: str = "p.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def error_of(path: Path, **kwargs) -> str:
    from nbtoolkit.pipeline import run_pipeline

    with pytest.raises(BadInput) as info:
        run_pipeline(path, **kwargs)
    return str(info.value)


def test_the_test_pipeline_loads_in_dependency_order(folder):
    p = load_pipeline(folder / "pipeline.yaml")
    assert p.name == "three-steps"
    assert list(p.steps) == ["ingest", "train", "report"]
    assert p.steps["train"].notebook == (folder / "02_train.ipynb").resolve()
    assert {"upstream", "fail", "wait_for", "token"} <= p.steps["train"].declared
    assert p.dependants(["train"]) == {"train", "report"}
    assert p.ancestors(["report"]) == {"ingest", "train"}


@pytest.mark.parametrize("text, expected", [
    ("name: x\nsteps:\n  - name: a\n    notebook: a: b.ipynb\n", "not valid YAML at line 4, column 16: mapping"),
    ("name: x\nstep: []\n", "Unknown key 'step'"),
    ("name: x\nsteps: []\n", "'steps' in p.yaml must be a non-empty list of steps, got []"),
    ("name: x\nsteps:\n  - echo.ipynb\n", "Step 1 of p.yaml must be a mapping with 'name' and 'notebook', got 'echo.ipynb'"),
    ("steps:\n  - name: a\n", "Step 'a' needs 'notebook': the path of an .ipynb file"),
    ("steps:\n  - name: a\n    notebok: echo.ipynb\n", "Unknown key 'notebok' in step 'a'. Did you mean 'notebook'?"),
    ("steps:\n  - name: a b\n    notebook: echo.ipynb\n", "'name' of step 1 of p.yaml must be a step name of letters"),
    ("steps:\n  - name: a\n    notebook: echo.ipynb\n    needs: [1]\n",
     "'needs' of step 'a' must be a list of step names (or one name), got [1]"),
    ("parameters: {when: 2024-01-01}\nsteps:\n  - name: a\n    notebook: echo.ipynb\n",
     "Parameter 'when' in p.yaml is a date"),
    ("steps:\n  - name: a\n    notebook: echo.ipynb\n  - name: a\n    notebook: echo.ipynb\n",
     "Step name 'a' appears twice in p.yaml (steps 1 and 2)"),
    ("steps:\n  - name: a\n    notebook: echo.ipynb\n    needs: [b]\n",
     "Step 'a' needs 'b', which is not a step of p.yaml"),
    ("steps:\n  - name: ingest\n    notebook: echo.ipynb\n  - name: train\n    notebook: echo.ipynb\n"
     "    needs: [ingset]\n", "Did you mean 'ingest'?"),
    ("steps:\n  - name: a\n    notebook: echo.ipynb\n    needs: [c]\n  - name: b\n    notebook: echo.ipynb\n"
     "    needs: [a]\n  - name: c\n    notebook: echo.ipynb\n    needs: [b]\n", "cycle: "),
    ("steps:\n  - name: a\n    notebook: missing.ipynb\n", "Notebook 'missing.ipynb' of step 'a' does not exist"),
    ("steps:\n  - name: a\n    notebook: echo.ipynb\n    cwd: nowhere\n", "'cwd' of step 'a' is 'nowhere', which is not a folder"),
    ("steps:\n  - name: a\n    notebook: echo.ipynb\n    kernel: 3\n", "must be a kernel name"),
    ("steps:\n  - name: a\n    notebook: broken.ipynb\n", "is not valid JSON (line 1, column"),
    ("steps:\n  - name: a\n    notebook: echo.ipynb\n    parameters: {'bad name': 1}\n", "not a Python identifier"),
    ("steps:\n  - name: a\n    notebook: echo.ipynb\n    parameters: {upstream: 1}\n", "reserved"),
    ("steps:\n  - name: a\n    notebook: echo.ipynb\n    parameters: {text: 2024-01-01}\n", "quote dates"),
    ("steps:\n  - name: a\n    notebook: echo.ipynb\n    timeout: -1\n", "positive number"),
    ('steps:\n  - name: a\n    notebook: "echo\\0.ipynb"\n',
     "'notebook' of step 'a' is 'echo\\x00.ipynb', which holds a NUL byte; give a path relative to p.yaml"),
    ('steps:\n  - name: a\n    notebook: echo.ipynb\n    cwd: "da\\0ta"\n',
     "'cwd' of step 'a' is 'da\\x00ta', which holds a NUL byte"),
    (f"steps:\n  - name: a\n    notebook: {'n' * 300}/echo.ipynb\n", "Notebook '"),
])
def test_pipeline_file_errors_are_one_sentence_and_write_nothing(folder, nbt_home, text, expected):
    (folder / "broken.ipynb").write_text('{"cells": [,]}')
    nb = json.loads((folder / "echo.ipynb").read_text())
    nb["cells"] = [c for c in nb["cells"] if "parameters" not in c["metadata"].get("tags", [])]
    (folder / "noparams.ipynb").write_text(json.dumps(nb))
    message = error_of(write(folder, text))
    assert expected in message
    assert "\n" not in message.strip()
    assert not (nbt_home / "runs").exists()


@pytest.mark.parametrize("file_name, expected", [("...yaml", "'..'"), ("..yaml", "'.'"), (" .yaml", "' '")])
def test_a_file_name_that_cannot_name_the_run_folder_needs_a_name(folder, nbt_home, file_name, expected):
    """Without ``name:`` the pipeline is named after its file; '...yaml' would be '..' (runs/..)."""
    before = sorted(p.name for p in nbt_home.parent.rglob("*"))
    message = error_of(write(folder, "steps:\n  - name: a\n    notebook: echo.ipynb\n", name=file_name))
    assert f"{file_name!r} has no 'name:', and {expected} (its file name) cannot name the pipeline's folder" in message
    assert sorted(p.name for p in nbt_home.parent.rglob("*")) == sorted(before + [file_name])  # only the file
    assert load_pipeline(write(folder, "name: ok\nsteps:\n  - name: a\n    notebook: echo.ipynb\n",
                               name=file_name)).name == "ok"
    assert load_pipeline(write(folder, "steps:\n  - name: a\n    notebook: echo.ipynb\n",
                               name="my pipeline.yaml")).name == "my pipeline"


@pytest.mark.parametrize("name", ["..", ".", "a/../..", "../x", "a/b", ""])
def test_no_run_folder_is_outside_runs(nbt_home, name):
    from nbtoolkit.pipeline.cache import runs_folder

    with pytest.raises(BadInput, match="would put its runs outside"):
        runs_folder(name)
    assert runs_folder("a..b") == nbt_home / "runs" / "a..b"


@pytest.mark.parametrize("content, expected", [
    (bytes(range(256)) * 4, "it is not UTF-8 text; -f takes a YAML file"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "it is not UTF-8 text"),
    (None, "the path holds a NUL byte"),
])
def test_parameters_file_with_binary_bytes_or_a_nul_in_its_path_exits_2(folder, nbt_home, capsys, content, expected):
    from nbtoolkit.cli import main

    target = folder / "params.bin"
    if content is None:
        arg = str(target) + "\0.yaml"
    else:
        target.write_bytes(content)
        arg = str(target)
    assert main(["pipeline", "run", str(folder / "pipeline.yaml"), "-f", arg]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err and "Traceback" not in err, err
    assert not (nbt_home / "runs").exists()


def test_papermills_own_parameters_file_with_an_unquoted_date_is_taken_as_papermill_takes_it(folder):
    """papermill's tests/parameters/example.yaml: ``a_date: 2019-01-01`` arrives as the string."""
    import papermill
    from papermill.parameterize import read_yaml_file

    from nbtoolkit.cli import build_parser
    from nbtoolkit.commands.pipeline import parameters_from

    example = Path(papermill.__file__).parent / "tests" / "parameters" / "example.yaml"
    args = build_parser().parse_args(["pipeline", "run", str(folder / "pipeline.yaml"), "-f", str(example)])
    params = parameters_from(args.parameters)
    assert params == read_yaml_file(str(example))
    assert params["a_date"] == "2019-01-01" and params["foo"] == 12345
    with pytest.warns(Warning):  # unknown to every step: injected with a ParameterWarning, not refused
        resolved = resolve_parameters(load_pipeline(folder / "pipeline.yaml"), params)
    assert resolved["ingest"].parameters["a_date"] == "2019-01-01"


@pytest.mark.parametrize("written, runs", [("python", "python3"), ("PYTHON3", "python3"), ("Python3", "python3")])
def test_kernelspec_names_resolve_as_jupyter_client_resolves_them(folder, written, runs):
    """VS Code writes ``python``; older tools ``PYTHON3``: papermill runs both through jupyter_client."""
    from jupyter_client.kernelspec import KernelSpecManager

    from nbtoolkit.pipeline.runner import _check_kernels

    nb = json.loads((folder / "echo.ipynb").read_text())
    nb["metadata"]["kernelspec"]["name"] = written
    (folder / "vscode.ipynb").write_text(json.dumps(nb))
    pipeline = load_pipeline(write(folder, "name: k\nsteps:\n  - name: a\n    notebook: vscode.ipynb\n"))
    assert pipeline.steps["a"].kernel_name == runs
    _check_kernels(pipeline, {"a"})  # installed: not refused
    if written != "python":  # jupyter_client's own lookup finds the same kernelspec
        assert KernelSpecManager().get_kernel_spec(written).language == "python"
    step = load_pipeline(write(folder, f"name: k\nsteps:\n  - name: a\n    notebook: echo.ipynb\n    kernel: {written}\n"))
    assert step.steps["a"].kernel_name == runs


def test_cycle_is_named(folder):
    path = write(folder, "steps:\n  - name: a\n    notebook: echo.ipynb\n    needs: [b]\n"
                         "  - name: b\n    notebook: echo.ipynb\n    needs: [a]\n")
    message = error_of(path)
    assert "a -> b -> a" in message or "b -> a -> b" in message


@pytest.mark.parametrize("kwargs, expected", [
    ({"kernel": "no-such-kernel"}, "No Jupyter kernel named 'no-such-kernel' is installed"),
    ({"parameters": {"nope.n_rows": 3}}, "targets step 'nope'"),
    ({"parameters": {"x; import os": 3}}, "not a Python identifier"),
    ({"steps": ["trian"]}, "Did you mean 'train'?"),
    ({"jobs": 0}, "--jobs must be a positive whole number"),
    ({"executor": "spark"}, "Unknown executor 'spark'"),
    ({"scheduler": "tcp://127.0.0.1:1"}, "needs --executor dask"),
])
def test_bad_options_raise_before_anything_runs(folder, nbt_home, kwargs, expected):
    assert expected in error_of(folder / "pipeline.yaml", **kwargs)
    assert not (nbt_home / "runs").exists()


def test_parameters_go_to_the_steps_that_take_them(folder):
    p = load_pipeline(folder / "pipeline.yaml")
    r = resolve_parameters(p, {"n_rows": 5, "train.fail": True}, {"token": "t0ken"})
    assert r["ingest"].parameters == {"seed": 7, "n_rows": 5}
    assert r["train"].parameters == {"seed": 7, "fail": True}
    assert r["report"].parameters == {}
    assert r["train"].secrets == {"token": "t0ken"} and r["ingest"].secrets == {}


def test_secret_from_the_environment(folder, monkeypatch):
    monkeypatch.setenv("NBT_SECRET_TOKEN", "from-env")
    r = resolve_parameters(load_pipeline(folder / "pipeline.yaml"))
    assert r["train"].secrets == {"token": "from-env"}


def test_cache_key_ignores_outputs_but_not_source(folder):
    nb = json.loads((folder / "echo.ipynb").read_text())
    base = source_hash(nb)
    nb["cells"][-1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "hello"}]
    nb["cells"][-1]["execution_count"] = 41
    assert source_hash(nb) == base
    nb["cells"][-1]["source"] += "\nx = 1"
    assert source_hash(nb) != base
    key = step_key(base, {"a": 1}, {"up": {"n": 1}})
    assert key == step_key(base, {"a": 1}, {"up": {"n": 1}})
    assert key != step_key(base, {"a": 2}, {"up": {"n": 1}})
    assert key != step_key(base, {"a": 1}, {"up": {"n": 2}})
    assert step_key(base, {}, {}, {"token": "one"}) == step_key(base, {}, {}, {"token": "two"})


def test_record_outside_a_pipeline_returns_the_json_value():
    import numpy as np

    rec = record("accuracy", np.float64(0.93))
    assert rec.value == 0.93 and type(rec.value) is float
    assert record("shape", (3, np.int64(4))).value == [3, 4]
    with pytest.raises(BadInput, match="not JSON"):
        record("frame", object())
    with pytest.raises(BadInput, match="NaN"):
        record("bad", float("nan"))
    with pytest.raises(BadInput, match="Invalid output name"):
        record("1 x", 1)


def test_record_magic_evaluates_python_with_quotes(ip, monkeypatch):
    from nbtoolkit.pipeline.task import RECORD_MIME

    published = []
    monkeypatch.setattr(ip.display_pub, "publish", lambda data, metadata=None, **kw: published.append(data))
    ip.user_ns["scores"] = {"it's": 0.5}
    rec = ip.run_line_magic("nbt", """record score scores["it's"] + len('a "b"')""")
    assert rec.name == "score" and rec.value == 5.5
    assert published[-1][RECORD_MIME] == {"name": "score", "value": 5.5}
    ip.user_ns["n"] = 4
    assert ip.run_line_magic("nbt", "record n").value == 4
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="NameError"):
        ip.run_line_magic("nbt", "record x undefined_name + 1")
    with pytest.raises(UsageError, match="Cannot parse"):
        ip.run_line_magic("nbt", "record x 1 +")


def test_record_logs_scalars_on_the_active_mlflow_run(nbt_home):
    from nbtoolkit import store

    mlflow = store.mlflow_module()
    with mlflow.start_run(experiment_id=store.ensure_experiment()) as run:
        record("accuracy", 0.9)
        record("model_kind", "logreg")
        record("classes", ["a", "b"])
    data = store.client().get_run(run.info.run_id).data
    assert data.metrics == {"accuracy": 0.9}
    assert data.params == {"model_kind": "logreg"}


def test_cli_usage_errors_exit_2_with_one_line(folder):
    bad = subprocess.run([NBT, "run", str(folder / "pipeline.yaml"), "-p", "n_rows"],
                         capture_output=True, text=True, cwd=folder)
    assert bad.returncode == 2
    assert "-p takes NAME VALUE or NAME=VALUE, got 'n_rows'" in bad.stderr
    broken = write(folder, "steps:\n  - name: a\n    notebook: echo.ipynb\n   bad: indent\n")
    res = subprocess.run([NBT, "run", str(broken)], capture_output=True, text=True, cwd=folder)
    assert res.returncode == 2
    assert res.stderr.startswith("nbt run: p.yaml is not valid YAML at line")
    assert len(res.stderr.strip().splitlines()) == 1


def test_pipeline_magic_usage(ip, folder):
    from IPython.core.error import UsageError

    help_text = ip.run_line_magic("nbt", "pipeline run --help")
    assert "--jobs" in help_text and "--step" in help_text
    with pytest.raises(UsageError, match="Did you mean 'ingest'"):
        ip.run_line_magic("nbt", f"pipeline run {folder / 'pipeline.yaml'} --step ingst")


def test_tqdm_progress_prints_each_step_and_opens_a_bar_only_when_something_runs():
    import io

    from nbtoolkit.pipeline import PipelineEvent, TqdmProgress

    def event(step, status, states, **kw):
        return PipelineEvent(pipeline="p", run_id="r", step=step, status=status, states=states, **kw)

    out = io.StringIO()
    bar = TqdmProgress(file=out)
    bar(event(None, "started", {"a": "pending", "b": "pending"}))
    bar(event("a", "cached", {"a": "cached", "b": "pending"}, duration=0.0))
    assert bar.bar is None and "  a: cached" in out.getvalue()
    bar(event("b", "running", {"a": "cached", "b": "running"}))
    assert bar.bar is not None and bar.bar.n == 1
    bar(event("b", "failed", {"a": "cached", "b": "failed"}, duration=2.5, error="ValueError: boom"))
    bar(event(None, "failed", {"a": "cached", "b": "failed"}))
    assert bar.bar is None
    assert "  b: failed in 2.5 s: ValueError: boom" in out.getvalue()
