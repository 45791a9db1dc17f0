"""nbtoolkit: production-grade machine learning from the Jupyter notebook.

``%load_ext nbtoolkit`` registers the ``%nbt`` / ``%%nbt`` magics and imports nothing heavy; the
public API below is imported on first use (PEP 562), so ``import nbtoolkit`` stays fast too.
"""

from __future__ import annotations

import importlib
from typing import Any


# name -> module that defines it
_API = {
    "register": "registry",
    "load": "registry",
    "promote": "registry",
    "rollback": "registry",
    "unalias": "registry",
    "sign": "registry",
    "verify": "registry",
    "models": "registry",
    "versions": "registry",
    "lineage": "registry",
    "validate": "conformance",
    "Contract": "contract",
    "drift": "drift",
    "Profile": "drift",
    "evaluate": "evaluation",
    "compare": "evaluation",
    "threshold": "evaluation",
    "record": "pipeline",
    "run_pipeline": "pipeline",
    "PredictionLog": "monitoring",
    "Deployment": "monitoring",
    "monitor": "monitoring",
    "abtest": "monitoring",
    "quality": "monitoring",
    "serve": "serving",
    "estimate": "estimation",
    "calibrate": "estimation",
    "Calibrator": "estimation",
    "rank": "drift.ranking",
}

# Derived from _API so the two cannot drift apart (tests/test_load_ext.py pins the list).
__all__ = [*sorted(_API), "__version__", "load_ipython_extension"]  # noqa: PLE0604  computed from _API


def _package_version() -> str:
    """The installed distribution's version (pyproject.toml is the one place it is written)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nbtoolkit")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        version = globals()[name] = _package_version()
        return version
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'nbtoolkit' has no attribute {name!r}")
    mod = importlib.import_module(f"{__name__}.{module}")
    # A callable module named like its function (nbtoolkit.drift) stands for both.
    value = mod if name == module and callable(mod) else getattr(mod, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%nbt`` and make ``%config Nbt.*`` work."""
    from .magics import Nbt
    from .widgets.display import register_formatters

    magics = Nbt(ipython)
    ipython.register_magics(magics)
    if magics not in ipython.configurables:
        ipython.configurables.append(magics)
    register_formatters(ipython)  # results as widgets in Jupyter, HTML/text elsewhere


def unload_ipython_extension(ipython: Any) -> None:  # pragma: no cover - symmetry
    pass
