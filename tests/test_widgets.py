"""Widgets without a browser: built from real result objects on a real MLflow store; tests set
``.value`` / call ``.click()`` and assert on what the registry now holds and on what is shown.
The display hook is tested in a real ipykernel (with and without a Jupyter session)."""

from __future__ import annotations

import html

import pytest

pytest.importorskip("ipywidgets")


@pytest.fixture(scope="module")
def store(tmp_path_factory, iris, iris_model):
    """One embedded store for the module: iris v1 (accuracy 0.91, @champion), v2 (0.97), wine v1."""
    import nbtoolkit as nbt

    home = tmp_path_factory.mktemp("widgets") / "nbt-home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NBT_HOME", str(home))
        for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "NBT_EXPERIMENT"):
            mp.delenv(var, raising=False)
        X, y = iris
        nbt.register(iris_model, "iris", X=X, y=y, metrics={"accuracy": 0.91}, alias="champion")
        nbt.register(iris_model, "iris", metrics={"accuracy": 0.97}, params={"C": "1.0"})
        nbt.register(iris_model, "wine", metrics={"accuracy": 0.8})
        yield home


@pytest.fixture
def registry_home(store, monkeypatch):
    monkeypatch.setenv("NBT_HOME", str(store))
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "NBT_EXPERIMENT"):
        monkeypatch.delenv(var, raising=False)
    return store


def _champion(name: str = "iris") -> str:
    from nbtoolkit import registry

    return str(registry.resolve(f"{name}@champion").version)


# ------------------------------------------------------------------ registry browser
def test_registry_browser_shows_models_versions_and_lineage(registry_home):
    import nbtoolkit as nbt
    from nbtoolkit.widgets import RegistryBrowser

    b = RegistryBrowser(nbt.models())
    assert b.model_select.options == ("iris", "wine")
    assert b.model_select.value == "iris"
    assert "@champion=v1" in b.models_html.value and "nbt-models-table" in b.models_html.value
    assert b.version_select.options == ("2", "1") and b.version_select.value == "2"
    assert "0.97" in b.versions_html.value and "0.91" in b.versions_html.value
    assert "Lineage of iris/2" in b.detail_html.value and "param.C" in b.detail_html.value
    assert str(b.lineage.version) == "2"

    b.version_select.value = "1"
    assert "Lineage of iris/1" in b.detail_html.value and b.lineage.data_fingerprint
    assert "schema.petal_width" in b.detail_html.value  # v1 was registered with --data

    b.model_select.value = "wine"
    assert b.version_select.options == ("1",) and "Lineage of wine/1" in b.detail_html.value


def test_registry_browser_promotes_with_gates_and_rolls_back(registry_home):
    from nbtoolkit.widgets import RegistryBrowser

    b = RegistryBrowser()
    assert _champion() == "1"
    b.version_select.value = "2"
    b.gates_text.value = "accuracy>=0.99"
    assert "nbt-gates-table" in b.gates_html.value and "0.97" in b.gates_html.value  # preview

    b.promote_button.click()  # gate fails: nothing moves, one red sentence
    assert _champion() == "1" and b.last_result is None
    assert "nbt-error" in b.result_html.value and "gate failed" in b.result_html.value

    b.gates_text.value = "accuracy>=0.95"
    b.promote_button.click()
    assert _champion() == "2"
    assert b.last_result.version == "2" and b.last_result.previous == "1"
    assert "Moved iris@champion to version 2 (was version 1)" in b.result_html.value
    assert "@champion=v2" in b.models_html.value  # re-read after the move
    assert b.version_select.value == "2"  # selection kept

    b.rollback_button.click()
    assert _champion() == "1"
    assert "Rolled back iris@champion to version 1" in b.result_html.value

    b.alias_text.value = "staging"
    b.rollback_button.click()  # no such alias: an error line, nothing written
    assert "no alias 'staging'" in html.unescape(b.result_html.value) and _champion() == "1"


def test_registry_browser_refresh_sees_new_models(registry_home, iris_model):
    import nbtoolkit as nbt
    from nbtoolkit.widgets import RegistryBrowser

    b = RegistryBrowser()
    nbt.register(iris_model, "zebra", metrics={"accuracy": 0.5})
    assert "zebra" not in b.model_select.options
    b.refresh_button.click()
    assert b.model_select.options[-1] == "zebra" and b.model_select.value == "iris"


def test_registry_browser_on_an_empty_store(nbt_home):
    from nbtoolkit.widgets import RegistryBrowser

    b = RegistryBrowser()
    assert b.model_select.options == () and "No models registered yet" in b.models_html.value
    b.promote_button.click()  # nothing selected: nothing happens
    assert b.result_html.value == ""


# ------------------------------------------------------------------ display hook in a real kernel
def _bundles(kc, code: str) -> list[dict]:
    """Execute ``code`` in the kernel; the mime bundles it displayed (errors fail the test)."""
    found: list[dict] = []

    def hook(msg: dict) -> None:
        kind = msg["header"]["msg_type"]
        if kind in {"execute_result", "display_data"}:
            found.append(msg["content"]["data"])
        elif kind == "error":
            raise AssertionError("\n".join(msg["content"]["traceback"]))

    reply = kc.execute_interactive(code, output_hook=hook, timeout=180)
    assert reply["content"]["status"] == "ok", reply["content"]
    return found


WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def test_results_are_widgets_only_where_a_jupyter_frontend_renders_them(registry_home):
    import os

    from jupyter_client.manager import start_new_kernel

    env = {k: v for k, v in os.environ.items()
           if k not in {"JPY_SESSION_NAME", "NBT_WIDGETS", "NBT_PIPELINE_RUN_ID"}}
    km, kc = start_new_kernel(kernel_name="python3", env=env, startup_timeout=120)
    try:
        _bundles(kc, "%load_ext nbtoolkit")
        # papermill / nbclient: a kernel but no Jupyter session → HTML and text, no widget
        (plain,) = _bundles(kc, "%nbt models")
        assert WIDGET_MIME not in plain and "nbt-table" in plain["text/html"] and "iris" in plain["text/plain"]

        # started by a Jupyter server (ipykernel sets __session__ from JPY_SESSION_NAME) → widget
        (rich,) = _bundles(kc, "__session__ = 'analysis.ipynb'\n%nbt models")
        assert rich[WIDGET_MIME]["model_id"] and "iris" in rich["text/html"]
        assert rich["text/plain"].startswith("<ModelsTable")
        (versions,) = _bundles(kc, "%nbt versions iris")
        assert WIDGET_MIME in versions
        (shown,) = _bundles(kc, "from nbtoolkit.widgets import RegistryBrowser\n"
                                "b = RegistryBrowser(model='wine')\nprint(b.version_select.options)\nb")
        assert WIDGET_MIME in shown

        # a pipeline step inherits the session from the notebook that started it → no widget
        (step,) = _bundles(kc, "import os; os.environ['NBT_PIPELINE_RUN_ID'] = 'r1'\n%nbt models")
        assert WIDGET_MIME not in step
        (off,) = _bundles(kc, "del os.environ['NBT_PIPELINE_RUN_ID']; os.environ['NBT_WIDGETS'] = '0'\n"
                              "%nbt models")
        assert WIDGET_MIME not in off and "nbt-table" in off["text/html"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_plain_ipython_shows_html_and_text(ip):
    result = ip.run_line_magic("nbt", "models")
    data, _ = ip.display_formatter.format(result)
    assert WIDGET_MIME not in data and "nbt-table" in data["text/html"]
    assert data["text/plain"].startswith("0 registered model(s)")


# ------------------------------------------------------------------ drift dashboard
@pytest.fixture(scope="module")
def drift_report(iris):
    import nbtoolkit as nbt

    X, _ = iris
    now = X.copy()
    now["petal_length"] = now["petal_length"] * 1.4 + 0.5
    now["sepal_width"] = now["sepal_width"] - 0.4
    return nbt.drift(now, reference=X)


def test_drift_dashboard_sorts_colours_and_plots(drift_report):
    from nbtoolkit.widgets import DriftDashboard

    d = DriftDashboard(drift_report)
    assert drift_report.drifted and "DRIFT" in d.verdict_html.value
    shown = [r["column"] for r in d.rows()]
    assert set(shown[:2]) == {"petal_length", "sepal_width"}  # drifted first
    assert set(shown) == set(drift_report.columns)
    table = d.table_html.value
    assert table.count('<tr class="nbt-bad"') == 2  # the two drifted rows marked as bad
    assert table.index("petal_length") < table.index("sepal_length") or table.index("sepal_width") < table.index("sepal_length")
    assert "ks" in table  # the method per column

    d.sort_select.value = "column"
    assert [r["column"] for r in d.rows()] == sorted(drift_report.columns)
    d.reverse_box.value = True
    assert [r["column"] for r in d.rows()] == sorted(drift_report.columns, reverse=True)
    assert d.table_html.value.index("sepal_width") < d.table_html.value.index("petal_length")
    d.sort_select.value = "p-value"
    d.reverse_box.value = False
    pvalues = [r["p_value"] for r in d.rows()]
    assert pvalues == sorted(pvalues)

    assert d.column_select.options[0] in {"petal_length", "sepal_width"}
    first_png = bytes(d.figure.value)
    assert first_png.startswith(b"\x89PNG")
    d.column_select.value = "sepal_length"
    assert bytes(d.figure.value).startswith(b"\x89PNG") and bytes(d.figure.value) != first_png
    assert "sepal_length: numeric, tested with ks" in d.note_html.value


# ------------------------------------------------------------------ threshold explorer
def test_threshold_explorer_follows_the_slider_and_saves(registry_home, iris):
    import nbtoolkit as nbt
    from nbtoolkit import registry
    from nbtoolkit.widgets import ThresholdExplorer

    X, y = iris
    report = nbt.threshold("iris/2", X, y, target_accuracy=0.99)
    e = ThresholdExplorer(report)
    assert e.slider.value == pytest.approx(report.chosen)
    assert e.current == report.at(e.slider.value)
    assert f"{e.current['coverage']:.1%}" in e.metrics_html.value
    assert "nbt-marker" in e.curve_html.value and not e.save_button.disabled

    e.slider.value = 0.9
    at = report.at(0.9)
    assert at["coverage"] < 1 and e.current["coverage"] == pytest.approx(at["coverage"])
    assert f'<b class="nbt-coverage">{at["coverage"]:.1%}</b>' in e.metrics_html.value
    assert f"{at['human_share']:.1%}" in e.metrics_html.value
    assert f"{at['n_auto']:,} of {report.n:,}" in e.metrics_html.value

    e.save_button.click()
    assert "Saved threshold 0.9 on iris/2" in e.status_html.value
    assert registry.resolve("iris/2").tags["nbt.threshold"] == "0.9"
    assert registry.resolve("iris/1").tags.get("nbt.threshold") is None


def test_threshold_explorer_of_an_unregistered_model_cannot_save(iris, iris_model):
    import nbtoolkit as nbt
    from nbtoolkit.widgets import ThresholdExplorer

    X, y = iris
    e = ThresholdExplorer(nbt.threshold(iris_model, X, y))
    assert e.save_button.disabled and e.report.chosen is None
    assert e.slider.value == pytest.approx(0.5)  # no target: start in the middle
    e.save_button.click()  # a programmatic click still gets a clear sentence, writes nothing
    assert "nbt-error" in e.status_html.value and "not a registered version" in e.status_html.value

    uneven = ThresholdExplorer(nbt.threshold(iris_model, X, y, thresholds=[0.2, 0.5, 0.999]))
    assert type(uneven.slider).__name__ == "SelectionSlider"  # every report threshold reachable
    uneven.slider.value = 0.999
    assert uneven.current == uneven.report.at(0.999) and uneven.current["n_auto"] < 10


# ------------------------------------------------------------------ pipeline progress
PIPELINE = __import__("pathlib").Path(__file__).parent / "notebooks" / "pipeline" / "pipeline.yaml"


def test_pipeline_progress_updates_live_and_links_the_failed_notebook(nbt_home, capsys):
    import nbtoolkit as nbt
    from nbtoolkit.widgets import PipelineProgress, pipeline_view

    progress = PipelineProgress()
    progress.widget  # built before the run, as when displayed in Jupyter
    seen: list[tuple[str | None, str, str]] = []
    run = nbt.run_pipeline(PIPELINE, parameters={"fail": True}, raise_on_failure=False,
                           progress=[progress, lambda e: seen.append((e.step, e.status, progress.rows_html.value))])
    assert [(s, st) for s, st, _ in seen] == [
        (None, "started"), ("prepare", "running"), ("prepare", "ok"), ("score", "running"),
        ("score", "failed"), ("publish", "skipped"), (None, "failed")]
    # the rows followed the run: pending first, then running, then final
    assert seen[0][2].count("nbt-step-pending") == 3
    assert "nbt-step-running" in seen[1][2] and "nbt-step-running" in seen[3][2]
    final = progress.rows_html.value
    assert "nbt-step-ok" in final and "nbt-step-failed" in final and "nbt-step-skipped" in final
    assert "scoring failed on purpose" in final
    assert progress.bar.value == 3 and progress.bar.bar_style == "danger" and progress.status == "failed"
    assert f"{run.steps['prepare']['duration']:.1f} s" in final
    (link,) = progress.links.outputs
    assert run.steps["score"]["executed_notebook"] in link["data"]["text/html"]
    assert capsys.readouterr().out == ""  # widget mode prints nothing

    view = pipeline_view(run)  # a finished run shown the same way
    assert view.rows_html.value.replace(" s…", "") == final.replace(" s…", "")
    assert view.bar.value == 3 and len(view.links.outputs) == 1


def test_pipeline_progress_prints_lines_outside_jupyter(nbt_home, ip, capsys):
    import nbtoolkit as nbt
    from nbtoolkit.errors import StepFailed
    from nbtoolkit.widgets import PipelineProgress

    progress = PipelineProgress()
    ip.display_formatter.format(progress)  # plain IPython: no widget frontend → text mode
    assert progress.mode == "text"
    with pytest.raises(StepFailed):
        nbt.run_pipeline(PIPELINE, parameters={"fail": True}, progress=progress)
    out = capsys.readouterr().out
    assert "  prepare: ok in " in out and "  score: failed in " in out
    assert "ValueError: scoring failed on purpose (fail=True) (executed notebook: " in out
    assert "widgets-demo: failed in " in out


def test_papermill_gets_html_and_text_from_the_same_cells(nbt_home, tmp_path):
    """The widget cells of a notebook, executed unattended: no widget output, no error."""
    import shutil

    import nbformat
    import papermill

    shutil.copytree(PIPELINE.parent, tmp_path / "pipeline")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for source in [
        "%load_ext nbtoolkit",
        "from sklearn.datasets import load_iris\nfrom sklearn.linear_model import LogisticRegression\n"
        "X, y = load_iris(return_X_y=True, as_frame=True)\nclf = LogisticRegression(max_iter=500).fit(X, y)\n"
        "%nbt register clf --name iris --data X y --metric accuracy=0.97",
        "%nbt models",
        "X_now = X * 1.3\n%nbt drift X_now --reference X --no-plot",
        "%nbt threshold iris X y --target-accuracy 0.99",
        "%nbt pipeline run pipeline/pipeline.yaml",
    ]:
        nb.cells.append(nbformat.v4.new_code_cell(source))
    nbformat.write(nb, tmp_path / "in.ipynb")
    papermill.execute_notebook(str(tmp_path / "in.ipynb"), str(tmp_path / "out.ipynb"), cwd=str(tmp_path),
                               kernel_name="python3", progress_bar=False)
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    bundles = [o.get("data", {}) for c in out.cells for o in c.outputs]
    assert not [b for b in bundles if WIDGET_MIME in b]
    html = "".join(b.get("text/html", "") for b in bundles)
    assert "registered model(s)" in html and "nbt-drift" in html and "Confidence thresholds" in html
    streams = "".join(o.get("text", "") for o in out.cells[-1].outputs if o.output_type == "stream")
    assert "  publish: ok" in streams and "widgets-demo: ok in " in streams  # the progress, as lines
