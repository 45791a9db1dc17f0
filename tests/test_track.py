"""%%nbt track: an MLflow run with autologging and the cell source; failures end it FAILED."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError


def _runs(experiment=None):
    from nbtoolkit import config, store

    experiment = experiment or config.experiment_name()
    c = store.client()
    exp = c.get_experiment_by_name(experiment)
    return [] if exp is None else c.search_runs([exp.experiment_id], filter_string="tags.`nbt.kind` = 'track'")


def test_track_logs_autolog_params_and_cell(ip, iris):
    import mlflow

    ip.user_ns["X"], ip.user_ns["y"] = iris
    cell = "from sklearn.linear_model import LogisticRegression\nm = LogisticRegression(C=0.5, max_iter=300).fit(X, y)\n"
    tracked = ip.run_cell_magic("nbt", "track --experiment tracking --name fit-lr", cell)
    assert tracked.status == "FINISHED" and tracked.name == "fit-lr"
    assert tracked.params["C"] == "0.5"  # sklearn autologging
    assert any(k.startswith("training_") for k in tracked.metrics)
    assert mlflow.active_run() is None
    run = _runs("tracking")[0]
    assert run.info.status == "FINISHED" and run.info.run_id == tracked.run_id
    text = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/cell.py")
    assert text == cell
    assert "m" in ip.user_ns  # the cell ran in the notebook namespace
    from mlflow.utils.autologging_utils import autologging_is_disabled

    assert autologging_is_disabled("sklearn")  # switched off again


def test_failing_cell_ends_run_failed(ip):
    import mlflow

    with pytest.raises(UsageError, match="tracked cell failed \\(ZeroDivisionError"):
        ip.run_cell_magic("nbt", "track --name boom", "x = 1\n1 / 0\n")
    assert mlflow.active_run() is None
    (run,) = _runs()
    assert run.info.status == "FAILED" and run.info.run_name == "boom"


def test_nested_track_and_inner_failure(ip):
    import mlflow

    inner = "%%nbt track --name inner\nraise ValueError('inner broke')\n"
    outer_cell = f"ip = get_ipython()\nip.run_cell({inner!r})\nouter_ok = True\n"
    tracked = ip.run_cell_magic("nbt", "track --name outer", outer_cell)
    assert tracked.status == "FINISHED"
    runs = {r.info.run_name: r for r in _runs()}
    assert runs["inner"].info.status == "FAILED"
    assert runs["inner"].data.tags["mlflow.parentRunId"] == runs["outer"].info.run_id
    assert runs["outer"].info.status == "FINISHED"
    assert mlflow.active_run() is None

    # a failure raised into the outer cell (the inner magic's error) fails the outer run too
    failing = "get_ipython().run_cell_magic('nbt', 'track --name inner2', '1/0')\n"
    with pytest.raises(UsageError, match="tracked cell failed"):
        ip.run_cell_magic("nbt", "track --name outer2", failing)
    runs = {r.info.run_name: r for r in _runs()}
    assert runs["inner2"].info.status == "FAILED" and runs["outer2"].info.status == "FAILED"
    assert mlflow.active_run() is None


def test_track_is_a_cell_magic(ip):
    with pytest.raises(UsageError, match="track is a cell magic"):
        ip.run_line_magic("nbt", "track")
    with pytest.raises(UsageError, match="needs code"):
        ip.run_cell_magic("nbt", "track", "   \n")
    assert _runs() == []


def test_track_api_context_manager(nbt_home):
    import mlflow

    from nbtoolkit.evaluation import track

    with pytest.raises(RuntimeError):
        with track(name="api") as run:
            mlflow.log_metric("x", 1.0)
            raise RuntimeError("boom")
    assert run.status == "FAILED" and run.metrics == {"x": 1.0}
    with track(name="api-ok") as ok:
        pass
    assert ok.status == "FINISHED" and mlflow.active_run() is None


def test_runs_left_open_by_the_cell_are_closed(ip):
    import mlflow

    tracked = ip.run_cell_magic("nbt", "track --name tidy", "import mlflow\nmlflow.start_run(run_name='left-open', nested=True)\n")
    assert tracked.status == "FINISHED" and mlflow.active_run() is None
    runs = {r.info.run_name: r for r in _runs()}
    assert runs["tidy"].info.status == "FINISHED"
