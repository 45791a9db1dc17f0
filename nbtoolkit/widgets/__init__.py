"""ipywidgets composites over nbtoolkit's result objects: wiring and layout only.

- :class:`RegistryBrowser` (``%nbt models``): models → versions → detail; promote / roll back.
- :class:`DriftDashboard` (a ``DriftReport``): sortable per-column table, plot per column, verdict.
- :class:`ThresholdExplorer` (``%nbt threshold``): slider over thresholds, curve, save.
- :class:`PipelineProgress` (``%nbt pipeline run``): one live row per step.

In Jupyter the results display as these widgets by themselves (see :mod:`.display`); elsewhere
they fall back to HTML/text. Names are imported on first use so that importing this package does
not import ipywidgets.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "RegistryBrowser": "registry",
    "registry_browser": "registry",
    "DriftDashboard": "drift",
    "drift_dashboard": "drift",
    "ThresholdExplorer": "threshold",
    "threshold_explorer": "threshold",
    "PipelineProgress": "pipeline",
    "pipeline_view": "pipeline",
    "widget_for": "display",
    "widgets_enabled": "display",
}

__all__ = sorted(_EXPORTS)  # noqa: PLE0605  computed from _EXPORTS, the one table of names


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
