"""Numeric columns: counts on a fixed cell grid, grouped into equal-share bins (see :mod:`.profile`).

Counting is one vectorised pass — cell = floor((x - lo) / width), then ``bincount`` — with no
sort and no binary search, which is what makes profiling a million rows take milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FINE_BINS = 1000          # bins per numeric column (a few KB of JSON)
GRID = 16384              # equal cells a numeric column is counted on; bins group cells
SAMPLE = 50_000           # rows sampled to choose the grid (counts always use every row)
MAX_DISCRETE = 5          # numeric columns with at most this many values are treated as categories


def numeric_profile(values: Any, dtype: str, *, integer: bool, like: dict[str, Any] | None = None) -> dict[str, Any]:
    import numpy as np

    if np.isfinite(values).all():  # the common case: one cheap pass, no copy
        x, n_missing, n_inf = values, 0, 0
    else:
        n_missing = int(np.isnan(values).sum())
        finite = np.isfinite(values)
        n_inf = int(len(values) - n_missing - finite.sum())
        x = values[finite]
    base = {"dtype": dtype, "missing": n_missing, "inf": n_inf}
    n = len(x)
    if like is None:
        if not n:
            return {"kind": "empty", **base, "reason": "no finite values"}
        sample = x if n <= SAMPLE else x[np.random.default_rng(0).integers(0, n, SAMPLE)]
        # more than MAX_DISCRETE values among the first rows already: not discrete (skips a sort)
        levels = np.unique(sample[:1000])
        if len(levels) <= MAX_DISCRETE:
            levels = np.unique(sample)
        if len(levels) <= MAX_DISCRETE and np.isin(x, levels).all():
            levels, counts = np.unique(x, return_counts=True)
            return {"kind": "discrete", **base, "values": levels.tolist(), "counts": counts.tolist()}
        grid = _grid(sample, float(x.min()), float(x.max()), integer=integer)
    else:
        grid = like["grid"]
    cell = cell_index(x, grid)
    cells = np.bincount(cell, minlength=grid["cells"] + 2)
    cuts = like["cuts"] if like is not None else _cuts(cells[1:-1])
    counts = np.concatenate([[cells[0]], np.add.reduceat(cells[1:-1], cuts[:-1]), [cells[-1]]])
    low = float(np.sum(x, where=cell == 0)) if counts[0] else 0.0
    high = float(np.sum(x, where=cell == grid["cells"] + 1)) if counts[-1] else 0.0
    mean = float(x.mean()) if n else 0.0
    m2 = float(np.einsum("i,i->", x, x)) - n * mean * mean if n else 0.0
    if n and m2 <= 1e-6 * (n * mean * mean):  # cancellation risk (huge mean, tiny spread): exact pass
        m2 = float(np.square(x - mean).sum())
    entry = {"kind": "numeric", **base, "integer": bool(integer), "n": n, "mean": mean, "m2": max(m2, 0.0),
             "min": float(x.min()) if n else None, "max": float(x.max()) if n else None,
             "grid": grid, "cuts": [int(c) for c in cuts], "counts": counts.tolist(), "tails": [low, high]}
    beyond = outside(x, like) if like is not None else None
    if beyond is not None:
        entry["outside"] = beyond
    return entry


def outside(x: Any, like: Mapping[str, Any]) -> dict[str, Any] | None:
    """Values of ``x`` below and above the range ``[min, max]`` of ``like`` (the reference: the drift
    report's out-of-range share; the grid's outer bins are not that range), with the bounds: only
    counts on the same bounds add up (:func:`.column.merge_column`), and the report uses them only
    against a reference of that very range. None when ``like`` has no range."""
    low, high = like.get("min"), like.get("max")
    if low is None or high is None:
        return None
    return {"min": low, "max": high, "below": int((x < low).sum()), "above": int((x > high).sum())}


def _grid(sample: Any, lo: float, hi: float, *, integer: bool) -> dict[str, Any]:
    """The fixed cell grid of a numeric column: unit cells for small integer ranges, else
    :data:`GRID` equal cells over [min, max] — in log space for heavy-tailed positive data, over
    the 0.1–99.9% quantiles (the rest in the outer bins) for other heavy tails."""
    import math

    import numpy as np

    if integer and hi - lo < GRID:
        return {"transform": "linear", "lo": lo - 0.5, "width": 1.0, "cells": int(hi - lo) + 1}
    q01, q99 = np.quantile(sample, [0.01, 0.99])
    heavy = hi - lo > 50 * max(q99 - q01, 1e-300)
    if heavy and lo > 0:
        lo, hi, transform = math.log(lo), math.log(hi), "log"
    else:
        if heavy:
            lo, hi = (float(v) for v in np.quantile(sample, [0.001, 0.999]))
        transform = "linear"
    width = (hi - lo) / GRID if hi > lo else 1.0
    return {"transform": transform, "lo": lo, "width": width, "cells": GRID}


def cell_index(x: Any, grid: dict[str, Any]) -> Any:
    """Cell of each value on ``grid``: 0 below it, 1..cells inside, cells+1 at or above its end."""
    import numpy as np

    t = np.log(np.maximum(x, 1e-300)) if grid["transform"] == "log" else x
    g = t - grid["lo"]
    g *= 1.0 / grid["width"]
    np.floor(g, out=g)
    np.clip(g, -1, grid["cells"], out=g)
    cell = g.astype(np.intp)
    cell += 1
    return cell


def _cuts(inner: Any) -> Any:
    """Cell indices where the :data:`FINE_BINS` bins start, at quantiles of the cell counts."""
    import numpy as np

    cum = np.cumsum(inner)
    total = cum[-1] if len(cum) else 0
    if not total:
        return np.array([0, len(inner)])
    starts = np.searchsorted(cum, np.arange(1, FINE_BINS) * (total / FINE_BINS), side="left") + 1
    return np.unique(np.concatenate([[0], starts[starts < len(inner)], [len(inner)]]))


def edges_of(entry: Mapping[str, Any]) -> Any:
    """Bin edges of a numeric profile: bins are ``(-inf, e0), [e0, e1), ..., [eK, inf)``."""
    import numpy as np

    grid = entry["grid"]
    edges = grid["lo"] + np.asarray(entry["cuts"], dtype="float64") * grid["width"]
    return np.exp(edges) if grid["transform"] == "log" else edges
