"""Drift: the reference :class:`Profile`, statistical tests and :func:`drift`.

``nbtoolkit.drift`` is both this package and, being callable, the function:
``nbtoolkit.drift(current, model="tickets@champion")`` is ``nbtoolkit.drift.drift(...)``.

Modules: :mod:`.profile` (mergeable JSON profile; one column's profile in :mod:`.profile.column`),
:mod:`.stats` (the tests), :mod:`.columns` (one column compared), :mod:`.engine` (:func:`drift`,
with its arguments in :mod:`.settings` and its inputs in :mod:`.inputs`), :mod:`.multivariate`
(domain classifier).
"""

from __future__ import annotations

import inspect
import sys
import types
from typing import Any

from .engine import drift
from .profile import Profile

__all__ = ["DriftReport", "Profile", "drift"]


def __getattr__(name: str) -> Any:
    if name == "DriftReport":
        from ..reports.drift import DriftReport

        return DriftReport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _CallableModule(types.ModuleType):
    """Lets ``nbtoolkit.drift(...)`` work whether the name resolves to the module or the function."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return drift(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

# help(nbtoolkit.drift) and inspect.signature(nbtoolkit.drift) describe the function it stands for
__signature__ = inspect.signature(drift)
__doc__ = f"drift{__signature__}\n\n{inspect.getdoc(drift)}\n\n--- the package ---\n\n{__doc__}"
