"""Show result objects as widgets in Jupyter, as HTML/text everywhere else.

``%load_ext nbtoolkit`` calls :func:`register_formatters`, which registers one IPython mime-bundle
printer for ``nbtoolkit.reports.base.Result`` *by name* (nothing is imported). When a result is
displayed, the printer looks its class up in :data:`WIDGETS`; in a kernel with a widget frontend
it returns the widget's bundle, otherwise ``None`` so IPython falls back to ``_repr_html_`` /
the text view. This module imports only the standard library.

Where widgets are shown: a kernel (ipykernel) started by a Jupyter server or VS Code (they set
``__session__`` / ``__vsc_ipynb_file__``), not a pipeline step, with ipywidgets installed.
``%config Nbt.widgets = False`` (or ``NBT_WIDGETS=0``) turns widgets off, ``True`` (``NBT_WIDGETS=1``)
forces them on in any kernel; ``"auto"`` (the default) decides as above.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from ..reports.base import Result

# result class name -> (module in nbtoolkit.widgets, factory taking the result)
WIDGETS: dict[str, tuple[str, str]] = {
    "ModelsTable": ("registry", "registry_browser"),
    "VersionsTable": ("registry", "versions_browser"),
    "DriftReport": ("drift", "drift_dashboard"),
    "ThresholdReport": ("threshold", "threshold_explorer"),
}
# A PipelineRun keeps its HTML table: `%nbt pipeline run` already showed the live PipelineProgress.

_OFF = {"0", "off", "false", "no", "never"}
_ON = {"1", "on", "true", "yes", "always"}


def widgets_enabled(shell: InteractiveShell | None) -> bool:
    """True when ``shell`` is a kernel whose frontend renders ipywidgets."""
    mode = (_configured(shell) or os.environ.get("NBT_WIDGETS", "auto")).strip().lower()
    if mode in _OFF or shell is None or getattr(shell, "kernel", None) is None:
        return False  # plain IPython / InteractiveShell: no comm, no frontend
    if mode not in _ON:
        if os.environ.get("NBT_PIPELINE_RUN_ID"):  # a papermill step of `nbt run`
            return False
        ns = getattr(shell, "user_ns", {}) or {}
        if not (ns.get("__session__") or ns.get("__vsc_ipynb_file__")):
            return False  # papermill / nbclient / jupyter console: nobody renders widgets
    try:
        importlib.import_module("ipywidgets")
    except ImportError:
        return False
    return True


def _configured(shell: InteractiveShell | None) -> str | None:
    """``%config Nbt.widgets`` (True / False / "auto"), when the extension's magics are loaded."""
    for configurable in getattr(shell, "configurables", None) or ():
        if type(configurable).__name__ == "Nbt" and hasattr(configurable, "widgets"):
            value = configurable.widgets
            if isinstance(value, bool):
                return "1" if value else "0"
            return str(value) if str(value).strip().lower() != "auto" else None
    return None


def widget_for(result: Result, shell: InteractiveShell | None = None) -> Any:
    """The nbtoolkit widget for ``result`` (a composite with ``.widget``), or None if it has none."""
    entry = WIDGETS.get(type(result).__name__)
    if entry is None:
        return None
    module, factory = entry
    build = getattr(importlib.import_module(f"{__package__}.{module}"), factory)
    from .. import config

    with config.overrides(**_notebook_settings(shell)):
        return build(result)


def register_formatters(shell: InteractiveShell) -> None:
    """Make displayed results widgets in Jupyter (idempotent; a no-op without a display formatter)."""
    formatter = getattr(getattr(shell, "display_formatter", None), "mimebundle_formatter", None)
    if formatter is None:
        return
    formatter.for_type_by_name("nbtoolkit.reports.base", "Result", lambda obj: _mimebundle(obj, shell))


def _mimebundle(obj: Result, shell: InteractiveShell) -> dict[str, Any] | None:
    if widgets_enabled(shell):
        from ..errors import NbtError

        try:
            composite = widget_for(obj, shell)
        except NbtError:  # e.g. the store went away: the HTML view still shows the numbers
            composite = None
        if composite is not None:
            data = dict(composite.widget._repr_mimebundle_())
            data["text/plain"] = repr(obj)
            return data
    own = getattr(type(obj), "_repr_mimebundle_", None)
    return own(obj) if own is not None else None  # None: IPython uses _repr_html_ / text


def _notebook_settings(shell: InteractiveShell | None) -> dict[str, Any]:
    """The ``%config Nbt.*`` values, so a widget's buttons talk to the notebook's store."""
    for conf in getattr(shell, "configurables", None) or ():
        if type(conf).__name__ == "Nbt" and hasattr(conf, "_settings"):
            return conf._settings()
    return {}
