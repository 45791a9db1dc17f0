"""The support-ticket example end to end (small sizes), through ``make demo``'s entry point: the
bootstrap pipeline on real papermill kernels, ten days served through a real ``nbt serve --rollout``
(daily.yaml --pending), the drift trigger's retraining, the rollout's moves, the review, the HTML
report — then a second run that finds nothing new, and ``nbt monitor`` from a terminal."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys

import pytest

from tests.conftest import EXAMPLE_DAYS, EXAMPLE_SIZES


@pytest.mark.slow
def test_support_ticket_example_runs_itself(example_run, monkeypatch):
    from nbtoolkit import demo, registry
    from nbtoolkit.monitoring import PredictionLog
    from nbtoolkit.pipeline import pipeline_status
    from nbtoolkit.pipeline.triggers import fired
    from nbtoolkit.serving.rollout import history

    monkeypatch.setenv("NBT_HOME", str(example_run.home))  # the store the run wrote to
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "NBT_PREDICTIONS_URL"):
        monkeypatch.delenv(var, raising=False)
    report, out, folder = example_run.report, example_run.out, example_run.notebooks
    assert example_run.code == 0, out
    assert f"HTML report:        {report}" in out and "Executed notebooks:" in out

    # the bootstrap: the first champion, with its threshold and calibrator
    steps = example_run.run["steps"]
    assert [s["status"] for s in steps.values()] == ["ok"] * 3
    ev = steps["evaluate"]["outputs"]
    assert ev["accuracy"] > 0.8 and ev["suite_passed"] is True and 0 < ev["threshold"] < 1
    assert float(registry.resolve("tickets/1").tags[registry.TAG_THRESHOLD]) == pytest.approx(ev["threshold"])

    # ten days, each processed once, in date order; the generator wrote them beside the pipeline
    days = pipeline_status(folder / "daily.yaml").partitions
    assert [d["status"] for d in days] == ["done"] * 10
    assert [d["partition"] for d in days] == sorted(d["partition"] for d in days)
    assert (folder / "data" / "tickets" / f"date={days[1]['partition']}" / "resolved.parquet").exists()
    assert not (folder / "data" / "tickets" / f"date={days[0]['partition']}" / "resolved.parquet").exists()
    logged = PredictionLog().frame("tickets")
    assert len(logged) == 10 * 200 and logged["routed_to_human"].any()
    assert logged["outcome"].notna().sum() == 9 * 200  # every day's outcomes came the next day: not the last day's

    # the drift alert fired once (the cooldown holds it after that) and retrained on the corrections
    firings = fired(source=str(folder / "daily.yaml"))
    assert len(firings) == 1 and firings[0]["run_status"] == "passed", firings
    assert firings[0]["evidence"]["metric"] == "drift_share" and firings[0]["evidence"]["value"] > 0.3
    v2 = registry.resolve("tickets/2")
    assert v2.tags.get("trained_on") == "original+corrections" and registry.TAG_THRESHOLD in v2.tags
    # the new version went through nbt serve's staged rollout: it started, and served a share of ids
    moves = history("tickets")
    assert moves and moves[0]["action"] == "start" and moves[0]["version"] == "2", moves
    assert set(logged["model_version"].astype(str)) == {"1", "2"}
    assert all(m["action"] in {"start", "advance", "promote"} for m in moves), moves  # v2 is better: never back

    # the report: a line per part, the steps, each part in order, the day-by-day timeline
    html = report.read_text()
    assert "unavailable:" not in html and 'alt="the timeline of the days"' in html
    order = ['id="story"', 'id="steps"'] + [f'<section id="{s}">' for s in
                                             ("ingest", "train", "evaluate", "days", "retrain", "rollout", "review",
                                              "registry")]
    assert [html.index(x) for x in order] == sorted(html.index(x) for x in order)
    timeline = html.split('<section id="days">')[1].split("</section>")[0]
    assert all(f">{d['partition']}<" in timeline for d in days)
    assert "drift alert: retrained tickets/2" in timeline and "rollout starts v2" in timeline
    review = steps_of(html, "review")
    assert "days reviewed" in review and "data:image/png;base64" in review

    # a second run: the bootstrap is cached, no day is new, nothing is served or retrained
    again = example_run.home.parent / "again.html"
    argv = ["--pipeline", str(folder / "pipeline.yaml"), "--output", str(again), *EXAMPLE_DAYS]
    for key, value in EXAMPLE_SIZES.items():
        argv += ["-p", f"{key}={value}"]
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert demo.main(argv) == 0
    text = buffer.getvalue()
    assert "(3 cached)" in text and "nothing new to process" in text and "(0 processed, 10 up to date)" in text
    assert len(PredictionLog().frame("tickets")) == 10 * 200 and len(fired(source=str(folder / "daily.yaml"))) == 1
    page = again.read_text()
    assert all(f">{d['partition']}<" in page for d in days) and "unavailable:" not in page

    # a day run again on its own (--partition --force, no server given: the notebook starts one):
    # what the first run served is not sent twice, and the day's record comes from the log
    from nbtoolkit.pipeline import run_pipeline

    last = days[-1]["partition"]
    rerun = run_pipeline(folder / "daily.yaml", partition=last, force=True)
    assert rerun.processed == [last], str(rerun)
    assert rerun.runs[last].outputs["day"]["served"] == 200 and len(PredictionLog().frame("tickets")) == 10 * 200

    # the same log from a terminal: the drift alerts → exit code 1
    cli = subprocess.run([sys.executable, "-m", "nbtoolkit.cli", "monitor", "tickets", "--version", "1",
                          "--alert", "drift_share>0.3", "--window", "1D"], capture_output=True, text=True)
    assert cli.returncode == 1, cli.stderr
    assert "ALERT" in cli.stdout


def steps_of(html: str, section: str) -> str:
    return html.split(f'<section id="{section}">')[1].split("</section>")[0]
