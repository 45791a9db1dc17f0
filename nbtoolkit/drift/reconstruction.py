"""Multivariate drift over time: PCA data-reconstruction error (as NannyML's calculator).

Fitted once on the reference: numeric columns (free text by its length) are imputed with the
reference mean, categories are encoded by their reference frequency (unseen levels: 0), every
column is standardised with the reference mean and std, and PCA keeps the components that explain
65 % of the variance (reference chunks are scored by components fitted without them). A chunk's
value is the mean Euclidean distance between its rows and their reconstruction from those
components: when the correlations between columns change, rows stop lying near the reference's
principal subspace and the error rises, even if no single column's distribution moved. Limits:
mean ± k sd of the error over the reference chunks (:mod:`nbtoolkit.limits`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..limits import outside, reference_limits

if TYPE_CHECKING:
    import pandas as pd

    from ..chunking import Chunk
    from ..profiles import Profile

VARIANCE = 0.65


def reconstruction_timeline(ref: pd.DataFrame, cur: pd.DataFrame, columns: list[str], profile: Profile,
                            ref_chunks: list[Chunk], cur_chunks: list[Chunk], *,
                            k: float = 3.0) -> dict[str, Any] | None:
    import numpy as np

    encode = _encoder(ref, columns, profile)
    X = encode(ref)
    if X.shape[1] < 2:
        return None
    mean, std = X.mean(axis=0), X.std(axis=0)
    std[std == 0] = 1.0
    Z = (X - mean) / std
    gram = Z.T @ Z

    def components(g: Any) -> Any:
        values, vectors = np.linalg.eigh(g)
        values, vectors = values[::-1], vectors[:, ::-1]
        explained = np.cumsum(values) / np.sum(values)
        return vectors[:, : int(np.searchsorted(explained, VARIANCE) + 1)]

    def error(z: Any, W: Any) -> Any:
        return np.linalg.norm(z - (z @ W) @ W.T, axis=1)

    W = components(gram)
    err_cur = error((encode(cur) - mean) / std, W)
    # Each reference chunk is scored by components fitted without it (the Gram matrix minus the
    # chunk's share): in-sample errors are lower than a new chunk's and would set the limits too low.
    ref_values = []
    for c in ref_chunks:
        z = Z[c.positions]
        ref_values.append(float(error(z, components(gram - z.T @ z)).mean()))
    limits = reference_limits(ref_values, k)
    lower, upper = (math.nan if v is None else v for v in limits)  # NaN: no limits (one reference chunk)
    rows = []
    for period, chunks, values in (("reference", ref_chunks, ref_values),
                                   ("current", cur_chunks, [float(err_cur[c.positions].mean()) for c in cur_chunks])):
        for c, value in zip(chunks, values):
            rows.append({"period": period, "chunk": c.key, "start": c.start, "end": c.end, "rows": c.rows,
                         "reconstruction_error": value, "lower": lower, "upper": upper,
                         "drifted": outside(value, limits)})
    return {"method": "PCA reconstruction error", "components": int(W.shape[1]), "columns": X.shape[1], "rows": rows}


def _encoder(ref: pd.DataFrame, columns: list[str], profile: Profile) -> Any:
    import numpy as np
    import pandas as pd

    plan: list[tuple[str, str, dict[str, float] | None]] = []  # column, encoding, category frequencies
    for name in columns:
        entry = profile.columns[name]
        kind = entry["kind"]
        if kind in {"categorical", "boolean"}:
            counts = entry["counts"]
            total = max(sum(counts.values()), 1)
            plan.append((name, "freq", {k: v / total for k, v in counts.items()}))
        elif kind == "text":
            plan.append((name, "length", None))
        elif kind in {"numeric", "discrete"}:
            plan.append((name, "number", None))

    fill: dict[str, float] = {}

    def column(frame: pd.DataFrame, name: str, how: str, freq: Any) -> Any:
        s = frame[name]
        if how == "freq":
            return s.astype("string").map(freq).astype("float64").fillna(0.0).to_numpy()
        if how == "length":
            x = s.astype("string").str.len().to_numpy(dtype="float64", na_value=np.nan)
        else:
            x = pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        x = np.where(np.isfinite(x), x, np.nan)
        if name not in fill:
            fill[name] = float(np.nanmean(x)) if np.isfinite(x).any() else 0.0
        return np.where(np.isnan(x), fill[name], x)

    def encode(frame: pd.DataFrame) -> Any:
        if not plan:
            return np.zeros((len(frame), 0))
        return np.column_stack([column(frame, name, how, freq) for name, how, freq in plan])

    return encode
