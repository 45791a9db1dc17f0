"""The HTML report of ``make demo`` (:mod:`nbtoolkit.demo`): the support-ticket loop as a story.

:func:`summary_html` reads what the store recorded — the bootstrap's run, each processed day's
outputs (the watermark of ``daily.yaml`` and its runs), the triggers that fired with the retraining
runs they started, the rollout's moves, the review's saved monitoring — so a second run, which
processes no new day, tells the same story. Blocks and number formats: :mod:`.reports.demo_page`;
the day-by-day timeline: :mod:`.reports.timeline`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import config
from .reports.demo_page import (alert_groups, alerts_table, facts, html, image, metrics_table, num, pct, read_text,
                                windows_table)


def partitions(daily: Any) -> list[dict[str, Any]]:
    """The partition rows of the daily pipeline (``nbt pipeline status``): partition, status, last_run."""
    from .pipeline import pipeline_status

    return list(pipeline_status(daily.path).partitions or [])


def summary_html(run: Any, pipeline: Path, *, review: Any = None,
                 wall_seconds: float | None = None) -> str:
    """One self-contained HTML page telling the example as a story (``reports/templates/demo.html.j2``;
    every value is escaped there): a line per part, the steps, the bootstrap's sections, the days as
    a timeline, the retraining the drift started, the rollout's moves, the review, the registry.

    ``run`` is the bootstrap's run; the days, triggers and rollout are read from what the store
    recorded (so a second run, which processes no new day, shows them too). A cached step links
    the executed notebook of the earlier run that produced it.
    """
    from .reports.render import render

    folder = pipeline.parent
    outputs = run.outputs
    model = _model_name(outputs)
    loop = _loop(folder, model)
    sections: list[dict[str, Any]] = []
    for number, (step, title) in enumerate(STEPS, 1):
        if step not in run.steps:
            continue
        build = _SECTIONS[step]
        sections.append({"id": step, "title": f"{number} · {title}", "meta": _step_meta(run, step),
                         "blocks": _guarded(functools.partial(build, run, outputs.get(step) or {}, model))})
    sections.append({"id": "days", "title": "4 · Day by day: served, monitored, retrained, rolled out", "meta": None,
                     "blocks": _guarded(lambda: _days(loop, model, review.outputs.get("monitor") if review else None))})
    sections.append({"id": "retrain", "title": "5 · The drift alert retrains on the corrected tickets", "meta": None,
                     "blocks": _guarded(lambda: _retrain(loop))})
    sections.append({"id": "rollout", "title": "6 · The staged rollout, decided by outcomes", "meta": None,
                     "blocks": _guarded(lambda: _rollout(loop))})
    if review is not None and "monitor" in review.steps:
        sections.append({"id": "review", "title": "7 · Review of the served days",
                         "meta": _step_meta(review, "monitor"),
                         "blocks": _guarded(lambda: _review(review.outputs.get("monitor") or {}, model))})
    sections.append({"id": "registry", "title": f"The registry after the run: {model}", "meta": None,
                     "blocks": _guarded(lambda: _registry(model))})
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#202124}"
             "h2{border-bottom:1px solid #ccc;margin-top:1.8em} h3{margin:1.2em 0 .3em} table{margin:.3em 0}"
             # a wide table scrolls inside its box rather than widening the page or wrapping dates
             ".nbt-box{overflow-x:auto;max-width:100%} .nbt-box td{white-space:nowrap}"
             ".nbt-meta{color:#5f6368;font-size:13px;margin-top:-.4em} .nbt-story li{margin:.25em 0}"
             "details>summary{cursor:pointer;color:#1a73e8;margin:.6em 0}")
    runs = [r for r in (run, review) if r is not None]
    return render("demo.html.j2", run_id=run.run_id, summary=run.summary(), wall_seconds=wall_seconds,
                  story=_story(run, outputs, loop, review), steps_table=_steps_table(runs), sections=sections,
                  style=style)


#: the bootstrap's steps in order, with the title of their section of the report
STEPS = (("ingest", "Ingest the tickets"), ("train", "Train the classifier"),
         ("evaluate", "Evaluate, pick the hand-off threshold, calibrate, promote"))


def _loop(folder: Path, model: str) -> dict[str, Any]:
    """What the store recorded of the continuous part: each done day's outputs, the triggers that
    fired from daily.yaml with the retraining runs they started, the rollout's moves."""
    from .pipeline import load_pipeline
    from .pipeline.cache import read_run, runs_folder
    from .pipeline.triggers import fired

    out: dict[str, Any] = {"days": {}, "day_runs": {}, "fired": [], "retrains": {}, "moves": []}
    daily_file = folder / "daily.yaml"
    if not daily_file.exists():
        return out
    daily = load_pipeline(daily_file)
    runs = runs_folder(daily.name)
    for row in partitions(daily):
        if row["status"] == "done" and row.get("last_run"):
            record = read_run(runs / str(row["last_run"]) / "run.json") or {}
            out["days"][row["partition"]] = ((record.get("steps") or {}).get("day") or {}).get("outputs") or {}
            out["day_runs"][row["partition"]] = row["last_run"]
    out["fired"] = [f for f in fired(source=str(daily.path)) if f.get("pipeline_run")]
    if (folder / "retrain.yaml").exists():
        retrain = runs_folder(load_pipeline(folder / "retrain.yaml").name)
        for f in out["fired"]:
            record = read_run(retrain / str(f["pipeline_run"]) / "run.json") or {}
            out["retrains"][f["pipeline_run"]] = {name: step.get("outputs") or {}
                                                  for name, step in (record.get("steps") or {}).items()}
    from .serving.rollout import history

    try:
        out["moves"] = history(model)
    except Exception:  # no such model yet: no moves
        out["moves"] = []
    return out


def _timeline(loop: dict[str, Any], model: str, review: dict[str, Any] | None = None) -> list[Any]:
    from .reports.timeline import build_days

    events: dict[str, list[str]] = {}
    for f in loop["fired"]:
        day = str((f.get("evidence") or {}).get("window_start", ""))[:10]
        outputs = loop["retrains"].get(f["pipeline_run"], {}).get("feedback", {})
        events.setdefault(day, []).append(f"drift alert: retrained {outputs.get('challenger', '')}".rstrip())
    return build_days(loop["days"], _monitor_windows(model, review) if loop["days"] else [], events)


def _monitor_windows(model: str, review: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The model's daily monitoring windows: those the review saved when it covered the last day
    processed, else computed over the whole prediction log."""
    saved = (review or {}).get("monitoring_json")
    if saved and Path(saved).exists():
        windows = list(json.loads(Path(saved).read_text(encoding="utf-8")).get("windows") or [])
        if windows and str(windows[-1].get("window_start", ""))[:10] == str((review or {}).get("through")):
            return windows
    from .monitoring import monitor

    return list(monitor(model, window="1D", drift=True, notify=False).windows)


def _days(loop: dict[str, Any], model: str, review: dict[str, Any] | None = None) -> list[tuple[str, Any]]:
    import base64
    import io

    from .reports.timeline import timeline_figure, timeline_table

    if not loop["days"]:
        return [("text", "No day has been processed yet.")]
    days = _timeline(loop, model, review)
    fig = timeline_figure(days, title=f"{model}: {days[0].date} to {days[-1].date}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    picture = config.home() / "reports" / f"{model}-timeline.png"  # also on its own, beside the report
    picture.parent.mkdir(parents=True, exist_ok=True)
    picture.write_bytes(buf.getvalue())
    served = sum(d.served for d in days)
    return [("text", ("notebooks/daily.yaml, one run per day (nbt pipeline run --pending): each day's tickets "
                      "through the running nbt serve, yesterday's outcomes sent back, the rollout moved on them. "
                      "The estimated accuracy needs no labels; the realised one is on the outcomes that came back "
                      "a day later (none yet for the last day).")),
            facts([("days processed", len(days)), ("tickets served", served),
                   ("retraining started by a drift alert", len(loop["fired"]) or "none"),
                   ("rollout moves", len(loop["moves"]) or "none")]),
            ("image", (base64.b64encode(buf.getvalue()).decode("ascii"), "the timeline of the days")),
            ("html", timeline_table(days))]


def _retrain(loop: dict[str, Any]) -> list[tuple[str, Any]]:
    if not loop["fired"]:
        return [("text", "No alert has started retraining yet.")]
    blocks: list[tuple[str, Any]] = []
    for f in reversed(loop["fired"]):  # oldest first
        ev = f.get("evidence") or {}
        fb = loop["retrains"].get(f["pipeline_run"], {}).get("feedback", {})
        blocks += [("text", (f"Rule {f['rule']} held on the day {str(ev.get('window_start', ''))[:10]} "
                             f"({ev.get('metric')} = {num(ev.get('value'))}): notebooks/retrain.yaml ran "
                             f"({f.get('run_status')}) with the trigger and its evidence as parameters.")),
                   facts([("corrected and resolved tickets fed back", fb.get("corrections")),
                          ("trained on (original + corrections)", fb.get("trained_on")),
                          ("challenger registered", fb.get("challenger")),
                          ("accuracy difference on held-out corrections (challenger - champion)",
                           num(fb.get("val_accuracy_difference"))),
                          ("verdict on them", fb.get("val_verdict")),
                          ("its hand-off threshold", num(fb.get("threshold")))])]
    return blocks


def _rollout(loop: dict[str, Any]) -> list[tuple[str, Any]]:
    from .reports.render import Row, safe, table

    if not loop["moves"]:
        return [("text", "No challenger has been rolled out yet.")]
    rows = [Row([m.get("ts", ""), m.get("action", ""), f"v{m.get('version')}", f"{m.get('share', 0):g}",
                 m.get("reason", "")], tone={"promote": "good", "rollback": "bad"}.get(str(m.get("action")), ""))
            for m in loop["moves"]]
    return [("text", ("nbt serve --rollout moves the challenger's share of ticket ids stage by stage when its "
                      "outcomes show it is not worse than the champion's (the abtest statistics, over the "
                      "traffic since the stage began), promotes it at the last stage, and rolls it back on a "
                      "significant loss or a live alert. Each move is recorded with the model.")),
            ("html", safe(table(["when", "move", "version", "share", "why"], rows)))]


def _review(mon: dict[str, Any], model: str) -> list[tuple[str, Any]]:
    from .reports.monitoring import MonitorReport

    blocks: list[tuple[str, Any]] = [facts([
        ("days reviewed", mon.get("windows")), ("alerts", mon.get("alerts")),
        ("rules that fired", ", ".join(mon.get("alert_rules") or []) or "none"),
        ("days with the realised accuracy inside the CBPE band", pct(mon.get("estimate_inside_band"))),
        ("days where CBPE and the shift-aware estimate disagree", mon.get("estimate_disagree_days")),
        ("data-quality alerts", mon.get("quality_alerts"))])]
    if mon.get("monitoring_png"):
        blocks.append(_guarded_one(lambda: image(mon.get("monitoring_png"), f"{model}: quality per day")))
    if mon.get("monitoring_json"):
        report = MonitorReport(**json.loads(Path(mon["monitoring_json"]).read_text(encoding="utf-8")))
        groups = alert_groups(report.alerts)
        if groups:
            blocks += [("h3", "Alerts by rule"), ("html", alerts_table(groups))]
        frame = report.to_frame()
        blocks.append(("details", (f"Every window ({len(frame)})", ("html", windows_table(frame)))))
    if mon.get("estimate_png"):
        blocks += [("h3", "The first champion's days: CBPE and the shift-aware estimate beside the realised accuracy"),
                   _guarded_one(lambda: image(mon.get("estimate_png"), "label-free estimate per day"))]
    if mon.get("quality_png"):
        blocks += [("h3", "Data quality per day: categories the test tickets never saw"),
                   _guarded_one(lambda: image(mon.get("quality_png"), "unseen categories per day"))]
    return blocks


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


_SECTIONS = {"ingest": _ingest, "train": _train, "evaluate": _evaluate}


def _story(run: Any, outputs: dict[str, dict[str, Any]], loop: dict[str, Any],
           review: Any) -> list[tuple[str, str, str]]:
    """One line per part, in order: (section id, part, what it did)."""
    ing, tr, ev = outputs.get("ingest") or {}, outputs.get("train") or {}, outputs.get("evaluate") or {}
    said = {
        "ingest": ing and f"{ing.get('n_train')} training and {ing.get('n_test')} test tickets generated and checked",
        "train": tr and f"{tr.get('ref')} registered (training accuracy {num(tr.get('train_accuracy'))})",
        "evaluate": ev and (f"{ev.get('ref')}: accuracy {num(ev.get('accuracy'))} on the test tickets, "
                            f"hand-off threshold {num(ev.get('threshold'))}, calibrated, promoted to @champion"),
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
    days = sorted(loop["days"])
    if days:
        served = sum(int(loop["days"][d].get("served") or 0) for d in days)
        lines.append(("days", "days", (f"{len(days)} days ({days[0]} to {days[-1]}), {served} tickets served "
                                       "through nbt serve, each day's outcomes sent the next day")))
    for f in reversed(loop["fired"]):
        fb = loop["retrains"].get(f["pipeline_run"], {}).get("feedback", {})
        ev = f.get("evidence") or {}
        lines.append(("retrain", "retrain", (f"drift alert on {str(ev.get('window_start', ''))[:10]} "
                                             f"({ev.get('metric')} = {num(ev.get('value'))}): {fb.get('challenger')} "
                                             f"trained on {fb.get('corrections')} corrected tickets too")))
    if loop["moves"]:
        last = loop["moves"][-1]
        where = "is the champion" if last.get("action") == "promote" else f"serves a share of {last.get('share', 0):g}"
        moves = " → ".join(f"{m.get('action')} {m.get('share', 0):g}" for m in loop["moves"])
        lines.append(("rollout", "rollout", f"{moves}; v{last.get('version')} {where}"))
    if review is not None and "monitor" in review.steps:
        mon = review.outputs.get("monitor") or {}
        lines.append(("review", "review", (f"{mon.get('windows')} days reviewed, {mon.get('alerts')} alert(s) from "
                                           f"{', '.join(mon.get('alert_rules') or []) or 'no rule'}")))
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


def _steps_table(runs: Sequence[Any]) -> Any:
    from .reports.render import Cell, Row, macro, safe, table

    rows = []
    for run in runs:
        for name, rec in run.steps.items():
            nb, source = run.notebook_of(name)
            link = (Cell(safe(macro("fragments.html.j2", "link", href=Path(nb).as_uri(), text=Path(nb).name)))
                    if nb and Path(nb).is_absolute() else str(nb or ""))
            target = name if name in _SECTIONS else "review" if name == "monitor" else None
            step = Cell(safe(macro("fragments.html.j2", "link", href=f"#{target}", text=name))) if target else name
            status = str(rec.get("status"))
            duration = f"{rec.get('duration'):.1f} s" if isinstance(rec.get("duration"), (int, float)) \
                and status != "cached" else ""
            made = "this run" if source == run.run_id else f"run {source}"
            rows.append(Row([run.pipeline, step, status, duration, link, made], tone=_TONE.get(status, "")))
    return safe(table(["pipeline", "step", "status", "duration", "executed notebook", "notebook from"], rows))


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
