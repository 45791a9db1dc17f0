"""``%nbt estimate`` / ``%nbt calibrate`` and ``nbt estimate`` (label-free performance per chunk)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from . import Command, Context


def _proba(text: str) -> Any:
    """``p`` (binary: the positive class's column) or ``a=p_a,b=p_b`` (one column per class)."""
    from ..errors import BadInput

    if "=" not in text:
        return text
    out = {}
    for part in text.split(","):
        cls, sep, col = part.strip().partition("=")
        if not sep or not cls.strip() or not col.strip():
            raise BadInput(f"Malformed --proba {text!r}; write --proba COLUMN (binary) or "
                           "--proba CLASS=COLUMN,CLASS=COLUMN (one per class).")
        out[cls.strip()] = col.strip()
    return out


def _estimate_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", required=True, metavar="COL",
                   help="true class (or value) column (needed in the reference)")
    p.add_argument("--prediction", required=True, metavar="COL", help="predicted class (or value) column")
    p.add_argument("--proba", metavar="COL|CLASS=COL,...",
                   help="positive-class probability column (binary) or CLASS=COLUMN for every class; "
                        "left out for a regressor (loss models learned on the reference, as NannyML's DLE)")
    p.add_argument("--metrics", metavar="a,b",
                   help="accuracy, roc_auc, f1, precision, recall (macro for multiclass); regression: mae, mse, "
                        "rmse, mape, r2 (default: all of the task's)")
    chunks = p.add_mutually_exclusive_group()
    chunks.add_argument("--chunk-size", type=int, metavar="N", help="chunks of N rows")
    chunks.add_argument("--chunk-number", type=int, metavar="N", help="N chunks (default 10)")
    chunks.add_argument("--window", metavar="W", help="time windows (1h, 1D, 7D ...) with --timestamp")
    p.add_argument("--timestamp", metavar="COL", help="time column (for --window, and chunk start/end)")
    p.add_argument("--threshold-sd", type=float, default=3.0, metavar="K",
                   help="alert limits: reference chunks' mean ± K sd (default 3)")
    p.add_argument("--alert-sd", dest="threshold_sd", type=float, help=argparse.SUPPRESS)  # first-release name
    p.add_argument("--model", metavar="REF", help="use the calibrator stored with this version (%%nbt calibrate)")
    p.add_argument("--method", default="cbpe", metavar="cbpe|shift|auto",
                   help="cbpe (default): calibrate on the whole reference; shift: reweight the reference per "
                        "chunk by a domain classifier on --features; auto: both, disagreements flagged")
    p.add_argument("--features", metavar="a,b", help="the model's input columns, for --method shift|auto "
                                                     "(not ids or timestamps); regression: the loss models' "
                                                     "inputs (default: the reference's other columns)")


def _estimate_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    calibrator = None
    if args.model:
        from ..errors import Cmd, NotFound, say
        from ..estimation import stored_calibrator

        calibrator = stored_calibrator(args.model)
        if calibrator is None:
            raise NotFound(say(f"{args.model!r} has no stored calibrator; run ", Cmd("calibrate"),
                               f" {args.model} --data X y first, or leave --model out to calibrate on the reference."))
    return {"target": args.target, "prediction": args.prediction,
            "proba": _proba(args.proba) if args.proba is not None else None,
            "metrics": args.metrics, "chunk_size": args.chunk_size, "chunk_number": args.chunk_number,
            "window": args.window, "timestamp": args.timestamp, "threshold_sd": args.threshold_sd,
            "calibrator": calibrator, "method": args.method, "features": args.features}


def _estimate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("analysis", metavar="ANALYSIS", help="variable holding the period to estimate")
    p.add_argument("--reference", required=True, metavar="REF_DF",
                   help="variable holding a labelled reference period (not the training data)")
    _estimate_options(p)


def _estimate(args: argparse.Namespace, ctx: Context) -> Any:
    from ..estimation import estimate

    return estimate(ctx.var(args.reference), ctx.var(args.analysis), **_estimate_kwargs(args))


def _cli_estimate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("analysis", metavar="ANALYSIS_FILE", help="CSV or Parquet file of the period to estimate")
    p.add_argument("--reference", required=True, metavar="REF_FILE", help="CSV or Parquet file of a labelled period")
    _estimate_options(p)
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    p.add_argument("--fail", action="store_true", help="exit 1 when an estimate leaves its alert limits")


def _cli_estimate(args: argparse.Namespace, ctx: Context) -> Any:
    import json

    from ..estimation import estimate
    from .data import read_table

    result = estimate(read_table(args.reference, what="reference file"),
                      read_table(args.analysis, what="analysis file"), **_estimate_kwargs(args))
    print(json.dumps(result.to_dict(), indent=1, default=str) if args.format == "json" else str(result))
    if args.fail and result.alerted:
        print(f"nbt estimate: {len(result.alerts)} estimate(s) outside their alert limits", file=sys.stderr)
        return 1
    return 0


def _calibrate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="REF", help="NAME, NAME/3 or NAME@alias of a registered classifier")
    p.add_argument("--data", nargs=2, required=True, metavar=("X", "y"),
                   help="variables holding labelled data the model was not trained on (validation)")
    p.add_argument("--no-save", action="store_true", help="fit and return the calibrator without storing it")


def _calibrate(args: argparse.Namespace, ctx: Context) -> Any:
    from ..estimation import calibrate

    X, y = (ctx.var(v) for v in args.data)
    return calibrate(args.name, X, y, save=not args.no_save)


MAGIC_COMMANDS = (
    Command("estimate", "Label-free performance per chunk, learned on a labelled reference (a classifier's "
            "as NannyML's CBPE; without --proba a regressor's, as DLE): estimate, ±3 se band, realised "
            "where labels exist, alerts.",
            _estimate_args, _estimate),
    Command("calibrate", "Fit per-class isotonic calibration of a registered classifier on labelled "
            "data and store it with the version (monitor and estimate --model use it).",
            _calibrate_args, _calibrate),
)

CLI_COMMANDS = (
    Command("estimate", MAGIC_COMMANDS[0].help + " Exit 1 with --fail when an estimate leaves its limits.",
            _cli_estimate_args, _cli_estimate),
)
