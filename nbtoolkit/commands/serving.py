"""``nbt serve NAME`` (foreground, until SIGTERM) and ``%nbt serve NAME --background`` (a child process)."""

from __future__ import annotations

import argparse
from typing import Any

from . import Command, Context, require_signature_option


def _serve_args(p: argparse.ArgumentParser) -> None:
    """The options, one per field of :class:`~nbtoolkit.serving.settings.ServeSettings` that has a flag."""
    from ..serving.settings import add_arguments

    add_arguments(p, shared={"--require-signature": require_signature_option})


def _serve_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    from ..serving.settings import from_namespace

    return from_namespace(args)


def _serve_cli(args: argparse.Namespace, ctx: Context) -> Any:
    from ..serving import serve

    return serve(**_serve_kwargs(args))


def _serve_magic_args(p: argparse.ArgumentParser) -> None:
    _serve_args(p)
    p.add_argument("--background", action="store_true",
                   help="run the server as a separate process for this session and return its handle")


def _serve_magic(args: argparse.Namespace, ctx: Context) -> Any:
    from ..errors import BadInput
    from ..serving import serve

    if not args.background:
        raise BadInput(f"%nbt serve {args.name} would block the kernel; add --background to run the server "
                       f"next to the notebook (or run `nbt serve {args.name}` in a terminal).")
    return serve(background=True, **_serve_kwargs(args))


_HELP = ("Serve NAME@champion (and @challenger for --traffic of ids) over HTTP: MLflow scoring protocol on "
         "/invocations, /outcomes, /health, /metrics; aliases move live; every prediction logged.")

MAGIC_COMMANDS = (Command("serve", _HELP + " Needs --background in a notebook.", _serve_magic_args, _serve_magic),)
CLI_COMMANDS = (Command("serve", _HELP + " Runs until SIGTERM / Ctrl-C (the log is drained first).",
                        _serve_args, _serve_cli),)
