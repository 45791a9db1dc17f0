"""``%nbt quality`` and ``nbt data quality``: data quality over time (missing, unseen, out-of-range, statistics)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from . import Command, Context


def _quality_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--columns", metavar="a,b", help="only these columns (default: every reference column)")
    chunks = p.add_mutually_exclusive_group()
    chunks.add_argument("--chunk-size", type=int, metavar="N", help="chunks of N rows")
    chunks.add_argument("--chunk-number", type=int, metavar="N", help="N chunks (default 10)")
    chunks.add_argument("--window", metavar="W", help="time windows (1h, 1D, 7D ...) with --timestamp")
    p.add_argument("--timestamp", metavar="COL", help="time column (for --window, and chunk start/end)")
    p.add_argument("--threshold-sd", type=float, default=3.0, metavar="K",
                   help="alert limits: reference chunks' mean ± K sd (default 3)")


def _quality_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {"columns": args.columns, "chunk_size": args.chunk_size, "chunk_number": args.chunk_number,
            "window": args.window, "timestamp": args.timestamp, "threshold_sd": args.threshold_sd}


def _quality_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("analysis", metavar="ANALYSIS", help="variable holding the data to check")
    p.add_argument("--reference", required=True, metavar="REF_DF",
                   help="variable holding the reference frame (its values, categories and ranges are normal)")
    _quality_options(p)


def _quality(args: argparse.Namespace, ctx: Context) -> Any:
    from ..monitoring import quality

    return quality(ctx.var(args.analysis), reference=ctx.var(args.reference), **_quality_kwargs(args))


def _cli_quality_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("analysis", metavar="ANALYSIS_FILE", help="CSV or Parquet file of the data to check")
    p.add_argument("--reference", required=True, metavar="REF_FILE", help="CSV or Parquet file of the reference")
    _quality_options(p)
    p.add_argument("--format", choices=("text", "json", "html"), default="text", help="output format")
    p.add_argument("--output", metavar="F", help="write the report to this file instead of stdout")
    p.add_argument("--fail", action="store_true", help="exit 1 when a chunk alerts")


def _cli_quality(args: argparse.Namespace, ctx: Context) -> int:
    from ..monitoring import quality
    from .data import _emit, read_table

    result = quality(read_table(args.analysis, what="analysis file"),
                     reference=read_table(args.reference, what="reference file"), **_quality_kwargs(args))
    _emit(result, args.format, args.output)
    if args.fail and result.alerted:
        print(f"nbt data quality: {len(result.alerts)} alert(s)", file=sys.stderr)
        return 1
    return 0


MAGIC_COMMANDS = (
    Command("quality", "Data quality per chunk against a reference (as NannyML's data-quality and summary-"
            "statistics calculators): missing, unseen and out-of-range rates, mean, median, std, sum, rows; "
            "limits learned on the reference chunks, alerts.", _quality_args, _quality),
)

CLI_COMMANDS = (
    Command("quality", MAGIC_COMMANDS[0].help + " Exit 1 with --fail when a chunk alerts.",
            _cli_quality_args, _cli_quality),
)
