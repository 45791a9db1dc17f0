"""``%nbt validate`` / ``%nbt drift`` and ``nbt drift`` / ``nbt validate`` (CSV or Parquet files)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import Command, Context, require_signature_option, signature_setting

if TYPE_CHECKING:
    from ..registry.model_process import ModelProcess
    from ..reports.base import Result
    from ..reports.drift import DriftReport
    from ..reports.drift_timeline import DriftTimeline

MAX_PLOTS = 4


# ----------------------------------------------------------------------------- shared parsing
def _per_column(values: list[str] | None, *, flag: str, convert: Any) -> Any:
    """``['0.1']`` -> 0.1; ``['a=0.2', 'b=0.1']`` -> {'a': 0.2, 'b': 0.1}; both -> dict with '*'."""
    from ..errors import BadInput

    if not values:
        return None
    out: dict[str, Any] = {}
    for item in values:
        for part in str(item).split(","):
            key, sep, value = part.strip().rpartition("=")
            key = key.strip() if sep else "*"
            if key in out:
                raise BadInput(f"{flag} given twice for {key if key != '*' else 'all columns'!r}.")
            try:
                out[key] = convert(value.strip())
            except ValueError:
                raise BadInput(f"Malformed {flag} {part!r}; write {flag} X or {flag} COLUMN=X.") from None
    return out["*"] if list(out) == ["*"] else out


def _drift_options(p: argparse.ArgumentParser) -> None:
    from ..profiles.methods import CHOICES, describe_thresholds  # the registered drift statistics

    p.add_argument("--columns", metavar="a,b", help="only these columns")
    p.add_argument("--method", action="append", metavar="M|COL=M",
                   help=f"test: {', '.join(CHOICES)} (default auto); COL=M for one column (repeatable)")
    p.add_argument("--threshold", action="append", metavar="X|COL=X",
                   help=f"per-column threshold: {describe_thresholds()}; COL=X for one column")
    p.add_argument("--drift-share", dest="share", type=float, metavar="S",
                   help="dataset drift when this share of columns drifted (default "
                        "%%config Nbt.drift_share or 0.5)")
    p.add_argument("--share", dest="share", type=float, help=argparse.SUPPRESS)  # first-release name
    p.add_argument("--correction", choices=("none", "bonferroni", "holm", "fdr_bh"),
                   help="multiple-testing correction of p-values")
    p.add_argument("--multivariate", nargs="?", const=True, default=False, choices=("pca", "classifier", "both"),
                   help="also train a domain classifier (needs a reference frame, not a profile); over time: "
                        "the PCA reconstruction error (pca, the default), a domain classifier per chunk "
                        "(classifier) or both")
    p.add_argument("--no-predictions", dest="predictions", action="store_false",
                   help="inputs only: skip prediction drift, so the model is never loaded (faster)")
    over_time = p.add_mutually_exclusive_group()
    over_time.add_argument("--chunk-size", type=int, metavar="N",
                           help="drift over time: chunks of N rows, a chunk × column timeline with "
                                "limits learned from the reference chunks (--threshold reference)")
    over_time.add_argument("--chunk-number", type=int, metavar="N", help="drift over time: N chunks")
    over_time.add_argument("--window", metavar="W", help="drift over time: windows (1D, 7D ...) of --timestamp")
    p.add_argument("--timestamp", metavar="COL", help="time column for --window")
    p.add_argument("--threshold-sd", type=float, default=3.0, metavar="K",
                   help="drift over time: a chunk drifted above the reference chunks' mean + K sd (default 3)")
    require_signature_option(p)


def _drift_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    over_time = {}
    if args.chunk_size is not None or args.chunk_number is not None or args.window is not None \
            or args.threshold == ["reference"]:
        over_time = {"chunk_size": args.chunk_size, "chunk_number": args.chunk_number, "window": args.window,
                     "timestamp": args.timestamp, "threshold_sd": args.threshold_sd}
    return {
        **over_time,
        "columns": args.columns,
        "method": _per_column(args.method, flag="--method", convert=str) or "auto",
        "threshold": "reference" if args.threshold == ["reference"] else
        _per_column(args.threshold, flag="--threshold", convert=float),
        "drift_share": args.share,
        "correction": args.correction,
        "multivariate": args.multivariate,
        "predictions": args.predictions,
    }


def _one_reference(args: argparse.Namespace) -> None:
    from ..errors import BadInput

    if (args.reference is None) == (args.model is None):
        raise BadInput("Pass exactly one of --reference and --model (a registered version with a "
                       "stored profile, e.g. NAME@champion).")


# ----------------------------------------------------------------------------- %nbt drift
def _drift_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("current", metavar="CURRENT", help="notebook variable holding the current data")
    p.add_argument("--reference", metavar="REF_DF", help="variable holding the reference frame (or a Profile)")
    p.add_argument("--model", metavar="REF", help="NAME, NAME/3 or NAME@alias: use its stored profile")
    _drift_options(p)
    p.add_argument("--fail", action="store_true", help="raise when the dataset drifted")
    p.add_argument("--no-plot", action="store_true", help="do not show plots of the drifted columns")


def _drift(args: argparse.Namespace, ctx: Context) -> Any:
    from ..drift import drift
    from ..errors import CheckFailed
    from ..reports.drift import DriftReport
    from ..reports.drift_timeline import DriftTimeline

    _one_reference(args)
    current = ctx.var(args.current)
    reference = ctx.var(args.reference) if args.reference else None
    try:
        with signature_setting(args):
            report = drift(current, reference, model=args.model, fail=args.fail, **_drift_kwargs(args))
    except CheckFailed as exc:
        if not args.no_plot and isinstance(exc.report, (DriftReport, DriftTimeline)):
            _show_plots(exc.report, ctx)
        raise
    if not args.no_plot:
        _show_plots(report, ctx)
    return report


def _show_plots(report: DriftReport | DriftTimeline, ctx: Context) -> None:
    # Plots need a front end that shows images; terminal IPython (text/plain only) would print
    # the figure's repr, so there the report's text is all (report.plots() draws them on demand).
    formatter = getattr(ctx.shell, "display_formatter", None)
    if formatter is None or "image/png" not in getattr(formatter, "active_types", ()):
        return
    from ..reports.drift import DriftReport
    from ..reports.drift_plots import FigureView

    if not isinstance(report, DriftReport):  # drift over time: the timeline plots itself
        if report.drifted:
            ctx.display(FigureView(report.plot()))  # a PNG, shown once (the figure is no pyplot one)
        return
    columns = report.drifted_columns[:MAX_PLOTS]
    if columns:
        ctx.display(report.plots(columns))


# ----------------------------------------------------------------------------- %nbt validate
def _validate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("frame", metavar="DF", help="notebook variable holding the data to check")
    p.add_argument("--model", metavar="REF", help="NAME, NAME/3 or NAME@alias: use its stored contract")
    p.add_argument("--reference", metavar="REF_DF", help="variable holding a reference frame")
    _validate_options(p)
    p.add_argument("--fail", action="store_true", help="raise when the contract is broken")


def _validate_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-age", metavar="AGE", help="freshness: newest timestamp at most this old (2D, 6h)")
    p.add_argument("--timestamp", metavar="COL", help="timestamp column for --max-age")
    p.add_argument("--null-tolerance", type=float, default=0.05, metavar="X",
                   help="allowed increase of a null rate (default 0.05)")
    p.add_argument("--range-tolerance", type=float, default=0.0, metavar="X",
                   help="allowed excursion outside the numeric range, as a share of its span")


def _validate_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {"max_age": args.max_age, "timestamp": args.timestamp,
            "null_tolerance": args.null_tolerance, "range_tolerance": args.range_tolerance}


def _validate(args: argparse.Namespace, ctx: Context) -> Any:
    from ..conformance import validate

    _one_reference(args)
    frame = ctx.var(args.frame)
    reference = ctx.var(args.reference) if args.reference else None
    return validate(frame, model=args.model, reference=reference, fail=args.fail,
                    **_validate_kwargs(args))


# ----------------------------------------------------------------------------- nbt drift
def read_table(path: str, *, what: str = "file") -> Any:
    """Read a CSV (.csv, .tsv, .csv.gz) or Parquet file: :func:`nbtoolkit.drift.inputs.read_table`,
    the reader ``nbt.drift("a.csv", "b.csv")`` uses too."""
    from ..drift.inputs import read_table as read

    return read(path, what=what)


def _cli_drift_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("current", metavar="CURRENT", help="CSV or Parquet file with the current data")
    p.add_argument("--reference", metavar="REF_FILE", help="CSV or Parquet file with the reference data")
    p.add_argument("--model", metavar="REF", help="NAME, NAME/3 or NAME@alias: use its stored profile")
    _drift_options(p)
    p.add_argument("--format", choices=("text", "json", "html"), default="text", help="output format")
    p.add_argument("--output", metavar="F", help="write the report to this file instead of stdout")
    p.add_argument("--fail", action="store_true", help="exit 1 when the dataset drifted")
    p.add_argument("--fail-on-drift", dest="fail", action="store_true", help=argparse.SUPPRESS)


def _cli_drift(args: argparse.Namespace, ctx: Context) -> int:
    _one_reference(args)
    with signature_setting(args):
        if args.model and args.predictions:
            # The model's predictions are tested too: a helper process loads it, and imports skops
            # now, beside MLflow here (a cold command; a notebook loads in-process).
            from .. import config
            from ..registry.model_process import ModelProcess

            with ModelProcess(signing=config.require_signature()) as process:
                report = _drift_files(args, process)
        else:
            report = _drift_files(args, None)
    _emit(report, args.format, args.output)
    return 1 if args.fail and report.drifted else 0


def _drift_files(args: argparse.Namespace, process: ModelProcess | None) -> DriftReport | DriftTimeline:
    """``drift()`` of the command's files; the model, when ``process`` is given, loaded there."""
    from ..drift import drift

    current = read_table(args.current, what="current file")
    reference = read_table(args.reference, what="reference file") if args.reference else None
    if process is None:
        return drift(current, reference, model=args.model, **_drift_kwargs(args))
    if reference is not None:
        from ..registry import load

        return drift(current, reference, model=load(args.model, process=process), **_drift_kwargs(args))
    from ..drift.inputs import stored_reference

    profile, estimator, source = stored_reference(args.model, process=process)
    report: Any = drift(current, profile, model=estimator, **_drift_kwargs(args))
    report.reference = source  # the version's profile, named as drift(model=REF) names it
    return report


def _cli_validate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", metavar="FILE", help="CSV or Parquet file to check")
    p.add_argument("--model", metavar="REF", help="NAME, NAME/3 or NAME@alias: use its stored contract")
    p.add_argument("--reference", metavar="REF_FILE", help="infer the contract from this file")
    _validate_options(p)
    p.add_argument("--format", choices=("text", "json", "html"), default="text", help="output format")
    p.add_argument("--output", metavar="F", help="write the report to this file instead of stdout")
    p.add_argument("--fail", action="store_true", help="exit 1 when the contract is broken")


def _cli_validate(args: argparse.Namespace, ctx: Context) -> int:
    from ..conformance import validate

    _one_reference(args)
    frame = read_table(args.data, what="file")
    reference = read_table(args.reference, what="reference file") if args.reference else None
    report = validate(frame, model=args.model, reference=reference, **_validate_kwargs(args))
    _emit(report, args.format, args.output)
    # The first-release flat `nbt validate` always exited 1 on a broken contract; kept for it.
    return 1 if (args.fail or getattr(args, "_legacy", False)) and not report.passed else 0


def _emit(report: Result, fmt: str, output: str | None) -> None:
    from ..errors import BadInput

    if fmt == "json":
        text = report.to_json(indent=2)
    elif fmt == "html":
        text = report.to_html() if hasattr(report, "to_html") else report._repr_html_()
    else:
        text = str(report)
    if output:
        try:
            Path(output).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise BadInput(f"Cannot write the report to {output!r}: {exc.strerror}.") from None
        print(f"{report.summary()}\nReport written to {output}")
    else:
        sys.stdout.write(text + "\n")


MAGIC_COMMANDS = (
    Command("validate", "Check a frame against a data contract (a model's stored contract or a "
            "reference frame): columns, dtypes, nulls, ranges, categories, inf, freshness.",
            _validate_args, _validate),
    Command("drift", "Per-column drift tests and a dataset verdict against a reference frame or a "
            "model's stored profile; plots of the drifted columns.", _drift_args, _drift),
)

CLI_COMMANDS = (
    Command("drift", "Drift of CURRENT (CSV/Parquet) against --reference FILE or --model REF; "
            "exit 1 with --fail when the dataset drifted.", _cli_drift_args, _cli_drift),
    Command("validate", "Check a CSV/Parquet file against a data contract; exit 1 with --fail when it is broken.",
            _cli_validate_args, _cli_validate),
)
