"""``make demo`` / ``python -m nbtoolkit.demo``: the support-ticket example end to end.

Runs ``notebooks/pipeline.yaml`` (ingest → train → evaluate → monitor → feedback) through
:func:`nbtoolkit.run_pipeline` on the configured store, then writes one HTML report telling the
run as a story — a line per step, then a section per step in pipeline order (evaluation and
threshold, the monitor step's windows with its alerts grouped by rule, the A/B verdict), then the
registry — and prints where it and the executed notebooks are.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import config
from .reports.demo_page import (alert_groups, alerts_table, day, facts, html, image, metrics_table, num, pct,
                                read_text, windows_table)


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
    # the report reads what the steps saved (monitoring is not re-run, so no alert fires twice)
    out = args.output or config.home() / "reports" / f"{run.pipeline}-{run.run_id}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(summary_html(run, wall_seconds=wall), encoding="utf-8")
    print(f"\nExecuted notebooks: {run.run_dir}")
    print(f"HTML report:        {out}")
    print(f"Demo wall time:     {wall:.0f} s")
    return 0


# ------------------------------------------------------------------------------ the report
#: the pipeline's steps in order, with the title of their section of the report
STEPS = (("ingest", "Ingest the tickets"), ("train", "Train the classifier"),
         ("evaluate", "Evaluate, pick the hand-off threshold, promote"),
         ("monitor", "Serve and monitor the champion"),
         ("feedback", "Feed corrections back: challenger, canary, A/B test"))


def summary_html(run: Any, *, wall_seconds: float | None = None) -> str:
    """One self-contained HTML page telling a run of the support-ticket pipeline as a story
    (``reports/templates/demo.html.j2``; every value is escaped there): what happened in one
    line per step, then one section per step in pipeline order, then the registry after the run.

    A cached step links the executed notebook of the earlier run that produced it. Monitoring is
    shown once, as the monitor step saw it (its saved report: the champion's own days of traffic).
    """
    from .reports.render import render

    outputs = run.outputs
    model = _model_name(outputs)
    sections: list[dict[str, Any]] = []
    for number, (step, title) in enumerate(STEPS, 1):
        if step not in run.steps:
            continue
        build = _SECTIONS[step]
        sections.append({"id": step, "title": f"{number} · {title}", "meta": _step_meta(run, step),
                         "blocks": _guarded(functools.partial(build, run, outputs.get(step) or {}, model))})
    sections.append({"id": "registry", "title": f"The registry after the run: {model}", "meta": None,
                     "blocks": _guarded(lambda: _registry(model))})
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#202124}"
             "h2{border-bottom:1px solid #ccc;margin-top:1.8em} h3{margin:1.2em 0 .3em} table{margin:.3em 0}"
             # a wide table scrolls inside its box rather than widening the page or wrapping dates
             ".nbt-box{overflow-x:auto;max-width:100%} .nbt-box td{white-space:nowrap}"
             ".nbt-meta{color:#5f6368;font-size:13px;margin-top:-.4em} .nbt-story li{margin:.25em 0}"
             "details>summary{cursor:pointer;color:#1a73e8;margin:.6em 0}")
    return render("demo.html.j2", run_id=run.run_id, summary=run.summary(), wall_seconds=wall_seconds,
                  story=_story(run, outputs), steps_table=_steps_table(run), sections=sections, style=style)


# each step's section: (run, its outputs, model name) -> blocks (kind, value); see demo.html.j2
def _ingest(run: Any, out: dict[str, Any], model: str) -> list[tuple[str, Any]]:
    categories = out.get("categories") or []
    return [("text", ("Seeded support tickets (subject, body, channel, tier), split by time: the last quarter "
                      "is held out as the test set; the test batch is checked against the training data's "
                      "contract.")),
            facts([("training tickets", out.get("n_train")), ("test tickets", out.get("n_test")),
                   ("categories", ", ".join(map(str, categories)) or None)])]


def _train(run: Any, out: dict[str, Any], model: str) -> list[tuple[str, Any]]:
    return [("text", ("TF-IDF of subject and body plus channel and tier into a logistic regression, registered "
                      "with its training data (fingerprint, schema, contract, drift profile).")),
            facts([("registered", out.get("ref")), ("training accuracy", num(out.get("train_accuracy")))])]


def _evaluate(run: Any, ev: dict[str, Any], model: str) -> list[tuple[str, Any]]:
    gate = (run.steps["evaluate"].get("parameters") or {}).get("gate_accuracy")
    blocks = [facts([("evaluated on the test tickets", ev.get("ref")), ("accuracy", num(ev.get("accuracy"))),
                     ("macro F1", num(ev.get("macro_f1"))),
                     ("human hand-off threshold (confidence below it goes to an agent)", num(ev.get("threshold"))),
                     ("edge-case suite passed", ev.get("suite_passed")),
                     ("promoted to @champion", (f"{ev.get('ref')} (gate test.accuracy >= {gate})"
                                                if ev.get("ref") and gate is not None else None))])]
    if ev.get("evaluation_html"):
        title = ("The full evaluation: metrics, per class, confusion matrix, slices by channel and tier, "
                 "edge cases, coverage by threshold")
        blocks.append(("details", (title, html(read_text(ev.get("evaluation_html"))))))
    return blocks


def _monitor(run: Any, mon: dict[str, Any], model: str) -> list[tuple[str, Any]]:
    from .reports.monitoring import MonitorReport

    report = MonitorReport(**json.loads(Path(mon["monitoring_json"]).read_text(encoding="utf-8")))
    frame = report.to_frame()
    days = f"{len(report.windows)} window(s) of {report.window}"
    if report.windows:
        days += f", {day(report.windows[0]['window_start'])} to {day(report.windows[-1]['window_start'])}"
    groups = alert_groups(report.alerts)
    drift_day = (run.steps["monitor"].get("parameters") or {}).get("drift_from_day")
    drift = f"; the world changes from day {drift_day + 1} on" if isinstance(drift_day, int) else ""
    blocks: list[tuple[str, Any]] = [
        ("text", (f"What the monitor step saw: the live traffic served by the champion {mon.get('champion')} "
                  f"({days}), before the canary of step 5{drift}. The same report as nbt monitor over those days.")),
        facts([("predictions served", mon.get("served")), ("share routed to humans", pct(mon.get("human_share"))),
               ("windows", len(report.windows)),
               ("alerts fired", (f"{len(report.alerts)} in {len({a.window_start for a in report.alerts})} "
                                 f"window(s), from {len(groups)} rule(s)" if report.alerts else "none"))]),
    ]
    if mon.get("monitoring_png"):
        blocks.append(_guarded_one(lambda: image(mon.get("monitoring_png"), f"{model}: quality per window")))
    if groups:
        blocks += [("h3", "Alerts by rule"), ("html", alerts_table(groups))]
    blocks.append(("details", (f"Every window ({len(frame)})", ("html", windows_table(frame)))))
    if mon.get("estimate_png"):
        blocks += [("h3", "Label-free accuracy estimate per day (calibrated on the test tickets, ±3 se band)"),
                   facts([("days with realised accuracy inside the band", pct(mon.get("estimate_inside_band"))),
                          ("days whose estimate left its alert limits", mon.get("estimate_alerts"))]),
                   _guarded_one(lambda: image(mon.get("estimate_png"), "label-free estimate per day"))]
    return blocks


def _feedback(run: Any, fb: dict[str, Any], model: str) -> list[tuple[str, Any]]:
    return [("text", ("The tickets agents corrected train a challenger, served to a canary share of a week of "
                      "traffic; the A/B test on that week recommends, and the run acts on it.")),
            facts([("corrections fed back", fb.get("corrections")), ("challenger", fb.get("challenger")),
                   ("accuracy difference (challenger - champion)", num(fb.get("accuracy_difference"))),
                   ("p-value", num(fb.get("p_value"))),
                   ("recommendation", str(fb.get("recommendation", "")).upper() or None),
                   ("champion after the run", fb.get("champion_after"))]),
            ("h3", "A/B test on the canary week"),
            _guarded_one(lambda: html(_abtest(model, fb)))]


_SECTIONS = {"ingest": _ingest, "train": _train, "evaluate": _evaluate, "monitor": _monitor, "feedback": _feedback}


def _story(run: Any, outputs: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    """One line per step, in pipeline order: (section id, step, what it did)."""
    ing, tr, ev = outputs.get("ingest") or {}, outputs.get("train") or {}, outputs.get("evaluate") or {}
    mon, fb = outputs.get("monitor") or {}, outputs.get("feedback") or {}
    said = {
        "ingest": ing and f"{ing.get('n_train')} training and {ing.get('n_test')} test tickets generated and checked",
        "train": tr and f"{tr.get('ref')} registered (training accuracy {num(tr.get('train_accuracy'))})",
        "evaluate": ev and (f"{ev.get('ref')}: accuracy {num(ev.get('accuracy'))} on the test tickets, "
                            f"hand-off threshold {num(ev.get('threshold'))}, promoted to @champion"),
        "monitor": mon and (f"{mon.get('served')} live tickets served by {mon.get('champion')}; "
                            f"{mon.get('alerts')} alert(s) from "
                            f"{', '.join(mon.get('alert_rules') or []) or 'no rule'}"),
        "feedback": fb and (f"{fb.get('corrections')} corrections trained {fb.get('challenger')}; A/B: "
                            f"{str(fb.get('recommendation', '')).upper()} "
                            f"(difference {num(fb.get('accuracy_difference'))}, p {num(fb.get('p_value'))}); "
                            f"champion now {fb.get('champion_after')}"),
    }
    lines = []
    for step, _ in STEPS:
        if step in run.steps:
            status = str(run.steps[step].get("status"))
            if status in ("ok", "cached"):
                text = said.get(step) or status
            else:
                text = ": ".join(x for x in (status, (run.steps[step].get("error") or {}).get("line")) if x)
            lines.append((step, step, text))
    return lines


def _step_meta(run: Any, step: str) -> tuple[str, str | None, str]:
    """Under a section's title: the step's status and duration, and its executed notebook as
    ``(text, href, file name)`` (a cached step's is the notebook of the run it reused)."""
    rec = run.steps[step]
    status = str(rec.get("status"))
    text = f"step {step}: {status}"
    if status == "ok" and isinstance(rec.get("duration"), (int, float)):
        text += f" in {rec['duration']:.1f} s"
    path, source = run.notebook_of(step)
    if status == "cached":
        text += f", reused from run {source}"
    if path and Path(path).is_absolute():
        return text, Path(path).as_uri(), Path(path).name
    return text, None, ""


def _guarded(build: Any) -> list[tuple[str, Any]]:
    """A section's blocks, or why it is missing: one missing part must not lose the rest."""
    try:
        return list(build())
    except Exception as exc:  # the report is a summary of files and a store that may be gone
        return [("unavailable", f"{type(exc).__name__}: {' '.join(str(exc).split())}")]


def _guarded_one(build: Any) -> tuple[str, Any]:
    return _guarded(lambda: [build()])[0]


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
        nb, source = run.notebook_of(name)
        link = (Cell(safe(macro("fragments.html.j2", "link", href=Path(nb).as_uri(), text=Path(nb).name)))
                if nb and Path(nb).is_absolute() else str(nb or ""))
        step = Cell(safe(macro("fragments.html.j2", "link", href=f"#{name}", text=name))) \
            if name in _SECTIONS else name
        status = str(rec.get("status"))
        duration = f"{rec.get('duration'):.1f} s" if isinstance(rec.get("duration"), (int, float)) \
            and status != "cached" else ""
        made = "this run" if source == run.run_id else f"run {source}"
        rows.append(Row([step, status, duration, link, made], tone=_TONE.get(status, "")))
    return safe(table(["step", "status", "duration", "executed notebook", "notebook from"], rows))


_TONE = {"cached": "info", "failed": "bad", "skipped": "muted"}


def _registry(model: str) -> list[tuple[str, Any]]:
    from .registry import resolve, run_metrics, versions

    blocks: list[tuple[str, Any]] = []
    try:
        champion = resolve(f"{model}@champion")
    except Exception:  # no champion (the gate refused): the table alone says so
        champion = None
    if champion is not None:
        blocks += [facts([("@champion", f"{model}/{champion.version}")]),
                   ("html", metrics_table(run_metrics(champion)))]
    blocks.append(html(versions(model)._repr_html_()))
    return blocks


def _abtest(model: str, fb: dict[str, Any]) -> str:
    from .monitoring import abtest

    saved = json.loads(Path(fb["abtest_json"]).read_text())
    report = abtest(model, champion_version=saved["champion"]["version"],
                    challenger_version=saved["challenger"]["version"],
                    min_samples=saved.get("min_samples", 200), alpha=saved.get("alpha", 0.05))
    return report._repr_html_()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
