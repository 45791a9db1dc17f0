"""``make demo`` / ``python -m nbtoolkit.demo``: the support-ticket example, as a continuous loop.

1. ``notebooks/pipeline.yaml`` — ingest, train, evaluate: the first ``@champion`` (cached on a rerun);
2. the ticket generator writes the days under ``notebooks/data/tickets/date=YYYY-MM-DD/`` (each
   day's tickets and yesterday's outcomes; a day already written is kept);
3. ``nbt serve tickets --rollout ...`` in the background, and ``notebooks/daily.yaml --pending``
   through it: each new day served, yesterday's outcomes sent, the rollout moved on them; a drift
   alert starts ``notebooks/retrain.yaml``, whose challenger the server then rolls out;
4. ``notebooks/monitor.yaml`` — the review of the served days;
5. one HTML report (:mod:`nbtoolkit.demo_report`): the timeline day by day, each part, the registry.

A second run finds no new day: nothing is served or retrained, and the report is written again.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import config

#: the example's days (notebooks/data/tickets): how many, tickets per day, the day the world changes
DAYS, PER_DAY, DRIFT_FROM_DAY = 14, 300, 5


def default_pipeline() -> Path:
    """``notebooks/pipeline.yaml`` of the project (or of the source checkout nbtoolkit runs from)."""
    for root in (config.project_root(), Path(__file__).resolve().parents[1]):
        path = root / "notebooks" / "pipeline.yaml"
        if path.exists():
            return path
    return config.project_root() / "notebooks" / "pipeline.yaml"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nbtoolkit.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", type=Path, default=None,
                        help="the bootstrap pipeline file (default notebooks/pipeline.yaml); daily.yaml, "
                             "retrain.yaml and monitor.yaml are read beside it")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="k=v",
                        help="parameter override of the bootstrap, as for nbt run (repeatable)")
    parser.add_argument("--days", type=int, default=DAYS, help=f"days of tickets to write (default {DAYS})")
    parser.add_argument("--per-day", type=int, default=PER_DAY, help=f"tickets per day (default {PER_DAY})")
    parser.add_argument("--force", action="store_true", help="rerun every bootstrap step (default: reuse cached steps)")
    parser.add_argument("--output", type=Path, default=None, help="report file (default <home>/reports/...)")
    args = parser.parse_args(argv)

    from .commands import parse_kv, parse_scalar
    from .errors import NbtError

    pipeline = (args.pipeline or default_pipeline()).resolve()
    started = time.perf_counter()
    try:
        params = {k: parse_scalar(v) for k, v in parse_kv(args.param, what="parameter", flag="-p").items()}
        runs = run_example(pipeline, params, days=args.days, per_day=args.per_day, force=args.force)
    except NbtError as exc:
        print(f"demo: {' '.join(str(exc).split())}", file=sys.stderr)
        return exc.exit_code
    wall = time.perf_counter() - started
    for run in runs.values():
        if run is not None:
            print(str(run))
    failed = next((run for run in runs.values() if run is not None and not run.passed), None)
    if failed is not None:
        where = getattr(failed, "run_dir", None) or getattr(failed, "watermark", "")
        print(f"demo: the pipeline {failed.pipeline!r} failed; see the executed notebooks in {where}", file=sys.stderr)
        return 1
    bootstrap = runs["bootstrap"]
    out = args.output or config.home() / "reports" / f"{bootstrap.pipeline}-{bootstrap.run_id}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    from .demo_report import summary_html

    out.write_text(summary_html(bootstrap, pipeline, review=runs.get("review"), wall_seconds=wall), encoding="utf-8")
    print(f"\nExecuted notebooks: {bootstrap.run_dir}")
    print(f"HTML report:        {out}")
    for picture in sorted((config.home() / "reports").glob("*-timeline.png")):
        print(f"Timeline picture:   {picture}")
    print(f"Demo wall time:     {wall:.0f} s")
    return 0


def run_example(pipeline: Path, params: dict[str, Any], *, days: int = DAYS, per_day: int = PER_DAY,
                force: bool = False) -> dict[str, Any]:
    """The bootstrap, the new days through a served model, the review: their runs by part
    (``bootstrap``, ``daily``, ``review``; a part not run is None)."""
    from .demo_report import partitions
    from .examples.tickets import write_days
    from .pipeline import TqdmProgress, load_pipeline, run_pipeline

    progress = TqdmProgress(file=sys.stderr)
    folder = pipeline.parent
    print(f"Running the support-ticket example: {pipeline}", file=sys.stderr)
    runs: dict[str, Any] = {"bootstrap": run_pipeline(pipeline, parameters=params, force=force, progress=progress,
                                                      raise_on_failure=False), "daily": None, "review": None}
    if not runs["bootstrap"].passed:
        return runs
    written = write_days(folder / "data" / "tickets", days=days, per_day=per_day, drift_from_day=DRIFT_FROM_DAY)
    if written:
        print(f"The ticket generator wrote {len(written)} day(s): {written[0]} .. {written[-1]}", file=sys.stderr)
    daily = load_pipeline(folder / "daily.yaml")
    model = str(daily.parameters.get("model_name", "tickets"))
    pending = [r for r in partitions(daily) if r["status"] != "done"]
    if pending:
        # one server for all the days: the rollout settings are daily.yaml's parameters (its notebook
        # starts a server with the same ones when run without serve_url)
        from .serving.server import serve

        print(f"{len(pending)} new day(s): serving {model}@champion with a staged rollout", file=sys.stderr)
        server = serve(model, port=0, background=True, rollout=str(daily.parameters["rollout"]),
                       rollout_min_samples=int(daily.parameters["rollout_min_samples"]),
                       rollout_margin=float(daily.parameters["rollout_margin"]),
                       poll_interval=0.2)
        assert not isinstance(server, int)  # background=True: a handle
        try:
            runs["daily"] = run_pipeline(daily.path, pending=True, parameters={"serve_url": server.url},
                                         progress=progress, raise_on_failure=False)
        finally:
            server.stop()
        if not runs["daily"].passed:
            return runs
    else:
        runs["daily"] = run_pipeline(daily.path, pending=True, raise_on_failure=False)  # nothing new: a read
    done = [r["partition"] for r in partitions(daily) if r["status"] == "done"]
    runs["review"] = run_pipeline(folder / "monitor.yaml", parameters={"through": done[-1] if done else ""},
                                  progress=progress, raise_on_failure=False)
    return runs


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
