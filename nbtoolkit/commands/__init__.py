"""Subcommands of ``%nbt`` (and the ``nbt`` CLI), routed to plain functions.

Each module in :data:`MODULES` defines ``MAGIC_COMMANDS`` (and optionally ``CLI_COMMANDS``): a
tuple of :class:`Command`. A command adds its arguments to an :class:`ArgumentParser` and runs
with the parsed arguments and a :class:`Context`; it parses, calls one API function and returns
the result. These modules import only the standard library at import time, so ``%nbt help`` and
``%load_ext`` stay fast; the API is imported inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadInput, VariableNotFound, did_you_mean

MODULES = ("registry", "data", "evaluation", "pipeline", "monitoring", "serving", "estimation", "quality")

# CLI groups: group -> {verb: command name}. A CLI command no group names is top-level
# (monitor, abtest, serve); a grouped command's own name stays a hidden alias (nbt models).
GROUPS: dict[str, dict[str, str]] = {
    "pipeline": {"run": "run", "status": "status", "export": "export", "watch": "watch"},
    "model": {"list": "models", "versions": "versions", "promote": "promote", "rollback": "rollback",
              "unalias": "unalias", "lineage": "lineage", "sign": "sign", "verify": "verify"},
    "data": {"validate": "validate", "drift": "drift", "quality": "quality"},
}
# The same grouping for magics (%nbt model list, %nbt data drift); %nbt pipeline is a command.
MAGIC_GROUPS: dict[str, dict[str, str]] = {g: m for g, m in GROUPS.items() if g != "pipeline"}


class HelpShown(Exception):
    """Raised instead of ``sys.exit(0)`` after ``--help`` printed usage."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises instead of exiting (a magic must never exit the kernel)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("add_help", True)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        usage = self.format_usage().strip().removeprefix("usage: ")
        raise BadInput(f"{self.prog}: {message}. Usage: {usage}")

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        if status:
            raise BadInput((message or f"{self.prog}: error").strip())
        raise HelpShown(self.format_help())

    def print_help(self, file: Any = None) -> None:
        raise HelpShown(self.format_help())


@dataclass
class Context:
    """What a command may touch: the user's namespace, the cell body, display."""

    user_ns: Mapping[str, Any] = field(default_factory=dict)
    cell: str | None = None
    shell: Any = None
    display: Callable[[Any], None] = lambda obj: None

    def var(self, name: str, *, what: str = "variable") -> Any:
        """Look up a notebook variable by name; attribute access (``df.x``) is allowed."""
        head, *rest = name.split(".")
        if head not in self.user_ns:
            known = [k for k in self.user_ns if not k.startswith("_") and k not in _IPYTHON_NAMES]
            raise VariableNotFound(
                f"No {what} named {name!r} in the notebook." + (did_you_mean(head, known) or
                                                                 " Define it in a cell first.")
            )
        value = self.user_ns[head]
        for attr in rest:
            try:
                value = getattr(value, attr)
            except AttributeError:
                raise VariableNotFound(f"{head!r} has no attribute {attr!r} (in {name!r}).") from None
        return value


_IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Context], Any]
    usage: str | None = None
    # > 0: the line is split on whitespace into at most raw + 1 words (the last keeps its quotes),
    # for commands whose last argument is Python source (%nbt record NAME EXPR)
    raw: int = 0

    def parser(self, prog_prefix: str = "%nbt") -> ArgumentParser:
        # argparse %-formats a usage string: '%nbt record' would be read as a format directive
        usage = re.sub(r"%(?!\(prog\)s)", "%%", self.usage) if self.usage else None
        p = ArgumentParser(prog=f"{prog_prefix} {self.name}", description=self.help, usage=usage)
        self.configure(p)
        return p


def magic_commands() -> dict[str, Command]:
    """All ``%nbt`` subcommands by name (modules not yet written are skipped)."""
    return _collect("MAGIC_COMMANDS")


def cli_commands() -> dict[str, Command]:
    return _collect("CLI_COMMANDS")


def _collect(attr: str) -> dict[str, Command]:
    found: dict[str, Command] = {}
    for mod in MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{mod}":
                continue
            raise
        for cmd in getattr(module, attr, ()):
            found[cmd.name] = cmd
    return found


# ------------------------------------------------------------------ shared argument helpers
def require_signature_option(p: argparse.ArgumentParser) -> None:
    """``--require-signature`` on a command that reads a version (load, evaluate, drift, serve)."""
    p.add_argument("--require-signature", action="store_true",
                   help="refuse a version that is not signed by a key in NBT_TRUSTED_KEYS, or that changed "
                        "since it was signed (always on when NBT_TRUSTED_KEYS is set)")


def signature_setting(args: argparse.Namespace) -> Any:
    """The block a command runs in: a signature required when ``--require-signature`` was given."""
    import contextlib

    from .. import config

    if getattr(args, "require_signature", False):
        return config.overrides(require_signature=True)
    return contextlib.nullcontext()


def parse_kv(pairs: Iterable[str] | None, *, what: str = "value", flag: str = "") -> dict[str, str]:
    """``['a=1', 'b=x']`` → ``{'a': '1', 'b': 'x'}``; malformed or duplicate keys raise BadInput."""
    out: dict[str, str] = {}
    for item in pairs or ():
        key, sep, value = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise BadInput(f"Malformed {what} {item!r}{' for ' + flag if flag else ''}; write key=value.")
        if key in out:
            raise BadInput(f"Duplicate {what} {key!r}{' for ' + flag if flag else ''}; give each key once.")
        out[key] = value
    return out


def parse_scalar(text: str) -> Any:
    """A ``-p k=v`` value: JSON when it parses as a number/bool/null/list/dict, else the string."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if not isinstance(value, str) else text


def parse_metrics(pairs: Iterable[str] | None) -> dict[str, float]:
    out = {}
    for key, value in parse_kv(pairs, what="metric", flag="--metric").items():
        try:
            out[key] = float(value)
        except ValueError:
            raise BadInput(f"Metric {key!r} must be a number, got {value!r} (--metric {key}={value}).") from None
    return out
