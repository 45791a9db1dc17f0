"""The ``nbt`` command: parse, call the API, print, exit code.

Exit codes (SPEC §5): 0 ok; 1 a check failed (drift, gate, alert, failed step); 2 usage error
or bad input. A command's ``run`` returns either an ``int`` (it printed its own output) or a
result object, printed as text (or JSON with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from .commands import cli_commands

    parser = _Parser(prog="nbt", description="nbtoolkit: production ML from the notebook.")
    parser.add_argument("--version", action="version", version=f"nbtoolkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, cmd in sorted(cli_commands().items()):
        p = sub.add_parser(name, help=cmd.help, description=cmd.help)
        cmd.configure(p)
        if not any(a.dest == "json" for a in p._actions):
            p.add_argument("--json", action="store_true", help="print the result as JSON")
        p.set_defaults(_command=cmd)
    info = sub.add_parser("info", help="Show where nbtoolkit stores things (home, tracking URI, ...).")
    info.set_defaults(_command=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from .commands import Context
    from .errors import NbtError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    if args.command == "info":
        from . import config

        for key, value in config.describe().items():
            print(f"{key:16} {value}")
        return 0
    try:
        result = args._command.run(args, Context())
    except NbtError as exc:
        print(f"nbt {args.command}: {' '.join(str(exc).split())}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if isinstance(result, int) and not isinstance(result, bool):
        return result
    _print(result, as_json=getattr(args, "json", False))
    return 0


def _print(result: Any, *, as_json: bool) -> None:
    if result is None:
        return
    if as_json and hasattr(result, "to_dict"):
        print(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        print(str(result))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
