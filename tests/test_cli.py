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
