"""``%nbt record``, ``%nbt pipeline run|status`` and the ``nbt run`` / ``nbt status`` commands."""

from __future__ import annotations

import argparse
import sys
import time
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
        value = eval(compile(source, "<%nbt record>", "eval"), namespace)
    except SyntaxError as exc:
        raise BadInput(f"Cannot parse {source!r} for %nbt record: {exc.msg}; give a Python expression.") from None
    except Exception as exc:
        raise BadInput(f"Evaluating {source!r} for %nbt record failed: {type(exc).__name__}: {exc}.") from None
    return record(args.name, value)


# ----------------------------------------------------------------------------- run / status
def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="PIPELINE.yaml", help="the pipeline file")
    _parameter_args(p)
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
    p.add_argument("-k", "--kernel", metavar="NAME",
                   help="Jupyter kernel for every step (default: the step's kernel:, else the notebook's)")
    p.add_argument("--pending", action="store_true",
                   help="partitioned pipeline: run the partitions that are new or whose data changed, in key order")
    p.add_argument("--partition", metavar="KEY", help="partitioned pipeline: run this partition (a done one "
                   "again with --force)")
    p.add_argument("--backfill", metavar="FROM..TO", help="partitioned pipeline: run the partitions in this range "
                   "(both ends included) that are not done (all of them with --force)")


# papermill's parameter options, with papermill's typing and precedence: -f files, then -y, then
# -p, then -r (whatever their order on the line); -p NAME=VALUE (JSON-typed) is nbtoolkit's own.
def _parameter_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-p", "--parameter", dest="parameters", action=_Param, nargs="+", default=[],
                   metavar=("NAME", "VALUE"),
                   help="parameter, typed as papermill types it (True/False/None, int, float, else "
                        "string); NAME=VALUE is JSON-typed; STEP.NAME targets one step (repeatable)")
    p.add_argument("-r", "--parameter-raw", dest="parameters", action=_Raw, nargs=2, metavar=("NAME", "VALUE"),
                   help="parameter kept as a string (repeatable)")
    p.add_argument("-y", "--parameters-yaml", dest="parameters", action=_Tagged, metavar="YAML",
                   help="parameters as a YAML mapping string (repeatable)")
    p.add_argument("-f", "--parameters-file", dest="parameters", action=_Tagged, metavar="FILE.yaml",
                   help="parameters from a YAML file (repeatable)")


class _Param(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        if len(values) == 1 and "=" in values[0]:
            name, _, value = values[0].partition("=")
            item = ("p=", name, value)
        elif len(values) == 2 and "=" not in values[0]:
            item = ("p", values[0], values[1])
        else:
            hint = " (put the pipeline file before the options)" if len(values) > 2 else ""
            parser.error(f"{option_string} takes NAME VALUE or NAME=VALUE, got {' '.join(values)!r}{hint}")
        getattr(namespace, self.dest).append(item)


class _Raw(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        getattr(namespace, self.dest).append(("r", values[0], values[1]))


class _Tagged(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        kind = "y" if option_string in ("-y", "--parameters-yaml") else "f"
        getattr(namespace, self.dest).append((kind, values))


def papermill_type(value: str) -> Any:
    """A ``-p NAME VALUE`` value as papermill's CLI types it (``papermill.cli._resolve_type``)."""
    if value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[value]
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


# strings a user probably meant as True / False / None
_AMBIGUOUS = {"true": "True", "yes": "True", "false": "False", "no": "False", "none": "None", "null": "None"}


def parameters_from(items: list[Any], *, flag: str = "-p") -> dict[str, Any]:
    """The parameters dict from -f / -y / -p / -r items, in papermill's precedence."""
    import warnings

    from ..errors import BadInput

    out: dict[str, Any] = {}
    order = {"f": 0, "y": 1, "p": 2, "p=": 2, "r": 3}
    for item in sorted(items or [], key=lambda it: order[it[0]]):  # stable: same kind keeps line order
        kind = item[0]
        if kind in ("f", "y"):
            out.update(_yaml_parameters(item[1], from_file=kind == "f"))
            continue
        name, raw = item[1].strip(), item[2]
        if not name:
            raise BadInput(f"Malformed parameter {raw!r} for {flag}: the name is empty.")
        if kind == "r":
            value: Any = raw
        elif kind == "p":
            value = papermill_type(raw)
            meant = _AMBIGUOUS.get(value.strip().lower()) if isinstance(value, str) else None
            if meant:
                warnings.warn(f"-p {name} {raw} passes the string {raw!r} (papermill typing: only True, "
                              f"False and None are special); write -p {name} {meant} for {meant}, or "
                              f"-r {name} {raw} to say you mean the string.", UserWarning, stacklevel=2)
        else:  # NAME=VALUE: JSON-typed; Python's True/False/None spellings mean the values, not strings
            value = papermill_type(raw.strip()) if raw.strip() in ("True", "False", "None") else parse_scalar(raw)
        out[name] = value
    return out


def _yaml_parameters(text: str, *, from_file: bool) -> dict[str, Any]:
    import yaml

    from ..errors import BadInput

    class NoDates(yaml.SafeLoader):  # as papermill: `a_date: 2019-01-01` stays the string
        yaml_implicit_resolvers = {k: [r for r in v if r[0] != "tag:yaml.org,2002:timestamp"]  # noqa: RUF012
                                   for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}

    where = f"-f {text!r}" if from_file else f"-y {text!r}"
    try:
        if from_file:
            with open(text, encoding="utf-8") as fh:
                data = yaml.load(fh, Loader=NoDates)
        else:
            data = yaml.load(text, Loader=NoDates)
    except OSError as exc:
        raise BadInput(f"Cannot read the parameters file {text!r} ({exc.strerror}).") from None
    except ValueError as exc:  # a NUL byte in the path; bytes that are not UTF-8 (UnicodeDecodeError)
        why = "it is not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else "the path holds a NUL byte"
        raise BadInput(f"Cannot read the parameters file {text!r}: {why}; -f takes a YAML file.") from None
    except yaml.YAMLError as exc:
        raise BadInput(f"{where} is not valid YAML ({' '.join(str(exc).split())[:200]}).") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadInput(f"{where} must be a YAML mapping of NAME: VALUE, got {type(data).__name__}.")
    return {str(k): v for k, v in data.items()}


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {"parameters": parameters_from(args.parameters), "steps": args.steps, "force": args.force,
            "jobs": args.jobs, "executor": args.executor, "scheduler": args.scheduler,
            "secrets": parse_kv(args.secrets, what="secret", flag="--secret"), "kernel": args.kernel,
            "pending": args.pending, "partition": args.partition, "backfill": args.backfill}


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
    _parameter_args(p)  # judge staleness against these parameters


def _status(args: argparse.Namespace, ctx: Context) -> Any:
    from ..pipeline import pipeline_status

    # no -p: judge each step with the parameters its last run was given (not the file's defaults)
    return pipeline_status(args.file, parameters=parameters_from(args.parameters) if args.parameters else None)


# ----------------------------------------------------------------------------- export
def _export_args(p: argparse.ArgumentParser) -> None:
    from ..vocabulary import EXPORT_EVERY as DEFAULT_EVERY
    from ..vocabulary import EXPORT_TARGETS as TARGETS

    p.add_argument("file", metavar="PIPELINE.yaml", help="the pipeline file")
    p.add_argument("--to", required=True, metavar="|".join(TARGETS),
                   help="the scheduler: an Airflow DAG, Dagster assets + sensor, a Prefect flow, a crontab "
                        "line, or a systemd service + timer")
    p.add_argument("--every", default=DEFAULT_EVERY, metavar="DURATION",
                   help=f"how often the pending partitions are run (default {DEFAULT_EVERY}; 10m, 6h, 1D)")
    p.add_argument("--output", metavar="DIR", help="folder to write into (default: the pipeline file's folder)")
    p.add_argument("--force", action="store_true", help="overwrite a file nbt pipeline export did not write")


def _export(args: argparse.Namespace, ctx: Context) -> Any:
    from ..pipeline.export import export

    return export(args.file, args.to, output=args.output, every=args.every, force=args.force)


# ----------------------------------------------------------------------------- watch
def _watch_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="PIPELINE.yaml", help="the pipeline file")
    p.add_argument("--every", default="10m", metavar="DURATION",
                   help="interval between two runs of the pending partitions (default 10m)")
    p.add_argument("--ticks", type=_positive_int, default=None, metavar="N",
                   help="stop after N runs (default: until Ctrl-C)")
    _parameter_args(p)
    p.add_argument("-k", "--kernel", metavar="NAME", help="Jupyter kernel for every step")


def _watch_cli(args: argparse.Namespace, ctx: Context) -> int:
    from ..errors import NbtError
    from ..pipeline.watch import watch

    ticks = 0

    def show(result: Any) -> None:
        nonlocal ticks
        ticks += 1
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(result, NbtError):
            print(f"[{stamp}] tick {ticks} failed: {result}", flush=True)
        else:
            print(f"[{stamp}] tick {ticks}: {result}", flush=True)

    params = parameters_from(args.parameters) if args.parameters else None
    try:
        failed = watch(args.file, every=args.every, ticks=args.ticks, on_tick=show, parameters=params,
                       kernel=args.kernel)
    except KeyboardInterrupt:
        print(f"nbt pipeline watch: stopped by Ctrl-C after {ticks} tick(s); an interrupted partition was not "
              "marked done and runs again on the next --pending.", file=sys.stderr, flush=True)
        return 130
    return 1 if failed else 0


def _pipeline_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    _run_args(sub.add_parser("run", help="run a pipeline file with a progress display"))
    _status_args(sub.add_parser("status", help="last run of each step: ok / failed / cached / stale; "
                                "partitions: done / pending / failed"))
    _export_args(sub.add_parser("export", help="write the wrapper that runs it on Airflow, Dagster, Prefect, "
                                "cron or systemd"))


def _pipeline(args: argparse.Namespace, ctx: Context) -> Any:
    if args.action == "export":
        return _export(args, ctx)
    return _magic_run(args, ctx) if args.action == "run" else _status(args, ctx)


MAGIC_COMMANDS = (
    Command("record", "Record a value as a step output for nbt run (and as an MLflow metric/param when "
            "scalar): %nbt record NAME EXPR.", _record_args, _record, usage="%nbt record NAME [EXPR]", raw=1),
    Command("pipeline", "Run a pipeline file (%nbt pipeline run FILE [-p k=v]... [--step S]... [--force] "
            "[--jobs N] [--pending | --partition KEY | --backfill FROM..TO]) or show its status "
            "(%nbt pipeline status FILE), or export it to a scheduler (%nbt pipeline export FILE --to airflow).",
            _pipeline_args, _pipeline),
)

CLI_COMMANDS = (
    Command("run", "Run a pipeline file: each step's notebook with papermill, cached steps reused, "
            "exit 1 when a step fails.", _run_args, _cli_run),
    Command("status", "Last run of each step of a pipeline file: ok / failed / cached / stale (and for a "
            "partitioned pipeline, each partition: done / pending / failed / missing).",
            _status_args, _status),
    Command("export", "Write the wrapper that runs a pipeline's pending partitions on a scheduler: an Airflow "
            "DAG, Dagster partitioned assets with a sensor, a Prefect flow, a crontab line or a systemd timer.",
            _export_args, _export),
    Command("watch", "Run a pipeline's pending partitions now and every --every (a foreground loop for one "
            "machine, under the same lock as any --pending run; Ctrl-C stops it).", _watch_args, _watch_cli),
)
