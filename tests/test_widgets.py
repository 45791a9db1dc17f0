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
