"""A synthetic table with known drift, shared by the drift benchmarks and the scale tests.

20 columns: 10 normal floats (``num_*``), 5 Poisson counts (``count_*``), 5 string categoricals of
10 levels (``cat_*``). With ``drifted=True`` the first three floats move by ``shift`` standard
deviations and ``cat_0``'s first level takes ``top_share`` of the rows, so exactly
:data:`DRIFTED` should be flagged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd

NUMERIC = [f"num_{i}" for i in range(10)]
COUNTS = [f"count_{i}" for i in range(5)]
CATEGORIES = [f"cat_{i}" for i in range(5)]
DRIFTED = frozenset({"num_0", "num_1", "num_2", "cat_0"})


def drift_frame(n: int, seed: int, *, drifted: bool, shift: float = 0.3, top_share: float = 0.28,
                string_dtype: Literal["str", "string", "category", "object"] | None = None) -> pd.DataFrame:
    """``n`` rows of the table; ``string_dtype`` (e.g. ``"str"``) casts the categoricals."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for i, name in enumerate(NUMERIC):
        data[name] = rng.normal(shift if drifted and i < 3 else 0.0, 1.0, n)
    for name in COUNTS:
        data[name] = rng.poisson(5, n)
    levels = np.array([f"level_{j}" for j in range(10)], dtype=object)
    mix = np.r_[top_share, [(1 - top_share) / 9] * 9]
    for i, name in enumerate(CATEGORIES):
        values = levels[rng.choice(10, n, p=mix if drifted and i == 0 else None)]
        data[name] = pd.Series(values).astype(string_dtype) if string_dtype else values
    return pd.DataFrame(data)
