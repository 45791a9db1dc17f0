"""Drift: :func:`drift` and, re-exported from :mod:`nbtoolkit.profiles`, the reference :class:`Profile`.

``nbtoolkit.drift`` is both this package and, being callable, the function:
``nbtoolkit.drift(current, model="tickets@champion")`` is ``nbtoolkit.drift.drift(...)``.

Modules: :mod:`.columns` (one column compared), :mod:`.engine` (:func:`drift`, with its arguments
in :mod:`.settings` and its inputs in :mod:`.inputs`), :mod:`.timeline` (drift over time),
:mod:`.multivariate` (domain classifier). The profile and the drift statistics they compare
(declared once in :mod:`nbtoolkit.profiles.methods`) live a layer below, in :mod:`nbtoolkit.profiles`.
"""

from __future__ import annotations

import inspect
import sys
import types
from typing import Any

from ..profiles import Profile
from .engine import drift

__all__ = ["DriftReport", "Profile", "drift"]


def __getattr__(name: str) -> Any:
    if name == "DriftReport":
        from ..reports.drift import DriftReport

        return DriftReport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Why a module class and not only the lazy API table: importing any submodule (the README's
# ``from nbtoolkit.drift import Profile``, or ``import nbtoolkit.drift.timeline`` anywhere) makes the
# import system set the attribute ``nbtoolkit.drift`` to this package, after which ``nbt.drift``
# never reaches nbtoolkit.__getattr__. The package itself must therefore be callable; assigning
# ``__class__`` of a module to a ModuleType subclass is the mechanism the language reference gives
# for customising a module ("Customizing module attribute access"). tests/test_drift.py checks
# ``nbt.drift(...)`` after ``import nbtoolkit.drift.timeline`` in a fresh interpreter.
class _CallableModule(types.ModuleType):
    """Lets ``nbtoolkit.drift(...)`` work whether the name resolves to the module or the function."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return drift(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

# help(nbtoolkit.drift) and inspect.signature(nbtoolkit.drift) describe the function it stands for
__signature__ = inspect.signature(drift)
__doc__ = f"drift{__signature__}\n\n{inspect.getdoc(drift)}\n\n--- the package ---\n\n{__doc__}"
