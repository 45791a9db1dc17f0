"""Readable in a terminal: text tables, never dataclass dumps or figure reprs; %config Nbt.widgets."""

from __future__ import annotations

import types

from IPython.lib.pretty import pretty

import nbtoolkit as nbt
from nbtoolkit.reports.registry import Lineage, PromotionResult, VersionsTable


def test_results_pretty_print_as_text_tables():
    moved = PromotionResult("iris", "champion", "2", "1", gates=[{"gate": "accuracy>=0.9", "observed": 0.95,
                                                                  "passed": True}])
    text = pretty(moved)
    assert text.startswith("Moved iris@champion to version 2 (was version 1) — gates held: accuracy>=0.9 (0.95)")
    assert "PromotionResult(" not in text
    lin = Lineage(name="iris", version="2", aliases=[], created=None, data_fingerprint=None, schema=None,
                  params={}, metrics={"accuracy": 0.95}, git_commit=None, notebook=None, pipeline_run=None,
                  run_id="r", artifact_sha256=None)
    assert pretty(lin).startswith("Lineage of iris/2") and "None" not in pretty(lin)


def test_versions_table_is_narrow_and_blank_for_missing():
    rows = [{"version": str(v), "aliases": [], "created": "2026-11-28 20:47:18.123", "data_fingerprint": "ab" * 32,
             "metrics": {f"m{i}": 0.5 for i in range(v * 3)}, "threshold": "0.6" if v == 2 else None}
            for v in (1, 2)]
    table = VersionsTable("iris", rows)
    text = str(table)
    assert "None" not in text and "NaN" not in text and "nan" not in text
    assert len(table.to_frame().columns) <= 5 + VersionsTable.MAX_METRICS
    assert table.to_dict()["versions"][1]["threshold"] == 0.6  # a number in JSON, not "0.6"


def test_drift_magic_shows_no_figure_repr_in_a_text_only_shell(ip, iris):
    X, _ = iris
    ip.user_ns.update(cur=X.assign(**{X.columns[0]: X[X.columns[0]] + 5}), ref=X)
    shown = []
    ip.display_pub.publish = lambda data, **kw: shown.append(data)
    active = ip.display_formatter.active_types
    ip.display_formatter.active_types = ["text/plain"]  # as terminal IPython
    try:
        ip.run_line_magic("nbt", "drift cur --reference ref")
    finally:
        ip.display_formatter.active_types = active
    assert not any("Figure" in str(d.get("text/plain", "")) for d in shown)


def test_config_nbt_widgets(ip, monkeypatch):
    from nbtoolkit.widgets.display import widgets_enabled

    monkeypatch.delenv("NBT_WIDGETS", raising=False)
    monkeypatch.delenv("NBT_PIPELINE_RUN_ID", raising=False)
    shell = types.SimpleNamespace(kernel=object(), user_ns={}, configurables=ip.configurables)
    assert widgets_enabled(shell) is False  # auto: no Jupyter session
    ip.run_line_magic("config", "Nbt.widgets = True")
    assert widgets_enabled(shell) is True
    ip.run_line_magic("config", "Nbt.widgets = False")
    shell.user_ns["__session__"] = "x.ipynb"
    assert widgets_enabled(shell) is False
    ip.run_line_magic("config", "Nbt.widgets = 'auto'")
    assert widgets_enabled(shell) is True
    assert nbt is not None


def test_json_keeps_numbers_numbers():
    import json

    import numpy as np

    from nbtoolkit.reports.base import Result

    class R(Result):
        def to_dict(self):
            return {"p": np.float64(0.25), "n": np.int64(3), "ok": np.bool_(True), "xs": np.array([1.5])}

    assert json.loads(R().to_json()) == {"p": 0.25, "n": 3, "ok": True, "xs": [1.5]}
