"""papermill compatibility of `nbt pipeline run`: parameters typed as papermill's CLI types them
(checked against papermill's own function and test values), -r / -y / -f, kernel: and -k, cwd:,
raises-exception cells, injection without a parameters cell, unknown parameters warned."""

from __future__ import annotations

import json
import shutil
import time
import warnings
from pathlib import Path

import pytest

from nbtoolkit.cli import build_parser
from nbtoolkit.commands.pipeline import parameters_from, papermill_type
from nbtoolkit.pipeline import run_pipeline
from nbtoolkit.pipeline.spec import load_pipeline, resolve_parameters
from nbtoolkit.pipeline.spec import ParameterWarning

PAPERMILL_NOTEBOOKS = Path(__import__("papermill").__file__).parent / "tests" / "notebooks"
HERE = Path(__file__).parent / "pipelines"

# papermill's tests/test_cli.py values, plus the ones users trip on
TRICKY = ["True", "False", "None", "12.51", "10", "hello world", "😍", "-23.2", "1e3", "0x10", "1_000",
          "nan", "inf", "-0", " 7", "true", "false", "none", "null", "", "'quoted'", "[1, 2]", "{}"]


@pytest.mark.parametrize("value", TRICKY)
def test_p_name_value_is_typed_as_papermill_types_it(value):
    from papermill.cli import _resolve_type

    ours, theirs = papermill_type(value), _resolve_type(value)
    assert type(ours) is type(theirs) and (ours == theirs or ours != ours and theirs != theirs)


def test_parameter_options_and_precedence(tmp_path):
    (tmp_path / "p.yaml").write_text("a: 1\nb: from-file\nwhen: 2019-01-01\n")
    args = build_parser().parse_args(
        ["pipeline", "run", "x.yaml", "-r", "b", "12", "-p", "n", "3", "-p", "flag", "False", "-p", "j=[1, 2]",
         "-y", "c: [x]", "-f", str(tmp_path / "p.yaml"), "-p", "s=True", "-k", "python3"])
    params = parameters_from(args.parameters)
    # -f < -y < -p < -r whatever the order on the line (papermill's precedence)
    assert params == {"a": 1, "b": "12", "when": "2019-01-01", "c": ["x"], "n": 3, "flag": False,
                      "j": [1, 2], "s": True}
    assert args.kernel == "python3"
    with pytest.warns(UserWarning, match=r"-p debug false passes the string 'false'.*-p debug False"):
        assert parameters_from([("p", "debug", "false")]) == {"debug": "false"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert parameters_from([("r", "debug", "false")]) == {"debug": "false"}  # said so: no warning


def test_p_with_three_words_is_a_usage_error(capsys):
    from nbtoolkit.cli import main

    assert main(["pipeline", "run", "-p", "n", "3", "pipeline.yaml"]) == 2
    assert "put the pipeline file before the options" in capsys.readouterr().err


def test_unknown_and_uncelled_parameters_are_warned_and_injected(tmp_path):
    shutil.copy(PAPERMILL_NOTEBOOKS / "no_parameters.ipynb", tmp_path / "nop.ipynb")
    shutil.copy(HERE / "echo.ipynb", tmp_path / "echo.ipynb")
    path = tmp_path / "p.yaml"
    path.write_text("name: p\nsteps:\n  - name: nop\n    notebook: nop.ipynb\n"
                    "  - name: echo\n    notebook: echo.ipynb\n")
    with pytest.warns(ParameterWarning) as caught:
        resolved = resolve_parameters(load_pipeline(path), {"msg": "hi", "text": "t"})
    messages = " ".join(str(w.message) for w in caught)
    assert "'msg' is not assigned in any step's 'parameters' cell" in messages
    assert "'nop.ipynb' has no cell tagged 'parameters'" in messages and "injected at the top" in messages
    assert resolved["nop"].parameters == {"msg": "hi"}
    assert resolved["echo"].parameters == {"msg": "hi", "text": "t"}


def _notebook(path: Path, cells: list[tuple[str, list[str]]], kernel: bool = True) -> None:
    nb = {"cells": [{"cell_type": "code", "metadata": {"tags": tags}, "execution_count": None, "outputs": [],
                     "source": src} for src, tags in cells], "nbformat": 4, "nbformat_minor": 5,
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
          if kernel else {}}
    path.write_text(json.dumps(nb))


@pytest.mark.slow
def test_real_run_cwd_raises_exception_injection_and_whole_time(nbt_home, tmp_path):
    (tmp_path / "data").mkdir()
    shutil.copy(PAPERMILL_NOTEBOOKS / "no_parameters.ipynb", tmp_path / "nop.ipynb")
    _notebook(tmp_path / "where.ipynb", [("import os, nbtoolkit\nnbtoolkit.record('cwd', os.getcwd())", [])])
    _notebook(tmp_path / "raises.ipynb", [("x = 1", ["parameters"]), ("raise ValueError('allowed')", ["raises-exception"]),
                                          ("{}['missing']", [])])
    _notebook(tmp_path / "nokernel.ipynb", [("pass", [])], kernel=False)
    path = tmp_path / "p.yaml"
    path.write_text("name: p\nsteps:\n  - name: nop\n    notebook: nop.ipynb\n"
                    "  - name: where\n    notebook: where.ipynb\n    cwd: data\n"
                    "  - name: raises\n    notebook: raises.ipynb\n")
    t0 = time.time()
    with pytest.warns(ParameterWarning):
        run = run_pipeline(path, parameters={"msg": "hi"}, raise_on_failure=False, kernel="python3")
    wall = time.time() - t0
    assert run.duration >= 0.95 * wall  # the summary's time covers the whole run
    assert run.steps["nop"]["status"] == "ok" and run.steps["where"]["status"] == "ok"
    assert run.outputs["where"]["cwd"] == str(tmp_path / "data")
    executed = json.loads((Path(run.run_dir) / "nop.ipynb").read_text())
    assert "injected-parameters" in executed["cells"][0]["metadata"]["tags"]  # at the top, as papermill
    error = run.steps["raises"]["error"]
    assert error["cell"] == 3 and error["ename"] == "KeyError"  # not the raises-exception cell
    path.write_text("name: q\nsteps:\n  - name: k\n    notebook: nokernel.ipynb\n")
    from nbtoolkit.errors import BadInput

    with pytest.raises(BadInput, match="names no kernel .* pass -k python3"):
        run_pipeline(path)
    assert run_pipeline(path, kernel="python3").passed
