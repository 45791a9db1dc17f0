"""``make demo`` / ``python -m nbtoolkit.demo``: the support-ticket example end to end.

Runs ``notebooks/pipeline.yaml`` (ingest → train → evaluate → monitor → feedback) through
:func:`nbtoolkit.run_pipeline` on the configured store, then writes one HTML summary report —
pipeline steps, model versions, evaluation, threshold, drift and monitoring windows with alerts,
the A/B verdict — and prints where it and the executed notebooks are.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import config


def default_pipeline() -> Path:
    """``notebooks/pipeline.yaml`` of the project (or of the source checkout nbtoolkit runs from)."""
    for root in (config.project_root(), Path(__file__).resolve().parents[1]):
        path = root / "notebooks" / "pipeline.yaml"
        if path.exists():
            return path
    return config.project_root() / "notebooks" / "pipeline.yaml"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nbtoolkit.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", type=Path, default=None, help="pipeline file (default notebooks/pipeline.yaml)")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="k=v",
                        help="parameter override, as for nbt run (repeatable)")
    parser.add_argument("--force", action="store_true", help="rerun every step (default: reuse cached steps)")
    parser.add_argument("--output", type=Path, default=None, help="report file (default <home>/reports/...)")
    args = parser.parse_args(argv)

    from .commands import parse_kv, parse_scalar
    from .errors import NbtError
    from .pipeline import TqdmProgress, run_pipeline

    pipeline = args.pipeline or default_pipeline()
    started = time.perf_counter()
    try:
        params = {k: parse_scalar(v) for k, v in parse_kv(args.param, what="parameter", flag="-p").items()}
        print(f"Running the support-ticket example: {pipeline}", file=sys.stderr)
        run = run_pipeline(pipeline, parameters=params, force=args.force,
                           progress=TqdmProgress(file=sys.stderr), raise_on_failure=False)
    except NbtError as exc:
        print(f"demo: {' '.join(str(exc).split())}", file=sys.stderr)
        return exc.exit_code
    wall = time.perf_counter() - started
    print(str(run))
    if not run.passed:
        print(f"demo: the pipeline failed; see the executed notebooks in {run.run_dir}", file=sys.stderr)
        return 1
    # The report re-reads monitoring; its alerts were already reported by the monitor step.
    import logging

    monitoring_log = logging.getLogger("nbtoolkit.monitoring")
    level = monitoring_log.level
    monitoring_log.setLevel(logging.ERROR)
    try:
        out = args.output or config.home() / "reports" / f"{run.pipeline}-{run.run_id}.html"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(summary_html(run, wall_seconds=wall), encoding="utf-8")
    finally:  # main() is also called in-process (tests, notebooks): leave logging as it was
        monitoring_log.setLevel(level)
    print(f"\nExecuted notebooks: {run.run_dir}")
    print(f"HTML report:        {out}")
    print(f"Demo wall time:     {wall:.0f} s")
    return 0


# ------------------------------------------------------------------------------ the report
def summary_html(run: Any, *, wall_seconds: float | None = None) -> str:
    """One self-contained HTML page summarising a run of the support-ticket pipeline
    (``reports/templates/demo.html.j2``; every value is escaped there)."""
    from .reports.render import render

    outputs = run.outputs
    model = _model_name(outputs)
    blocks: list[tuple[str, Any]] = [("h2", "Pipeline steps"), ("html", _steps_table(run))]
    blocks += _section("Model versions", lambda: _html(_versions(model)))
    ev = outputs.get("evaluate", {})
    if ev:
        facts = [("evaluated", ev.get("ref")), ("accuracy", _num(ev.get("accuracy"))),
                 ("macro F1", _num(ev.get("macro_f1"))), ("human hand-off threshold", _num(ev.get("threshold"))),
                 ("edge-case suite passed", ev.get("suite_passed"))]
        blocks += [("h2", "Evaluation"), _facts(facts)]
        blocks += _section(None, lambda: _html(_read(ev.get("evaluation_html"))))
    mon = outputs.get("monitor", {})
    if mon:
        blocks += [("h2", "Monitoring: drift, windows and alerts"),
                   _facts([("served", mon.get("served")), ("share routed to humans", _pct(mon.get("human_share"))),
                           ("alerts fired", mon.get("alerts")),
                           ("rules that fired", ", ".join(mon.get("alert_rules") or []))])]
        blocks += _section(None, lambda: _image(mon.get("monitoring_png")))
        blocks += _section(None, lambda: _html(_monitoring(mon)))
        if mon.get("estimate_png"):
            inside = mon.get("estimate_inside_band")
            blocks += [("h3", "Label-free estimate per day (calibrated on the test tickets, ±3 se band)"),
                       _facts([("days with realised accuracy inside the band", _pct(inside)),
                               ("days whose estimate left its alert limits", mon.get("estimate_alerts"))])]
            blocks += _section(None, lambda: _image(mon.get("estimate_png")))
    fb = outputs.get("feedback", {})
    if fb:
        blocks += [("h2", "Feedback loop and A/B test"),
                   _facts([("corrections fed back", fb.get("corrections")), ("challenger", fb.get("challenger")),
                           ("accuracy difference (challenger - champion)", _num(fb.get("accuracy_difference"))),
                           ("p-value", _num(fb.get("p_value"))),
                           ("recommendation", str(fb.get("recommendation", "")).upper()),
                           ("champion after the run", fb.get("champion_after"))])]
        blocks += _section(None, lambda: _html(_abtest(model, fb)))
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
             "h2{border-bottom:1px solid #ccc;margin-top:1.6em} table{margin:.5em 0}")
    return render("demo.html.j2", run_id=run.run_id, summary=run.summary(), wall_seconds=wall_seconds,
                  blocks=blocks, style=style)


def _section(title: str | None, build: Any) -> list[tuple[str, Any]]:
    """A report section that says why it is missing instead of failing the whole report."""
    head = [("h2", title)] if title else []
    try:
        return head + [build()]
    except Exception as exc:  # the report is a summary; one missing part must not lose the rest
        return head + [("unavailable", f"{type(exc).__name__}: {' '.join(str(exc).split())}")]


def _html(markup: str) -> tuple[str, Any]:
    """A report's own HTML (already escaped by its template), shown as is."""
    from .reports.render import safe

    return ("html", safe(markup))


def _model_name(outputs: dict[str, dict[str, Any]]) -> str:
    for step in ("train", "evaluate"):
        ref = outputs.get(step, {}).get("ref")
        if ref:
            return str(ref).split("/")[0]
    return "tickets"


def _steps_table(run: Any) -> Any:
    from .reports.render import Cell, Row, macro, safe, table

    rows = []
    for name, rec in run.steps.items():
        nb = rec.get("executed_notebook") or rec.get("notebook") or ""
        link = (Cell(safe(macro("fragments.html.j2", "link", href=Path(nb).as_uri(), text=Path(nb).name)))
                if nb and Path(nb).is_absolute() else str(nb))
        rows.append(Row([name, str(rec.get("status")), f"{_num(rec.get('duration'))} s", link], style=""))
    return safe(table(["step", "status", "duration", "executed notebook"], rows))


def _versions(model: str) -> str:
    from .registry import versions

    return versions(model)._repr_html_()


def _monitoring(mon: dict[str, Any]) -> str:
    from .monitoring import monitor

    saved = json.loads(Path(mon["monitoring_json"]).read_text())
    champion = str(mon.get("champion", "")).split("/")
    report = monitor(champion[0], window=saved.get("window", "1D"), version=champion[1],
                     alerts=saved.get("rules", []))
    return report._repr_html_()


def _abtest(model: str, fb: dict[str, Any]) -> str:
    from .monitoring import abtest

    saved = json.loads(Path(fb["abtest_json"]).read_text())
    report = abtest(model, champion_version=saved["champion"]["version"],
                    challenger_version=saved["challenger"]["version"],
                    min_samples=saved.get("min_samples", 200), alpha=saved.get("alpha", 0.05))
    return report._repr_html_()


def _image(path: str | None) -> tuple[str, str]:
    return ("image", base64.b64encode(Path(str(path)).read_bytes()).decode())


def _read(path: str | None) -> str:
    return Path(str(path)).read_text(encoding="utf-8")


def _facts(items: list[tuple[str, Any]]) -> tuple[str, Any]:
    """Label / value pairs (values in bold) as the shared table; missing values left out."""
    from .reports.render import Cell, Row, safe, table

    return ("html", safe(table(None, [Row([k, Cell(str(v), "font-weight:bold")], style="")
                                      for k, v in items if v is not None])))


def _num(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return str(value)


def _pct(value: Any) -> str | None:
    return None if value is None else f"{float(value):.1%}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
