"""Data fingerprints and schema inference (the data contract grows here).

Imports pandas/numpy lazily: this module is imported by the registry, not by ``%load_ext``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .errors import BadInput


def as_frame(data: Any, *, what: str = "data") -> Any:
    """Return ``data`` as a pandas DataFrame (Series/ndarray/list accepted), or raise BadInput."""
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        frame = data
    elif isinstance(data, pd.Series):
        frame = data.to_frame(name=data.name if data.name is not None else "value")
    elif isinstance(data, (np.ndarray, list, tuple)):
        arr = np.asarray(data)
        if arr.ndim == 1:
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2:
            raise BadInput(f"{what} must be 2-dimensional, got an array of shape {arr.shape!r}.")
        frame = pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])
    else:
        raise BadInput(
            f"{what} must be a pandas DataFrame, Series or numpy array, got {type(data).__name__}."
        )
    return frame


def fingerprint(frame: Any, y: Any = None) -> str:
    """sha256 of a training frame (values, column names and dtypes, row order), plus ``y``.

    Uses ``pandas.util.hash_pandas_object`` (vectorised), so 1M rows hash in well under a second.
    """
    import pandas as pd

    h = hashlib.sha256()
    frame = as_frame(frame)
    h.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    if y is not None:
        ys = y if isinstance(y, pd.Series) else pd.Series(list(y) if not hasattr(y, "shape") else y)
        h.update(b"|y|" + str(ys.dtype).encode())
        h.update(pd.util.hash_pandas_object(ys.reset_index(drop=True), index=False).to_numpy().tobytes())
    return h.hexdigest()


def infer_schema(frame: Any, *, max_categories: int = 50) -> dict[str, Any]:
    """Column names, dtypes, null rates, numeric ranges and category sets of ``frame``."""
    import numpy as np
    import pandas as pd

    frame = as_frame(frame)
    columns: dict[str, Any] = {}
    for name in frame.columns:
        s = frame[name]
        entry: dict[str, Any] = {
            "dtype": str(s.dtype),
            "null_rate": float(s.isna().mean()) if len(s) else 0.0,
        }
        if pd.api.types.is_bool_dtype(s):
            entry["kind"] = "boolean"
        elif pd.api.types.is_numeric_dtype(s):
            finite = s[np.isfinite(s.astype("float64"))] if len(s) else s
            entry["kind"] = "numeric"
            entry["min"] = float(finite.min()) if len(finite) else None
            entry["max"] = float(finite.max()) if len(finite) else None
        elif pd.api.types.is_datetime64_any_dtype(s):
            entry["kind"] = "datetime"
            entry["min"] = str(s.min()) if s.notna().any() else None
            entry["max"] = str(s.max()) if s.notna().any() else None
        else:
            levels = s.dropna().astype(str).unique()
            if len(levels) <= max_categories:
                entry["kind"] = "categorical"
                entry["categories"] = sorted(levels.tolist())
            else:
                entry["kind"] = "text"
                entry["n_unique"] = int(len(levels))
        columns[str(name)] = entry
    return {"n_rows": int(len(frame)), "columns": columns}
