"""Profiles and the drift statistics computed on them (the data model below :mod:`nbtoolkit.drift`).

Modules: :mod:`.profile` (:class:`Profile`: a small, mergeable JSON summary of a frame), :mod:`.column`
(one column's profile entry: build, merge, subtract), :mod:`.bins` (the numeric grid and bins),
:mod:`.stats` (the statistical functions on counts and raw arrays) and :mod:`.methods` (the drift
statistics, each declared once and used by both ``drift()`` and drift over time).

Light to import: numpy, pandas and scipy are imported inside the functions that use them.
"""

from __future__ import annotations

from .column import merge_column, profile_column, without
from .profile import CONFIDENCE, FORMAT, PREDICTION, Profile, model_outputs

__all__ = ["CONFIDENCE", "FORMAT", "PREDICTION", "Profile", "merge_column", "model_outputs", "profile_column",
           "without"]
