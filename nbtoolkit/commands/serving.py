"""``nbt serve NAME`` (foreground, until SIGTERM) and ``%nbt serve NAME --background`` (a child process)."""

from __future__ import annotations

import argparse
from typing import Any

from . import Command, Context, require_signature_option


def _serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="registered model name (NAME@champion is served)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    p.add_argument("--traffic", type=float, default=0.1, metavar="SHARE",
                   help="share of ids routed to NAME@challenger when it exists (default 0.1)")
    p.add_argument("--threshold", type=float, metavar="CONFIDENCE",
                   help="hand predictions under this confidence to a human (default: the serving "
                        "version's saved threshold)")
    p.add_argument("--predictions-url", metavar="URL", help="prediction-log SQLAlchemy URL (default: "
                   "NBT_PREDICTIONS_URL or <home>/predictions.db)")
    p.add_argument("--log-url", dest="predictions_url", help=argparse.SUPPRESS)  # SPEC §9 spelling
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--champion", default="champion", metavar="ALIAS", help="champion alias (default champion)")
    p.add_argument("--challenger", default="challenger", metavar="ALIAS",
                   help="challenger alias (default challenger)")
    p.add_argument("--poll", type=float, default=5.0, metavar="SECONDS",
                   help="how often aliases are re-read: a promote/rollback takes effect within it (default 5)")
    p.add_argument("--alert", action="append", default=[], metavar="RULE",
                   help="live alert rule over the rolling window, as nbt monitor: 'human_share>0.4', "
                        "'anomaly:volume' (repeatable)")
    p.add_argument("--webhook", metavar="URL", help="POST fired alerts here (JSON)")
    p.add_argument("--window", default="1h", help="rolling monitoring window (default 1h)")
    p.add_argument("--monitor-interval", type=float, default=30.0, metavar="SECONDS",
                   help="how often the window is evaluated (default 30)")
    p.add_argument("--max-body", default="5MB", metavar="SIZE", help="request body limit (default 5MB)")
    p.add_argument("--log-batch", type=int, default=1000, metavar="ROWS", help="rows per log transaction (1000)")
    p.add_argument("--log-queue", type=int, default=50_000, metavar="ROWS",
                   help="rows waiting for the log before requests get 503 (default 50000)")
    p.add_argument("--log-linger", type=float, default=0.05, metavar="SECONDS",
                   help="wait this long for more rows before writing a small batch (default 0.05)")
    p.add_argument("--journal-dir", metavar="DIR", help="where served rows are journaled until logged "
                   "(default <home>/serve/NAME)")
    p.add_argument("--journal-sync", action="store_true", help="fdatasync each request's journal line before "
                   "answering (an answered prediction survives a power loss; one disk flush per request)")
    p.add_argument("--access-log", action="store_true", help="log every request (uvicorn access log)")
    require_signature_option(p)


def _serve_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return dict(host=args.host, port=args.port, traffic=args.traffic, threshold=args.threshold,
                predictions_url=args.predictions_url, workers=args.workers, champion=args.champion,
                challenger=args.challenger, poll_interval=args.poll, alerts=args.alert, webhook=args.webhook,
                window=args.window, monitor_interval=args.monitor_interval, max_body=args.max_body,
                log_batch=args.log_batch, log_queue_rows=args.log_queue, log_linger=args.log_linger,
                journal_dir=args.journal_dir, journal_sync=args.journal_sync, access_log=args.access_log,
                require_signature=args.require_signature)


def _serve_cli(args: argparse.Namespace, ctx: Context) -> Any:
    from ..serving import serve

    return serve(args.name, **_serve_kwargs(args))


def _serve_magic_args(p: argparse.ArgumentParser) -> None:
    _serve_args(p)
    p.add_argument("--background", action="store_true",
                   help="run the server as a separate process for this session and return its handle")


def _serve_magic(args: argparse.Namespace, ctx: Context) -> Any:
    from ..errors import BadInput
    from ..serving import serve

    if not args.background:
        raise BadInput(f"%nbt serve {args.name} would block the kernel; add --background to run the server "
                       f"next to the notebook (or run `nbt serve {args.name}` in a terminal).")
    return serve(args.name, background=True, **_serve_kwargs(args))


_HELP = ("Serve NAME@champion (and @challenger for --traffic of ids) over HTTP: MLflow scoring protocol on "
         "/invocations, /outcomes, /health, /metrics; aliases move live; every prediction logged.")

MAGIC_COMMANDS = (Command("serve", _HELP + " Needs --background in a notebook.", _serve_magic_args, _serve_magic),)
CLI_COMMANDS = (Command("serve", _HELP + " Runs until SIGTERM / Ctrl-C (the log is drained first).",
                        _serve_args, _serve_cli),)
