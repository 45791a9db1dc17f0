"""The ``nbt`` command: parse, call the API, print, exit code.

Commands are grouped by what they act on (:data:`nbtoolkit.commands.GROUPS`)::

    nbt pipeline run|status      nbt model list|versions|promote|rollback|unalias|lineage
    nbt data validate|drift      nbt monitor   nbt abtest   nbt info   (nbt serve, ...)

A CLI command that no group claims (``monitor``, ``abtest``, ``serve`` from
``commands/serving.py``, ...) is a top-level command. The flat names of the first release
(``nbt run``, ``nbt models``, ``nbt drift``, ...) still work as hidden aliases.

Exit codes (SPEC §5): 0 ok; 1 a check failed (drift, gate, alert, failed step); 2 usage error
or bad input. A command's ``run`` returns either an ``int`` (it printed its own output) or a
result object, printed as text or, with ``--format json``, as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .errors import NbtError

EXAMPLES = """\
examples:
  nbt model list
  nbt model promote iris 2 --alias champion --require accuracy:0.9
  nbt data drift today.csv --model iris@champion --fail
  nbt pipeline run pipeline.yaml -p seed 1
  nbt monitor tickets --window 1D --alert "accuracy<0.9"

exit codes: 0 ok; 1 a check failed (drift, gate, alert, failed step); 2 usage error or bad input.
Machine-readable output: --format json on every command.
"""


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        # One line, as every other bad input (argparse prints the usage block first). An unknown
        # command lists the visible ones only (argparse would list the hidden old names too).
        import re

        from .errors import did_you_mean

        wrong = re.match(r"argument (\w+): invalid choice: '(.*)' \(choose from .*\)$", message, re.S)
        if wrong:
            visible = [a.dest for action in self._actions if isinstance(action, argparse._SubParsersAction)
                       for a in action._choices_actions]
            self.exit(2, f"{self.prog}: unknown {wrong[1].lower()} {wrong[2]!r}."
                         f"{did_you_mean(wrong[2], visible, what='Known')} See {self.prog} --help.\n")
        self.exit(2, f"{self.prog}: {message}; see {self.prog} --help.\n")


class _JsonAlias(argparse.Action):
    """The hidden ``--json`` of the first release: ``--format json``."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        namespace.json = True


def _version() -> str:
    from . import __version__

    return f"nbtoolkit {__version__}"


class _Version(argparse.Action):
    """``--version`` without reading package metadata unless asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        print(_version())
        parser.exit(0)


def _add_command(sub: Any, name: str, cmd: Any, *, hidden: bool, prog_name: str) -> None:
    kwargs: dict[str, Any] = {"description": cmd.help, "epilog": _epilog(cmd.name, prog_name)}
    if not hidden:
        kwargs["help"] = cmd.help
    p = sub.add_parser(name, **kwargs)
    cmd.configure(p)
    dests = {a.dest for a in p._actions}
    if "format" not in dests:
        p.add_argument("--format", choices=("text", "json"), default="text",
                       help="output format (default text)")
    if "json" not in dests:
        p.add_argument("--json", action=_JsonAlias, dest="json", default=False, help=argparse.SUPPRESS)
    p.set_defaults(_command=cmd, _name=prog_name, _legacy=hidden)


# Every command's --help ends with examples and what its exit codes mean (a test parses each
# example with the real parser, so they cannot drift from the flags). Keyed by command name.
COMMAND_HELP: dict[str, tuple[tuple[str, ...], str | None]] = {
    "models": (("nbt model list", "nbt model list --format json"), None),
    "versions": (("nbt model versions iris", "nbt model versions iris --format json"), None),
    "promote": (("nbt model promote iris 3 --alias champion --require accuracy:0.9",
                 "nbt model promote iris 3 --alias champion --require log_loss=max:0.3 --require 'f1>=0.8'"),
                "a --require gate does not hold (the alias stays where it was)"),
    "rollback": (("nbt model rollback iris --alias champion",), None),
    "unalias": (("nbt model unalias iris --alias challenger",), None),
    "sign": (("nbt model sign iris/3",
              "nbt model sign iris@champion --key nbt-signing.pem"), None),
    "verify": (("nbt model verify iris/3 --key nbt-signing.pub",
                "nbt model verify iris@champion --format json   # keys from NBT_TRUSTED_KEYS"),
               "the version is not signed, was signed by a key not trusted, or changed since it was signed"),
    "lineage": (("nbt model lineage iris@champion", "nbt model lineage iris/3 --format json"), None),
    "drift": (("nbt data drift today.csv --model iris@champion --fail",
               "nbt data drift today.csv --model iris@champion --no-predictions   # profile only, no model load",
               "nbt data drift today.csv --reference train.parquet --drift-share 0.3 --format json"),
              "with --fail, the dataset drifted"),
    "validate": (("nbt data validate today.csv --model iris@champion --fail",
                  "nbt data validate today.csv --reference train.csv --max-age 2D --timestamp ts"),
                 "with --fail, the data contract is broken"),
    "quality": (("nbt data quality today.parquet --reference train.parquet --chunk-size 5000 --fail",
                 "nbt data quality today.csv --reference train.csv --window 1D --timestamp ts --format json"),
                "with --fail, a chunk left a limit"),
    "run": (("nbt pipeline run pipeline.yaml",
             "nbt pipeline run pipeline.yaml -p seed 1 -f params.yaml --step train --force",
             "nbt pipeline run pipeline.yaml -k python3 --jobs 2"),
            "a step failed (the message names the step, the cell and the executed notebook)"),
    "status": (("nbt pipeline status pipeline.yaml", "nbt pipeline status pipeline.yaml --format json"), None),
    "export": (("nbt pipeline export pipeline.yaml --to dagster --every 1h",
                "nbt pipeline export pipeline.yaml --to cron --every 15m --output deploy/"), None),
    "watch": (("nbt pipeline watch pipeline.yaml --every 10m",
               "nbt pipeline watch pipeline.yaml --every 1h --ticks 24"),
              "a run failed (each tick runs on; 130 after Ctrl-C)"),
    "monitor": (("nbt monitor tickets --window 1D --alert 'accuracy<0.9'",
                 "nbt monitor tickets --window 7D --alert 'human_share>0.3' --webhook https://hooks.example/nbt"),
                "an alert fired"),
    "abtest": (("nbt abtest tickets", "nbt abtest tickets --champion champion --challenger challenger --apply"),
               None),
    "serve": (("nbt serve tickets --port 8080", "nbt serve tickets --traffic 0.1 --alert 'accuracy<0.9'"), None),
    "info": (("nbt info", "nbt info --format json"), None),
    "estimate": (("nbt estimate today.csv --reference labelled.csv --target y --prediction pred --proba proba",
                  ("nbt estimate today.csv --reference labelled.csv --target y --prediction pred "
                   "--proba no=p0,yes=p1 --chunk-size 500 --fail")),
                 "with --fail, an estimate left its alert limits"),
}


def _epilog(name: str, prog_name: str) -> str:
    examples, fails = COMMAND_HELP.get(name, ((), None))
    lines = ["examples:", *(f"  {e}" for e in examples)] if examples else []
    lines += ["", "exit codes:", "  0    ok", *([f"  1    {fails}"] if fails else []),
              "  2    usage error or bad input (nothing was written)", "  130  interrupted (Ctrl-C)",
              "", f"machine-readable output: nbt {prog_name} ... --format json"]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    from .commands import GROUPS, cli_commands

    commands = cli_commands()
    parser = _Parser(prog="nbt", description="nbtoolkit: production ML from the notebook.",
                     epilog=EXAMPLES)
    parser.add_argument("--version", action=_Version, help="print the nbtoolkit version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    grouped: set[str] = set()
    for group, members in GROUPS.items():
        present = {verb: commands[name] for verb, name in members.items() if name in commands}
        if not present:
            continue
        first = [COMMAND_HELP[c.name][0][0] for c in present.values() if c.name in COMMAND_HELP]
        gp = sub.add_parser(group, help=f"{' | '.join(present)}", description=GROUP_HELP.get(group),
                            epilog="\n".join(["examples:", *(f"  {e}" for e in first), "",
                                               f"exit codes: see nbt {group} ACTION --help"]))
        gsub = gp.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser, required=True)
        for verb, cmd in present.items():
            _add_command(gsub, verb, cmd, hidden=False, prog_name=f"{group} {verb}")
            grouped.add(cmd.name)
    for name, cmd in sorted(commands.items()):
        if name in grouped:  # first-release flat name: hidden alias (messages say what was typed)
            _add_command(sub, name, cmd, hidden=True, prog_name=name)
        else:
            _add_command(sub, name, cmd, hidden=False, prog_name=name)
    info = sub.add_parser("info", help="where nbtoolkit stores things (home, tracking URI, ...)",
                          description="Where nbtoolkit stores things: home, tracking URI, prediction log.",
                          epilog=_epilog("info", "info"))
    info.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    info.add_argument("--json", action=_JsonAlias, dest="json", default=False, help=argparse.SUPPRESS)
    info.set_defaults(_command=None, _name="info")
    return parser


GROUP_HELP = {
    "model": "The model registry: list models, a model's versions, move aliases, lineage.",
    "data": "Data checks on CSV / Parquet files: the data contract and drift.",
    "pipeline": "Notebooks as pipeline steps: run a pipeline file, show its last run.",
}


def _group_of(name: str) -> tuple[str, str]:
    from .commands import GROUPS

    for group, members in GROUPS.items():
        for verb, cmd_name in members.items():
            if cmd_name == name:
                return group, verb
    return name, ""


def _quiet_mlflow() -> None:
    """The CLI prints answers, not MLflow's INFO chatter (DB migrations, run links)."""
    import logging

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _short_usage(parser: argparse.ArgumentParser) -> str:
    from .commands import GROUPS

    lines = [parser.format_usage().rstrip(), "", "commands:"]
    for group, members in GROUPS.items():
        lines.append(f"  nbt {group} {'|'.join(members)}")
    lines += ["  nbt monitor | abtest | info ...", "", "nbt --help for details; nbt COMMAND --help for one command."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # `nbt model list | head -1`: the reader went away; not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def run() -> None:
    """The ``nbt`` console script: :func:`main`, then exit without tearing the interpreter down.

    The command's work is done and written by then; what is left is Python's finalisation of every
    module a command imported (MLflow, pandas, scikit-learn ...): ~1 s of clearing module dicts and
    collecting garbage that nobody waits for. So the streams are flushed and the ``atexit`` handlers
    run (logging, temporary folders, multiprocessing) as at a normal exit, then the process ends.
    A command that left a non-daemon thread running exits the normal way.
    """
    import atexit
    import threading

    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    atexit._run_exitfuncs()  # the public hooks of a normal exit, in their order
    os._exit(code)


def _main(argv: Sequence[str] | None) -> int:
    from .commands import Context
    from .errors import NbtError

    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print(_short_usage(parser), file=sys.stderr)
        return 2
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors (already printed)
        return exc.code if isinstance(exc.code, int) else 2
    if getattr(args, "json", False):
        if args.format not in ("text", "json"):
            parser.error(f"--json and --format {args.format} disagree; give --format once")
        args.format = "json"
    name = getattr(args, "_name", args.command)
    if args.command == "info":
        from . import config

        described = config.describe()
        if args.format == "json":
            print(json.dumps(described, indent=2))
        else:
            for key, value in described.items():
                print(f"{key:16} {value}")
        return 0
    _quiet_mlflow()
    import warnings

    warnings.formatwarning = lambda message, *a, **k: f"nbt {name}: warning: {message}\n"  # one line
    try:
        result = args._command.run(args, Context())
    except NbtError as exc:
        print(f"nbt {name}: {_for_cli(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if isinstance(result, int) and not isinstance(result, bool):
        return result
    _print(result, fmt=args.format)
    return 0


def _for_cli(exc: NbtError) -> str:
    """The message as the CLI spells it: parameters as flags (``--columns a,b``), subcommands as
    ``nbt GROUP VERB`` (a magic-only one as ``nbtoolkit.X()``)."""
    from .commands import cli_commands
    from .errors import Cmd
    from .vocabulary import flag

    commands = cli_commands()

    def command(cmd: Cmd) -> str:
        if cmd.name in commands:
            group, verb = _group_of(cmd.name)
            return f"nbt {group} {verb}".rstrip()
        return f"nbtoolkit.{cmd.name}() in Python (%nbt {cmd.name} in a notebook)"

    return exc.render(arg=flag, cmd=command)


def _print(result: Any, *, fmt: str) -> None:
    if result is None:
        return
    if fmt == "json" and hasattr(result, "to_dict"):
        from .reports.base import json_default

        print(json.dumps(result.to_dict(), indent=2, default=json_default))  # numbers stay numbers
    else:
        print(str(result))


if __name__ == "__main__":  # pragma: no cover
    run()
