"""The one exception tree of nbtoolkit.

::

    NbtError                                 base: a user-facing problem, one clear sentence
    ├── BadInput(NbtError, ValueError)       malformed data, arguments, files, k=v pairs, REFs
    │   ├── NotFitted(BadInput)              an estimator that was never fitted
    │   └── ContractViolation(BadInput)      data broke its contract (validate --fail)
    ├── NotFound(NbtError, LookupError)      something named does not exist
    │   ├── ModelNotFound(NotFound)          unknown model / version / alias
    │   └── VariableNotFound(NotFound)       unknown notebook variable
    ├── GateFailed(NbtError)                 a promotion gate did not hold
    ├── CheckFailed(NbtError, AssertionError) a check failed on purpose (drift --fail, alerts)
    ├── IntegrityError(NbtError)             a stored artefact changed since it was registered
    ├── StoreUnavailable(NbtError, ConnectionError)  tracking server / database unreachable
    ├── PermissionDenied(NbtError, PermissionError)  the tracking server refused the user (auth)
    └── StepFailed(NbtError, RuntimeError)   a pipeline step failed

Magics turn any ``NbtError`` into a one-line ``UsageError``; the CLI prints it and exits with
code 1 for :class:`CheckFailed`, :class:`GateFailed` and :class:`StepFailed`, 2 otherwise.
Anything that is not an ``NbtError`` is a bug and keeps its traceback.

Every message is one line on every surface: ``str(error)`` folds whitespace and cuts a quoted value
longer than :data:`ECHO_LIMIT` characters (a 5,000-character name is echoed as its first 80
characters and ``...``), so the message stays readable whatever the user passed.

A message that tells the user what to pass or run names it as a structured word, not as text:
:func:`say` joins text with an :class:`Arg` (a parameter: ``columns=[...]`` in Python, ``--columns
a,b`` on a magic or the CLI, the flag taken from :data:`nbtoolkit.vocabulary.FLAGS`) or a
:class:`Cmd` (a subcommand: ``%nbt promote`` in a notebook, ``nbt model promote`` on the CLI).
``str(error)`` is the Python spelling; each surface calls :meth:`NbtError.render` with its own.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

ECHO_LIMIT = 80  # characters of an echoed value kept in a message
# a quoted value (as !r writes it) or a bare token too long to be read in one line
# (an opening quote follows a space, a bracket, '=', ':' or the start: never a closing quote)
_QUOTED, _BARE = ECHO_LIMIT + 1, 3 * ECHO_LIMIT + 1
_LONG_VALUE = re.compile(rf"(?<![^\s(\[{{=:])(?:'(?:[^'\\]|\\.){{{_QUOTED},}}'|\"(?:[^\"\\]|\\.){{{_QUOTED},}}\")"
                         rf"|\S{{{_BARE},}}")


def one_line(message: str) -> str:
    """``message`` on one line, each echoed value cut to :data:`ECHO_LIMIT` characters."""
    return _LONG_VALUE.sub(_cut_match, " ".join(str(message).split()))


def _cut_match(m: re.Match[str]) -> str:
    text = m.group(0)
    quote = text[0] if text[0] in "'\"" and text[-1] == text[0] and len(text) > 1 else ""
    inner = text[1:-1] if quote else text
    limit = ECHO_LIMIT if quote else 3 * ECHO_LIMIT
    return f"{quote}{inner[:limit - 3]}...{quote} ({len(inner)} characters)"


@dataclass(frozen=True)
class Arg:
    """A parameter a message tells the user to pass; ``example`` follows ``name=`` in Python."""

    name: str  # the API keyword: "columns", "chunk_number"
    example: str = ""  # "[...]", "DataFrame", "'NAME@alias'"

    def python(self) -> str:
        return f"{self.name}={self.example}"


@dataclass(frozen=True)
class Cmd:
    """A subcommand a message tells the user to run (its arguments follow as text)."""

    name: str  # the magic's name: "promote", "register"

    def magic(self) -> str:
        return f"%nbt {self.name}"


@dataclass(frozen=True)
class Text:
    """A message of text and the words each surface spells its own way (:func:`say` builds one)."""

    parts: tuple[str | Arg | Cmd, ...]

    def render(self, arg: Callable[[Arg], str] = Arg.python, cmd: Callable[[Cmd], str] = Cmd.magic) -> str:
        return "".join(arg(p) if isinstance(p, Arg) else cmd(p) if isinstance(p, Cmd) else p for p in self.parts)

    def __str__(self) -> str:
        return self.render()


def say(*parts: str | Arg | Cmd) -> Text:
    """A message naming parameters and subcommands as words: ``say("pass ", Arg("columns", "[...]"), ".")``."""
    return Text(parts)


class NbtError(Exception):
    """Base class of every error nbtoolkit raises on purpose.

    Its message is a string or a :class:`Text`; :attr:`params` names the parameters it tells the
    user to pass, and :meth:`render` spells them (and the subcommands it names) for one surface.
    """

    exit_code = 2

    def __str__(self) -> str:
        return self.render()

    @property
    def message(self) -> str | Text:
        return self.args[0] if len(self.args) == 1 and isinstance(self.args[0], Text) else (
            str(self.args[0]) if len(self.args) == 1 else super().__str__())

    @property
    def parts(self) -> tuple[str | Arg | Cmd, ...]:
        """The message as parts, for a message that quotes this one: ``say("...: ", *exc.parts)``."""
        text = self.message
        return text.parts if isinstance(text, Text) else (text,)

    @property
    def params(self) -> tuple[str, ...]:
        """The API keywords this message tells the user to pass (empty when it names none)."""
        return tuple(p.name for p in self.parts if isinstance(p, Arg))

    def render(self, arg: Callable[[Arg], str] = Arg.python, cmd: Callable[[Cmd], str] = Cmd.magic) -> str:
        """The one-line message with parameters spelled by ``arg`` and subcommands by ``cmd``."""
        text = self.message
        return one_line(text.render(arg, cmd) if isinstance(text, Text) else text)


class BadInput(NbtError, ValueError):
    """The input was malformed: say what, show the value, say what is valid."""


class NotFitted(BadInput):
    """An estimator was passed before it was fitted."""


class ContractViolation(BadInput):
    """Data broke its contract; ``report`` holds the full validation report."""

    exit_code = 1

    def __init__(self, message: str | Text, report: object = None) -> None:
        super().__init__(message)
        self.report = report


class NotFound(NbtError, LookupError):
    """Something named does not exist."""

    def __str__(self) -> str:  # LookupError would quote the message; keep it plain
        return self.render() if self.args else ""


class ModelNotFound(NotFound):
    """Unknown registered model, version or alias."""


class VariableNotFound(NotFound):
    """A notebook variable named in a magic does not exist."""


class GateFailed(NbtError):
    """A promotion gate did not hold; the alias was not moved."""

    exit_code = 1


class CheckFailed(NbtError, AssertionError):
    """A check failed on purpose (drift with ``--fail``, an alert that fired)."""

    exit_code = 1

    def __init__(self, message: str | Text, report: object = None) -> None:
        super().__init__(message)
        self.report = report


class IntegrityError(NbtError):
    """A stored model artefact no longer matches the sha256 recorded at registration."""


class StoreUnavailable(NbtError, ConnectionError):
    """The tracking server or database could not be reached."""


class PermissionDenied(NbtError, PermissionError):
    """A tracking server with authentication refused the request: the credentials were not
    accepted, or the user lacks the permission (READ / EDIT / MANAGE) the action needs."""


class StepFailed(NbtError, RuntimeError):
    """A pipeline step failed."""

    exit_code = 1


def did_you_mean(value: str, known: Iterable[str], *, what: str = "Known") -> str:
    """Return ``" Did you mean 'x'?"`` or ``" Known: a, b."`` for an error message."""
    known = sorted({str(k) for k in known})
    # difflib is quadratic in the length: a 10k-character value would take minutes to compare
    close = difflib.get_close_matches(str(value), [k for k in known if len(k) <= 200], n=3) \
        if len(str(value)) <= 200 else []
    if close:
        return " Did you mean " + " or ".join(repr(c) for c in close) + "?"
    if not known:
        return ""
    shown = ", ".join(k if len(k) <= ECHO_LIMIT else k[:ECHO_LIMIT - 3] + "..." for k in known[:12])
    shown += ", ..." if len(known) > 12 else ""
    return f" {what}: {shown}."
