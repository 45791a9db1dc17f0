"""``%nbt monitor`` / ``%nbt abtest`` and ``nbt monitor`` / ``nbt abtest`` (exit 1 when an alert fires)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from . import Command, Context


def _monitor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="registered model name, as logged")
    p.add_argument("--window", default="1D", help="window length: 1h, 30min, 1D, 7D ... (default 1D)")
    p.add_argument("--alert", action="append", default=[], metavar="RULE",
                   help="alert rule, e.g. 'accuracy<0.9', 'drift_share>0.3', 'human_share>0.4', "
                        "'estimated_accuracy<0.85', 'anomaly:volume' (repeatable)")
    p.add_argument("--webhook", metavar="URL", help="POST a JSON payload here when an alert fires")
    p.add_argument("--on-alert", metavar="PIPELINE.yaml",
                   help="start this pipeline when an alert fires (once per window), with the parameters "
                        "trigger and evidence")
    p.add_argument("--since", metavar="WHEN", help="only predictions since a date or a duration ago (7D)")
    p.add_argument("--version", help="only predictions of this version")
    p.add_argument("--no-drift", action="store_true", help="skip the input drift check")
    p.add_argument("--rows", type=int, metavar="N", help="windows of N predictions instead of --window")
    p.add_argument("--reference", metavar="REF",
                   help="drift reference instead of the version's stored profile: a notebook variable "
                        "(frame or Profile) or a file (profile .json, .csv, .parquet)")
    _predictions_url(p)


def _monitor(args: argparse.Namespace, ctx: Context) -> Any:
    from ..monitoring import monitor
    from ..monitoring.monitor import since

    reference = args.reference
    if reference and reference.split(".")[0] in ctx.user_ns:
        reference = ctx.var(reference)
    started = None
    if args.on_alert:  # the pipeline file is checked before the log is read
        from ..pipeline.triggers import alert_trigger

        started = alert_trigger(args.name, args.on_alert, args.alert, window=args.window)
    report = monitor(args.name, window=args.window, alerts=args.alert, webhook=args.webhook,
                     predictions_url=args.predictions_url, version=args.version,
                     start=since(args.since) if args.since else None, drift=not args.no_drift,
                     rows=args.rows, reference=reference)
    if started is not None and report.alerted:
        from ..pipeline import run_pipeline
        from ..pipeline.triggers import check_triggers

        report.triggered = check_triggers([started], source=f"nbt monitor {args.name}", run=run_pipeline,
                                          report=report)
    return report


def _monitor_cli(args: argparse.Namespace, ctx: Context) -> Any:
    import json

    report = _monitor(args, ctx)
    print(json.dumps(report.to_dict(), indent=2) if args.format == "json" else str(report))
    if report.alerted:
        print(f"nbt monitor: {len(report.alerts)} alert(s) fired", file=sys.stderr)
        return 1
    return 0


def _abtest_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("--champion", default="champion", metavar="ALIAS", help="champion alias (default champion)")
    p.add_argument("--challenger", default="challenger", metavar="ALIAS",
                   help="challenger alias (default challenger)")
    p.add_argument("--since", metavar="WHEN", help="only traffic since a date or a duration ago (7D)")
    p.add_argument("--min-samples", type=int, default=200, help="labeled predictions needed per version")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    p.add_argument("--apply", action="store_true",
                   help="act on the recommendation (promote the challenger or roll back the canary)")
    _predictions_url(p)


def _predictions_url(p: argparse.ArgumentParser) -> None:
    p.add_argument("--predictions-url", metavar="URL", help="prediction-log SQLAlchemy URL (default: "
                   "%%config Nbt.predictions_url, NBT_PREDICTIONS_URL or <home>/predictions.db)")
    p.add_argument("--log-url", dest="predictions_url", help=argparse.SUPPRESS)  # first-release name


def _abtest(args: argparse.Namespace, ctx: Context) -> Any:
    from ..monitoring import abtest
    from ..monitoring.monitor import since

    report = abtest(args.name, predictions_url=args.predictions_url, champion=args.champion,
                    challenger=args.challenger, start=since(args.since) if args.since else None,
                    min_samples=args.min_samples, alpha=args.alpha)
    if args.apply:
        moved = report.apply()
        if moved is not None:
            report.warnings.append(f"applied: {moved.summary()}")
    return report


MAGIC_COMMANDS = (
    Command("monitor", "Windowed quality from the prediction log (accuracy, estimated accuracy, human "
            "share, drift) with alert rules and a webhook.", _monitor_args, _monitor),
    Command("abtest", "Champion vs challenger on logged traffic and outcomes: significance and a "
            "recommendation (promote / keep / roll back).", _abtest_args, _abtest),
)

CLI_COMMANDS = (
    Command("monitor", MAGIC_COMMANDS[0].help + " Exit 1 when an alert fires.", _monitor_args, _monitor_cli),
    MAGIC_COMMANDS[1],
)
