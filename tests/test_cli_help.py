"""Every ``nbt`` command's --help ends with examples and its exit codes, and every example parses
with the real parser into that same command (so the examples cannot drift from the flags)."""

from __future__ import annotations

import shlex

import pytest

from nbtoolkit.cli import COMMAND_HELP, build_parser, main
from nbtoolkit.commands import GROUPS, cli_commands


def _paths() -> list[tuple[str, list[str]]]:
    """(command name, argv prefix) of every visible command: grouped verbs, top-level, info."""
    grouped = {name: [group, verb] for group, members in GROUPS.items() for verb, name in members.items()}
    return [(name, grouped.get(name, [name])) for name in sorted(cli_commands())] + [("info", ["info"])]


def test_every_command_has_examples_in_the_table():
    assert sorted(COMMAND_HELP) == sorted([*cli_commands(), "info"])


@pytest.mark.parametrize(("name", "path"), _paths(), ids=[n for n, _ in _paths()])
def test_help_shows_examples_and_exit_codes(name, path, capsys):
    assert main([*path, "--help"]) == 0
    text = capsys.readouterr().out
    examples = text.split("\nexamples:\n")[1].split("\n\n")[0].splitlines()
    assert examples and all(line.startswith(f"  nbt {' '.join(path)}") for line in examples), text
    codes = text.split("\nexit codes:\n")[1]
    assert "  0    ok" in codes and "  2    usage error or bad input" in codes
    fails = COMMAND_HELP[name][1]
    assert (f"  1    {fails}" in codes) if fails else ("  1 " not in codes)


@pytest.mark.parametrize("name", sorted(COMMAND_HELP))
def test_examples_parse_into_their_command(name):
    parser = build_parser()
    for example in COMMAND_HELP[name][0]:
        argv = shlex.split(example, comments=True)
        assert argv[0] == "nbt"
        args = parser.parse_args(argv[1:])
        assert (args.command == "info") if name == "info" else (args._command.name == name), example
