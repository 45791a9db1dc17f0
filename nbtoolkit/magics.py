"""The ``%nbt`` line magic and ``%%nbt`` cell magic: parse, call the API, return the result.

``Nbt`` is also the traitlets configurable behind ``%config Nbt.tracking_uri = ...``.
"""

from __future__ import annotations

import shlex
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from traitlets import Bool, Float, Unicode, Union

from . import config
from .errors import NbtError


class HelpText(str):
    """Help output: shown as plain text, returned so tests can read it."""

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))


@magics_class
class Nbt(Magics):
    """nbtoolkit: production ML from the notebook. ``%nbt help`` lists subcommands."""

    tracking_uri = Unicode("", help="MLflow tracking URI (wins over MLFLOW_TRACKING_URI).").tag(config=True)
    registry_uri = Unicode("", help="MLflow registry URI (default: the tracking URI).").tag(config=True)
    experiment = Unicode("", help="MLflow experiment for runs logged from this notebook.").tag(config=True)
    predictions_url = Unicode("", help="SQLAlchemy URL of the prediction log.").tag(config=True)
    drift_share = Float(None, allow_none=True,
                        help="Default share of drifted columns that makes a dataset drift (--drift-share)."
                        ).tag(config=True)
    drift_threshold = Float(None, allow_none=True, help="Old name of drift_share.").tag(config=True)
    require_signature = Bool(False, help="Refuse model versions that are not signed by a key in NBT_TRUSTED_KEYS "
                                         "(--require-signature on every command).").tag(config=True)
    widgets = Union([Bool(), Unicode()], default_value="auto",
                    help="Show results as widgets: True, False or 'auto' (in Jupyter, not in pipeline "
                         "steps). NBT_WIDGETS does the same from the environment.").tag(config=True)

    @line_cell_magic
    def nbt(self, line: str, cell: str | None = None) -> Any:
        """Run an nbtoolkit subcommand: ``%nbt SUBCOMMAND ...`` (``%nbt help`` lists them).

        Models are ``NAME`` (latest), ``NAME/3`` or ``NAME@alias``; data and models are named by
        their notebook variables. Every subcommand returns its result (``r = %nbt drift ...``).

        Examples::

            %nbt register clf --name iris --data X y        # a new version, with its data profile
            %nbt evaluate iris/1 X_test y_test --log        # metrics, logged for promotion gates
            %nbt promote iris 1 --alias champion --require accuracy:0.9
            %nbt drift X_new --model iris@champion --fail   # also: %nbt data drift ...
            %nbt models / %nbt versions iris / %nbt lineage iris@champion
            %nbt pipeline run pipeline.yaml -p seed 1
            %%nbt track --experiment tuning                 # (cell magic) an MLflow run for the cell

        ``%nbt help SUB`` or ``%nbt SUB --help`` shows one subcommand's flags. Settings:
        ``%config Nbt.tracking_uri``, ``Nbt.experiment``, ``Nbt.predictions_url``, ``Nbt.drift_share``,
        ``Nbt.widgets``, ``Nbt.require_signature``. A user error prints one line and writes nothing.
        """
        try:
            with config.overrides(**self._settings()):
                return dispatch(line, cell=cell, user_ns=self.shell.user_ns if self.shell else {},
                                shell=self.shell)
        except NbtError as exc:
            raise UsageError(_one_line(exc)) from None

    def _settings(self) -> dict[str, Any]:
        ns = self.shell.user_ns if self.shell else {}
        notebook = ns.get("__session__") or ns.get("__vsc_ipynb_file__") or None
        return {
            "tracking_uri": self.tracking_uri or None,
            "registry_uri": self.registry_uri or None,
            "experiment": self.experiment or None,
            "predictions_url": self.predictions_url or None,
            "drift_threshold": self.drift_share if self.drift_share is not None else self.drift_threshold,
            "notebook_path": notebook if isinstance(notebook, str) else None,
            "require_signature": self.require_signature or None,
        }


def _one_line(exc: NbtError) -> str:
    from .vocabulary import flag

    return exc.render(arg=flag) or type(exc).__name__  # a magic takes flags, not arguments


def dispatch(line: str, *, cell: str | None = None, user_ns: Any = None, shell: Any = None) -> Any:
    """Route ``SUBCOMMAND args...`` to its command; usable without a shell (tests, scripts)."""
    from .commands import MAGIC_GROUPS, Context, HelpShown, magic_commands
    from .errors import BadInput, did_you_mean

    commands = magic_commands()
    first, _, remainder = line.strip().partition(" ")
    if first in commands and commands[first].raw:  # takes Python source: no shell-style splitting
        argv = [first, *remainder.strip().split(None, commands[first].raw)]
    else:
        try:
            argv = shlex.split(line, posix=True)
        except ValueError as exc:
            raise BadInput(f"Cannot parse {line!r}: {exc}; check the quotes.") from None
    if not argv or argv[0] in {"help", "-h", "--help"}:
        if len(argv) > 1:
            return _help_for(argv[1], commands)
        return HelpText(_overview(commands))
    name, rest = argv[0], argv[1:]
    if name in MAGIC_GROUPS and rest and rest[0] in MAGIC_GROUPS[name]:  # %nbt model list == %nbt models
        name, rest = MAGIC_GROUPS[name][rest[0]], rest[1:]
    if name not in commands:
        raise BadInput(f"Unknown subcommand {name!r}." + did_you_mean(name, commands, what="Subcommands")
                       + " See %nbt help.")
    cmd = commands[name]
    try:
        args = cmd.parser().parse_args(rest)
    except HelpShown as shown:
        return HelpText(shown.text)
    ctx = Context(user_ns=user_ns if user_ns is not None else {}, cell=cell, shell=shell,
                  display=_display)
    return cmd.run(args, ctx)


def _display(obj: Any) -> None:
    from IPython.display import display

    display(obj)


def _help_for(name: str, commands: dict[str, Any]) -> HelpText:
    from .errors import BadInput, did_you_mean

    if name not in commands:
        raise BadInput(f"Unknown subcommand {name!r}." + did_you_mean(name, commands, what="Subcommands"))
    return HelpText(commands[name].parser().format_help())


def _overview(commands: dict[str, Any]) -> str:
    width = max(len(n) for n in commands) if commands else 10
    lines = ["%nbt SUBCOMMAND ... — nbtoolkit subcommands:", ""]
    lines += [f"  {n.ljust(width)}  {c.help}" for n, c in sorted(commands.items())]
    lines += ["", "%nbt help SUB or %nbt SUB --help shows a subcommand's usage.",
              "Models are referenced as NAME (latest), NAME/3 (version 3) or NAME@alias."]
    return "\n".join(lines)
