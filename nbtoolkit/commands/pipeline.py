"""``%nbt record``, ``%nbt pipeline run|status`` and the ``nbt run`` / ``nbt status`` commands."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from . import Command, Context, parse_kv, parse_scalar


# ----------------------------------------------------------------------------- record
def _record_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="output name; needing steps read upstream[STEP][NAME]")
    p.add_argument("expr", metavar="EXPR", nargs=argparse.REMAINDER,
                   help="Python expression evaluated in the notebook (default: the variable NAME)")


def _record(args: argparse.Namespace, ctx: Context) -> Any:
    from ..errors import BadInput
    from ..pipeline import record

    source = " ".join(args.expr).strip() or args.name
    try:
        namespace = ctx.user_ns if isinstance(ctx.user_ns, dict) else dict(ctx.user_ns)
        value = eval(compile(source, "<%nbt record>", "eval"), namespace)  # noqa: S307 - the user's own code
    except SyntaxError as exc:
        raise BadInput(f"Cannot parse {source!r} for %nbt record: {exc.msg}; give a Python expression.") from None
    except Exception as exc:
        raise BadInput(f"Evaluating {source!r} for %nbt record failed: {type(exc).__name__}: {exc}.") from None
    return record(args.name, value)


# ----------------------------------------------------------------------------- run / status
def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="PIPELINE.yaml", help="the pipeline file")
    p.add_argument("-p", "--parameter", dest="parameters", action="append", metavar="k=v",
                   help="parameter override, JSON-typed (repeatable); STEP.k=v targets one step")
    p.add_argument("--step", dest="steps", action="append", metavar="S",
                   help="run step S and the steps that depend on it (repeatable)")
    p.add_argument("--force", action="store_true", help="rerun steps even when they are cached")
    p.add_argument("--jobs", type=_positive_int, default=None, metavar="N",
                   help="steps that may run at once (default 1)")
    p.add_argument("--executor", choices=("local", "dask"), default="local",
                   help="local processes or a Dask distributed cluster")
    p.add_argument("--scheduler", metavar="ADDR", help="Dask scheduler address, e.g. tcp://host:8786 "
                   "(default with --executor dask: a LocalCluster on 127.0.0.1)")
    p.add_argument("--secret", dest="secrets", action="append", metavar="k=v",
                   help="parameter given through the environment, never written down (repeatable)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def _options(args: argparse.Namespace) -> dict[str, Any]:
    params = {k: parse_scalar(v) for k, v in parse_kv(args.parameters, what="parameter", flag="-p").items()}
    return {"parameters": params, "steps": args.steps, "force": args.force, "jobs": args.jobs,
            "executor": args.executor, "scheduler": args.scheduler,
            "secrets": parse_kv(args.secrets, what="secret", flag="--secret")}


def _cli_run(args: argparse.Namespace, ctx: Context) -> Any:
    from ..pipeline import TqdmProgress, run_pipeline

    return run_pipeline(args.file, progress=TqdmProgress(file=sys.stderr), **_options(args))


def _magic_run(args: argparse.Namespace, ctx: Context) -> Any:
    from ..pipeline import run_pipeline

    return run_pipeline(args.file, progress=_notebook_progress(ctx), **_options(args))


def _notebook_progress(ctx: Context) -> Any:
    """The pipeline progress widget when available, else tqdm's notebook bar."""
    try:
        from ..widgets.pipeline import PipelineProgress  # issue 7: a callable observer widget
    except ImportError:
        from ..pipeline import TqdmProgress

        return TqdmProgress(notebook=True, file=sys.stdout)
    widget = PipelineProgress()
    ctx.display(widget)
    return widget


def _status_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="PIPELINE.yaml", help="the pipeline file")
    p.add_argument("-p", "--parameter", dest="parameters", action="append", metavar="k=v",
                   help="judge staleness against these parameter overrides (repeatable)")


def _status(args: argparse.Namespace, ctx: Context) -> Any:
    from ..pipeline import pipeline_status

    params = {k: parse_scalar(v) for k, v in parse_kv(args.parameters, what="parameter", flag="-p").items()}
    return pipeline_status(args.file, parameters=params)


def _pipeline_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    _run_args(sub.add_parser("run", help="run a pipeline file with a progress display"))
    _status_args(sub.add_parser("status", help="last run of each step: ok / failed / cached / stale"))


def _pipeline(args: argparse.Namespace, ctx: Context) -> Any:
    return _magic_run(args, ctx) if args.action == "run" else _status(args, ctx)


MAGIC_COMMANDS = (
    Command("record", "Record a value as a step output for nbt run (and as an MLflow metric/param when "
            "scalar): %nbt record NAME EXPR.", _record_args, _record, usage="%nbt record NAME [EXPR]", raw=1),
    Command("pipeline", "Run a pipeline file (%nbt pipeline run FILE [-p k=v]... [--step S]... [--force] "
            "[--jobs N]) or show its status (%nbt pipeline status FILE).", _pipeline_args, _pipeline),
)

CLI_COMMANDS = (
    Command("run", "Run a pipeline file: each step's notebook with papermill, cached steps reused, "
            "exit 1 when a step fails.", _run_args, _cli_run),
    Command("status", "Last run of each step of a pipeline file: ok / failed / cached / stale.",
            _status_args, _status),
)
