"""The nbt command: registry subcommands and exit codes (0 ok, 1 check failed, 2 bad input)."""

from __future__ import annotations

import json
import subprocess
import sys

import nbtoolkit as nbt


def nbt_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "nbtoolkit.cli", *args], capture_output=True,
                          text=True, env=env)


def test_cli_registry_commands(nbt_home, iris_model):
    nbt.register(iris_model, "iris", metrics={"accuracy": 0.9}, alias="champion")
    nbt.register(iris_model, "iris", metrics={"accuracy": 0.95})
    out = nbt_cli("models")
    assert out.returncode == 0 and "iris" in out.stdout and "@champion=v1" in out.stdout
    out = nbt_cli("versions", "iris", "--json")
    assert [v["version"] for v in json.loads(out.stdout)["versions"]] == ["2", "1"]
    gate = nbt_cli("promote", "iris", "2", "--alias", "champion", "--require", "accuracy>=0.99")
    assert gate.returncode == 1 and "gate failed" in gate.stderr
    ok = nbt_cli("promote", "iris", "2", "--alias", "champion", "--require", "accuracy>=0.9")
    assert ok.returncode == 0 and "to version 2" in ok.stdout
    back = nbt_cli("rollback", "iris", "--alias", "champion")
    assert back.returncode == 0 and "to version 1" in back.stdout


def test_cli_usage_errors_exit_2(nbt_home):
    assert nbt_cli("versions", "nope").returncode == 2
    bad = nbt_cli("promote", "iris")
    assert bad.returncode == 2 and "required" in bad.stderr
    assert nbt_cli().returncode == 2
    assert nbt_cli("versions", "nope").stderr.count("\n") == 1


def test_cli_groups_and_json(nbt_home, iris_model, capsys):
    from nbtoolkit.cli import main

    nbt.register(iris_model, "iris", metrics={"accuracy": 0.9}, alias="champion")
    nbt.register(iris_model, "iris", metrics={"accuracy": 0.95})
    capsys.readouterr()
    assert main(["model", "list"]) == 0 and "@champion=v1" in capsys.readouterr().out
    assert main(["model", "versions", "iris", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["versions"]
    assert isinstance(rows[0]["metrics"]["accuracy"], float)
    assert main(["model", "promote", "iris", "2", "--alias", "champion", "--require", "accuracy>=0.9",
                 "--format", "json"]) == 0
    moved = json.loads(capsys.readouterr().out)
    assert moved["version"] == "2" and moved["gates"][0]["observed"] == 0.95
    assert main(["model", "lineage", "iris@champion"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Lineage of iris/2") and "Lineage(" not in out
    assert main(["model", "rollback", "iris", "--alias", "champion"]) == 0
    capsys.readouterr()
    # shell-safe gates; an unquoted `accuracy>=0.9` reaches us as `accuracy`: "quote it"
    assert main(["model", "promote", "iris", "2", "--alias", "champion", "--require", "accuracy:0.99"]) == 1
    assert main(["model", "promote", "iris", "2", "--alias", "champion", "--require", "accuracy=min:0.9",
                 "--require", "accuracy=max:0.99"]) == 0
    assert main(["model", "promote", "iris", "1", "--alias", "champion", "--require", "accuracy"]) == 2
    assert "quote it" in capsys.readouterr().err
    assert main(["model", "rollback", "iris", "--alias", "champion"]) == 0
    assert "Rolled back iris@champion to version 1" in capsys.readouterr().out
    assert main(["model", "versions", "iris", "--format", "html"]) == 2  # text|json only here
    assert main(["model", "versions", "iris", "--json", "--format", "json"]) == 0


def test_cli_top_level(capsys):
    from nbtoolkit.cli import build_parser, main

    assert main([]) == 2
    err = capsys.readouterr().err
    assert "nbt model list|versions" in err and err.count("\n") < 12
    assert main(["--version"]) == 0 and capsys.readouterr().out.strip() == f"nbtoolkit {nbt.__version__}"
    help_text = build_parser().format_help()
    for hidden in ("models", "versions", "promote", "run ", "status", "drift", "validate"):
        assert f"\n    {hidden}" not in help_text  # flat first-release names are hidden aliases
    assert "exit codes" in help_text and "examples" in help_text


def test_cli_parser_errors_are_one_line(capsys):
    """argparse's usage block + error become one line: what was wrong and where to look."""
    from nbtoolkit.cli import main

    cases = [(["model", "promote"], "nbt model promote: the following arguments are required: NAME, VERSION, "
                                    "--alias; see nbt model promote --help."),
             (["modle", "list"], "nbt: unknown command 'modle'. Did you mean 'model'? See nbt --help."),
             (["model", "lst"], "nbt model: unknown action 'lst'. Did you mean 'list'? See nbt model --help.")]
    for argv, line in cases:
        assert main(argv) == 2 and capsys.readouterr().err == line + "\n"
    assert main(["xyz"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Known: abtest, data" in err and "versions" not in err  # hidden names stay hidden


def test_cli_read_only_on_a_fresh_home(tmp_path, monkeypatch):
    env = {**__import__("os").environ, "NBT_HOME": str(tmp_path / "home")}
    env.pop("MLFLOW_TRACKING_URI", None)
    out = nbt_cli("model", "list", env=env)
    assert out.returncode == 0 and out.stderr == ""
    missing = nbt_cli("model", "versions", "iris", env=env)
    assert missing.returncode == 2 and "use %nbt" not in missing.stderr and "nbtoolkit.register()" in missing.stderr
    assert not (tmp_path / "home" / "mlflow.db").exists()


def test_cli_broken_pipe(nbt_home, iris_model):
    nbt.register(iris_model, "m0")
    # as `nbt model list | head -1` when head has gone: the reader end is closed before nbt writes
    proc = subprocess.Popen([sys.executable, "-m", "nbtoolkit.cli", "model", "list"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait() == 0 and "BrokenPipe" not in err and "Traceback" not in err, err


def test_store_sets_no_process_wide_http_settings(nbt_home):
    import os

    from nbtoolkit import store

    before = {k: os.environ.get(k) for k in store.HTTP_SETTINGS}
    store.client().search_registered_models()
    with store.translate_errors():
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == (before["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] or "0")
    assert {k: os.environ.get(k) for k in store.HTTP_SETTINGS} == before
