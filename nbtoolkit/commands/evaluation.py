"""``%nbt evaluate / compare / threshold`` and the cell magic ``%%nbt track``."""

from __future__ import annotations

import argparse
from typing import Any

from . import Command, Context, require_signature_option, signature_setting


def _model(token: str, ctx: Context) -> Any:
    """A notebook variable holding a fitted model, else the token as a registry REF."""
    head = token.split(".")[0]
    if head.isidentifier() and head in ctx.user_ns:
        value = ctx.var(token)
        if hasattr(value, "predict") and not isinstance(value, type):
            return value
    return token


def _data(args: argparse.Namespace, ctx: Context) -> tuple[Any, Any]:
    return ctx.var(args.X, what="data variable"), ctx.var(args.y, what="label variable")


def _fraction(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number such as 0.95, got {text!r}") from None


# ----------------------------------------------------------------------------- evaluate
def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", metavar="REF", help="NAME, NAME/3, NAME@alias, or a notebook variable holding a model")
    p.add_argument("X", help="notebook variable with the rows")
    p.add_argument("y", help="notebook variable with the truth")
    p.add_argument("--slice", action="append", default=[], metavar="COL",
                   help="metrics per value of this column of X (repeatable; numbers in quartiles)")
    p.add_argument("--suite", metavar="FILE.yaml", help="edge-case suite to run")
    p.add_argument("--metric", action="append", metavar="NAME", help="only these metrics (repeatable)")
    p.add_argument("--log", action="store_true", help="log the metrics onto the version (for promote gates)")
    p.add_argument("--dataset", default="test", metavar="NAME",
                   help="with --log: metrics are named NAME.METRIC and X is recorded as the version's "
                        "evaluation dataset (default: test)")
    require_signature_option(p)


def _evaluate(args: argparse.Namespace, ctx: Context) -> Any:
    from ..evaluation import evaluate

    X, y = _data(args, ctx)
    with signature_setting(args):
        return evaluate(_model(args.ref, ctx), X, y, slices=args.slice, suite=args.suite,
                        metrics=args.metric, log=args.log, dataset=args.dataset)


# ----------------------------------------------------------------------------- compare
def _compare_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref_a", metavar="REF_A", help="model A, e.g. NAME@champion (or a notebook variable)")
    p.add_argument("ref_b", metavar="REF_B", help="model B, e.g. NAME/4 (or a notebook variable)")
    p.add_argument("X", help="notebook variable with the rows")
    p.add_argument("y", help="notebook variable with the truth")
    p.add_argument("--metric", help="metric of the verdict (default accuracy / rmse)")
    p.add_argument("--resamples", type=int, default=1000, help="paired bootstrap resamples (default 1000)")
    p.add_argument("--confidence", type=_fraction, default=0.95, help="interval confidence (default 0.95)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--log", action="store_true",
                   help="store the verdict on B's version (read by promote --require beats=A)")


def _compare(args: argparse.Namespace, ctx: Context) -> Any:
    from ..evaluation import compare

    X, y = _data(args, ctx)
    return compare(_model(args.ref_a, ctx), _model(args.ref_b, ctx), X, y, metric=args.metric,
                   resamples=args.resamples, confidence=args.confidence, seed=args.seed, log=args.log)


# ----------------------------------------------------------------------------- threshold
def _threshold_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", metavar="REF", help="NAME, NAME/3, NAME@alias, or a notebook variable holding a model")
    p.add_argument("X", help="notebook variable with the rows")
    p.add_argument("y", help="notebook variable with the truth")
    p.add_argument("--target-accuracy", type=_fraction, metavar="A",
                   help="pick the lowest threshold whose auto-handled accuracy reaches A, in (0, 1]")
    p.add_argument("--save", action="store_true", help="store the chosen threshold on the version")
    p.add_argument("--thresholds", dest="points", type=int, metavar="N",
                   help="N evenly spaced candidates (default 0..1 by 0.01)")
    p.add_argument("--points", dest="points", type=int, help=argparse.SUPPRESS)  # first-release name


def _threshold(args: argparse.Namespace, ctx: Context) -> Any:
    from ..evaluation import threshold

    X, y = _data(args, ctx)
    return threshold(_model(args.ref, ctx), X, y, target_accuracy=args.target_accuracy,
                     thresholds=args.points, save=args.save)


# ----------------------------------------------------------------------------- track
def _track_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--experiment", help="MLflow experiment (default: the configured one)")
    p.add_argument("--name", help="run name")
    p.add_argument("--log-models", action="store_true", help="also autolog every fitted model")
    p.add_argument("--register", metavar="NAME",
                   help="register the model fitted in the cell as a new version of NAME, linked to this run")
    p.add_argument("--model", metavar="VAR",
                   help="with --register: the variable holding the model "
                        "(default: the one fitted model the cell assigned)")
    p.add_argument("--data", nargs="+", metavar="X [y]", help="with --register: training data variables")


def _track(args: argparse.Namespace, ctx: Context) -> Any:
    from ..errors import BadInput
    from ..evaluation import track_cell

    if ctx.cell is None:
        raise BadInput("track is a cell magic: put %%nbt track on the first line of a cell and the code below it.")
    if (args.model or args.data) and not args.register:
        raise BadInput("--model and --data go with --register NAME (the model to register from the cell).")
    data = None
    if args.data:
        if len(args.data) > 2:
            raise BadInput(f"--data takes X and optionally y, got {len(args.data)} names: {args.data!r}.")
        data = tuple(args.data)
    return track_cell(ctx.cell, shell=ctx.shell, user_ns=ctx.user_ns, experiment=args.experiment,
                      name=args.name, log_models=args.log_models, register=args.register,
                      model_var=args.model, data_vars=data)


MAGIC_COMMANDS = (
    Command("evaluate", "Metrics (classification or regression), per-slice metrics, an edge-case "
            "suite; --log puts the metrics on the version for promote gates.", _evaluate_args, _evaluate),
    Command("compare", "Champion vs challenger on the same rows: metrics side by side, paired "
            "bootstrap interval, McNemar test, verdict (--log for the beats= gate).", _compare_args, _compare),
    Command("threshold", "Coverage vs accuracy of auto-handled predictions by confidence threshold; "
            "--save stores the chosen one on the version.", _threshold_args, _threshold),
    Command("track", "(cell magic) Run the cell inside an MLflow run with scikit-learn autologging.",
            _track_args, _track, usage="%%nbt track [--experiment E] [--name R] [--log-models] "
                                       "[--register NAME [--model VAR] [--data X [y]]]"),
)
