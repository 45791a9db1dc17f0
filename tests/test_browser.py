"""End to end: the widgets in a real JupyterLab, in headless Chromium (Playwright, Debian's Chromium).

The test opens ``tests/notebooks/widgets.ipynb``, waits for the kernel to be idle (Run All before
that opens a "Select Kernel" dialog), runs all cells, waits until every cell has run and the kernel
is idle again, then checks in the page that the widgets rendered and answer: the registry browser
promotes a version, the drift table is there, moving the threshold slider changes the coverage.

Screenshots of each widget go to ``$NBT_SCREENSHOTS`` when set (``NBT_SCREENSHOTS=docs/img``
refreshes the README pictures), else to the test's tmp_path. Every wait is on a page condition.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(1200)]

NOTEBOOK = Path(__file__).parent / "notebooks" / "widgets.ipynb"
WAIT_MS = 300_000  # kernel start + MLflow/sklearn imports + registering, on a busy machine

# True when the notebook panel's kernel is ready and idle.
_KERNEL_IDLE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const s = w && w.sessionContext;
  return !!(s && s.isReady && s.session && s.session.kernel && s.session.kernel.status === 'idle');
}"""

# Every code cell has run (or one failed: return its traceback) and the kernel is idle.
_ALL_RUN = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  for (const cell of w.content.widgets) {
    if (cell.model.type !== 'code') continue;
    for (const out of cell.model.outputs.toJSON()) {
      if (out.output_type === 'error') return 'error: ' + out.ename + ': ' + out.evalue;
    }
    if (cell.model.executionCount === null || cell.promptNode.textContent.includes('*')) return false;
  }
  return w.sessionContext.session.kernel.status === 'idle' ? 'done' : false;
}"""

# The current tab is the executed notebook of the failed step, showing its traceback.
_OPENED_FAILED_STEP = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  if (!w || w.title.label !== 'score.ipynb' || !w.content || !w.content.widgets) return false;
  return w.content.widgets.some(c => c.model.type === 'code' &&
    c.model.outputs.toJSON().some(o => o.output_type === 'error' && o.evalue.includes('failed on purpose')));
}"""

_WIDGETS_RENDERED = """(selectors) => {
  const text = document.body.innerText;
  if (text.includes('Loading widget...') || text.includes('Error displaying widget')) return false;
  return selectors.every(s => document.querySelector(s) !== null);
}"""


def _shot(locator, path: Path) -> None:
    """Screenshot of one widget, as a small palette PNG (the README pictures)."""
    from PIL import Image

    locator.scroll_into_view_if_needed()
    locator.screenshot(path=str(path))
    with Image.open(path) as img:
        small = img.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


@pytest.fixture
def shots(tmp_path) -> Path:
    out = Path(os.environ.get("NBT_SCREENSHOTS") or tmp_path / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture
def notebook_page(jupyterlab, chromium):
    """The test notebook open in JupyterLab, all cells run."""
    shutil.copy(NOTEBOOK, jupyterlab.notebooks / NOTEBOOK.name)
    shutil.copytree(NOTEBOOK.parent / "pipeline", jupyterlab.notebooks / "pipeline", dirs_exist_ok=True)
    context = chromium.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(jupyterlab.url(f"lab/tree/{NOTEBOOK.name}"))
        page.wait_for_function(_KERNEL_IDLE, timeout=WAIT_MS)
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")  # room for the widgets
        page.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=WAIT_MS)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        state = page.wait_for_function(_ALL_RUN, timeout=WAIT_MS, polling=500).json_value()
        assert state == "done", state
        yield page
    except Exception:
        print("---- jupyterlab log ----\n" + jupyterlab.tail())
        raise
    finally:
        context.close()


def test_widgets_render_and_answer_in_jupyterlab(notebook_page, shots):
    from playwright.sync_api import expect

    page = notebook_page
    page.wait_for_function(_WIDGETS_RENDERED, arg=[".nbt-registry-browser .nbt-models-table table"],
                           timeout=WAIT_MS)

    # Registry browser: the model list, the versions, promote version 2 from the page.
    browser = page.locator(".nbt-registry-browser")
    browser.scroll_into_view_if_needed()
    assert "iris" in browser.locator(".nbt-models-table").inner_text()
    versions = browser.locator(".nbt-versions-table tbody tr")
    assert versions.count() == 2
    browser.locator(".nbt-detail").get_by_text("Lineage of iris/2").wait_for()
    gates = browser.get_by_placeholder("accuracy>=0.9, f1>=0.8")
    gates.fill("accuracy>=0.95")
    gates.press("Enter")
    expect(browser.locator(".nbt-gates-table")).to_contain_text("accuracy>=0.95")
    browser.get_by_role("button", name="Promote").click()
    browser.locator(".nbt-result").get_by_text("Moved iris@champion to version 2 (was version 1)").wait_for()
    expect(browser.locator(".nbt-versions-table tbody tr").first).to_contain_text("@champion")
    _shot(browser, shots / "registry-browser.png")

    # Drift dashboard: verdict, the colour-coded table (drifted first), a plot for the column.
    page.wait_for_function(_WIDGETS_RENDERED, arg=[".nbt-drift-dashboard .nbt-drift-table table"],
                           timeout=WAIT_MS)
    drift = page.locator(".nbt-drift-dashboard")
    drift.scroll_into_view_if_needed()
    expect(drift.locator(".nbt-drift-verdict")).to_contain_text("DRIFT")
    rows = drift.locator(".nbt-drift-table tbody tr")
    table = drift.locator(".nbt-drift-table").inner_text()
    assert rows.count() >= 4 and all(c in table for c in ("sepal_length", "sepal_width", "petal_length"))
    first = rows.first.inner_text()
    assert "DRIFT" in first and ("petal_length" in first or "sepal_width" in first)
    expect(drift.locator("img")).to_have_attribute("src", re.compile("^(data:image/png|blob:)"))
    _shot(drift, shots / "drift-dashboard.png")

    # Threshold explorer: move the slider from the keyboard, the coverage figure follows.
    page.wait_for_function(_WIDGETS_RENDERED, arg=[".nbt-threshold-explorer .widget-slider"], timeout=WAIT_MS)
    explorer = page.locator(".nbt-threshold-explorer")
    explorer.scroll_into_view_if_needed()
    coverage = explorer.locator(".nbt-coverage")
    before = coverage.inner_text()
    marker = explorer.locator(".nbt-marker").get_attribute("x1")
    assert before.endswith("%")
    handle = explorer.locator(".noUi-handle")
    handle.focus()
    for _ in range(8):
        handle.press("ArrowRight")
    expect(coverage).not_to_have_text(before, timeout=60_000)
    after = coverage.inner_text()
    assert float(after.rstrip("%")) < float(before.rstrip("%"))  # a higher threshold auto-handles less
    assert explorer.locator(".nbt-marker").get_attribute("x1") != marker  # the marker moved too
    explorer.get_by_role("button", name="Save threshold").click()
    expect(explorer.locator(".nbt-threshold-status")).to_contain_text("Saved threshold")
    _shot(explorer, shots / "threshold-explorer.png")

    # Pipeline progress: a run from %nbt pipeline run (all ok), then one with a failing step.
    page.wait_for_function(_WIDGETS_RENDERED, arg=[".nbt-pipeline-progress .nbt-pipeline-steps table"],
                           timeout=WAIT_MS)
    runs = page.locator(".nbt-pipeline-progress")
    expect(runs).to_have_count(2)
    ok, failed = runs.nth(0), runs.nth(1)
    expect(ok.locator(".nbt-step-ok")).to_have_count(3)
    expect(failed.locator(".nbt-step-failed")).to_contain_text("failed")
    expect(failed.locator(".nbt-step-skipped")).to_contain_text("skipped")
    expect(failed).to_contain_text("scoring failed on purpose")
    _shot(ok, shots / "pipeline-progress.png")
    _shot(failed, shots / "pipeline-failed.png")
    link = failed.locator("a[href*='score.ipynb']")
    expect(link).to_have_count(1)
    link.click()  # JupyterLab opens the failed step's executed notebook in a tab
    expect(page.locator(".lm-TabBar-tab", has_text="score.ipynb")).to_have_count(1, timeout=60_000)
    page.wait_for_function(_OPENED_FAILED_STEP, timeout=60_000)
