"""One column's profile: its kind (the words of :data:`nbtoolkit.contract.COLUMN_KINDS`), counts or bins,
built alone or ``like=`` a reference column; the exact merge of two profiles of one column, and its
inverse (a reference entry without one of its chunks)."""

from __future__ import annotations

from typing import Any

from ..contract import MAX_CATEGORIES
from ..errors import BadInput
from .bins import numeric_profile


def profile_column(s: Any, *, like: dict[str, Any] | None = None) -> dict[str, Any]:
    """Profile one Series; with ``like`` (the same column's profile), reuse its kind and bins."""
    import numpy as np
    import pandas as pd

    dtype = str(s.dtype)
    if like is not None and like["kind"] not in {"empty", "skipped"}:
        return _profile_like(s, like, dtype)
    n_missing = int(s.isna().sum())
    if len(s) and n_missing == len(s):
        return {"kind": "empty", "dtype": dtype, "missing": n_missing,
                "reason": "all values are missing"}
    if pd.api.types.is_bool_dtype(s):
        return _categorical(s, "boolean", dtype)
    if pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_timedelta64_dtype(s):
        return {"kind": "skipped", "dtype": dtype, "missing": n_missing,
                "reason": "datetime column: its values move with time; check freshness with "
                          "validate, or derive features (hour, weekday) to test"}
    if pd.api.types.is_numeric_dtype(s) and not isinstance(s.dtype, pd.CategoricalDtype):
        values = s.to_numpy(dtype="float64", na_value=np.nan)
        return numeric_profile(values, dtype, integer=pd.api.types.is_integer_dtype(s))
    if s.dtype == object:
        kind = pd.api.types.infer_dtype(s, skipna=True)
        if kind.startswith("mixed"):
            types = sorted({type(v).__name__ for v in s.dropna().head(1000)})
            return {"kind": "skipped", "dtype": dtype, "missing": n_missing,
                    "reason": f"mixed types ({', '.join(types)}); cast the column to one type"}
    entry = _categorical(s, "categorical", dtype)
    if len(entry["counts"]) <= MAX_CATEGORIES:
        return entry
    if _looks_like_text(s):
        return {"kind": "text", "dtype": dtype, "missing": n_missing,
                "n_unique": len(entry["counts"]), "length": numeric_profile(_lengths(s), "int64", integer=True)}
    return {"kind": "skipped", "dtype": dtype, "missing": n_missing,
            "reason": f"high-cardinality categorical ({len(entry['counts'])} levels, more than "
                      f"{MAX_CATEGORIES}); group rare levels or leave the column out"}


def _profile_like(s: Any, like: dict[str, Any], dtype: str) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    kind = like["kind"]
    if len(s) and s.isna().all():  # no values has no type either (a column of None is object)
        return {"kind": "empty", "dtype": dtype, "missing": len(s), "reason": "all values are missing"}
    if kind in {"categorical", "boolean"}:
        return _categorical(s, kind, dtype)
    numeric_ok = pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)
    if kind == "text":
        if numeric_ok:
            return _type_changed(kind, dtype)
        return {"kind": "text", "dtype": dtype, "missing": int(s.isna().sum()),
                "length": _numeric_like(_lengths(s).astype("float64"), "int64", like["length"])}
    if not numeric_ok or isinstance(s.dtype, pd.CategoricalDtype):
        return _type_changed(kind, dtype)
    return _numeric_like(s.to_numpy(dtype="float64", na_value=np.nan), dtype, like)


def _numeric_like(values: Any, dtype: str, like: dict[str, Any]) -> dict[str, Any]:
    """Profile numbers on the reference's bins; a discrete reference keeps exact value counts."""
    import numpy as np

    if like["kind"] == "discrete":
        finite = values[np.isfinite(values)]
        levels, counts = np.unique(finite, return_counts=True)
        return {"kind": "discrete", "dtype": dtype, "missing": int(np.isnan(values).sum()),
                "inf": int(np.isinf(values).sum()), "values": levels.tolist(), "counts": counts.tolist()}
    return numeric_profile(values, dtype, integer=like.get("integer", False), like=like)


def _type_changed(kind: str, dtype: str) -> dict[str, Any]:
    return {"kind": "skipped", "dtype": dtype, "missing": 0,
            "reason": f"type changed: {kind} in the reference, {dtype} here; run validate"}


def _looks_like_text(s: Any) -> bool:
    sample = s.dropna().head(2000).astype(str)
    if not len(sample):
        return False
    return bool(sample.str.len().mean() >= 20 or sample.str.contains(" ", regex=False).mean() >= 0.5)


def _lengths(s: Any) -> Any:
    import numpy as np

    arr = getattr(s.array, "_pa_array", None)
    if arr is not None:  # pyarrow-backed strings: vectorised length
        import pyarrow.compute as pc

        return np.asarray(pc.utf8_length(arr).to_numpy(zero_copy_only=False), dtype="float64")
    return s.astype("string").str.len().to_numpy(dtype="float64", na_value=np.nan)


def _categorical(s: Any, kind: str, dtype: str) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    n_missing = int(s.isna().sum())
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes = s.cat.codes.to_numpy()
        counts = np.bincount(codes[codes >= 0], minlength=len(s.cat.categories))
        pairs = zip(map(str, s.cat.categories), counts.tolist())
    else:
        arr = getattr(s.array, "_pa_array", None)
        if arr is not None:
            import pyarrow.compute as pc

            vc = pc.value_counts(arr)
            pairs = zip(vc.field(0).to_pylist(), vc.field(1).to_pylist())
        else:
            vc = s.value_counts(dropna=True, sort=False)
            pairs = zip(vc.index.tolist(), vc.tolist())
    counts_by_level: dict[str, int] = {}
    for level, count in pairs:
        if level is None or count == 0:
            continue
        key = str(level)
        counts_by_level[key] = counts_by_level.get(key, 0) + int(count)
    return {"kind": kind, "dtype": dtype, "missing": n_missing, "counts": counts_by_level}


# ---------------------------------------------------------------------------- merge
def merge_column(a: dict[str, Any], b: dict[str, Any], name: str) -> dict[str, Any]:
    """Merge two profiles of the same column (see :meth:`Profile.merge`)."""
    import numpy as np

    if a["kind"] == "empty":
        return {**b, "missing": b.get("missing", 0) + a.get("missing", 0)}
    if b["kind"] == "empty":
        return {**a, "missing": a.get("missing", 0) + b.get("missing", 0)}
    if a["kind"] != b["kind"]:
        raise BadInput(f"Cannot merge column {name!r}: it is {a['kind']} in one profile and "
                       f"{b['kind']} in the other; build later chunks with like=the first profile.")
    kind = a["kind"]
    missing = a.get("missing", 0) + b.get("missing", 0)
    if kind == "skipped":
        return {**a, "missing": missing}
    if kind in {"categorical", "boolean"}:
        counts = dict(a["counts"])
        for k, v in b["counts"].items():
            counts[k] = counts.get(k, 0) + v
        return {**a, "missing": missing, "counts": counts}
    if kind == "discrete":
        merged: dict[float, int] = {}
        for side in (a, b):
            for v, c in zip(side["values"], side["counts"]):
                merged[v] = merged.get(v, 0) + c
        values = sorted(merged)
        return {**a, "missing": missing, "inf": a.get("inf", 0) + b.get("inf", 0),
                "values": values, "counts": [merged[v] for v in values]}
    if kind == "text":
        return {**a, "missing": missing, "length": merge_column(a["length"], b["length"], name)}
    if a["grid"] != b["grid"] or a["cuts"] != b["cuts"]:
        raise BadInput(f"Cannot merge column {name!r}: the profiles use different bins; build "
                       "later chunks with Profile.from_frame(chunk, like=first_profile).")
    na, nb = a["n"], b["n"]
    n = na + nb
    delta = b["mean"] - a["mean"]
    mean = a["mean"] + delta * nb / n if n else 0.0
    m2 = a["m2"] + b["m2"] + delta * delta * na * nb / n if n else 0.0
    lows = [v for v in (a["min"], b["min"]) if v is not None]
    highs = [v for v in (a["max"], b["max"]) if v is not None]
    return _with_outside({**a, "missing": missing, "inf": a["inf"] + b["inf"], "n": n, "mean": mean, "m2": m2,
                          "min": min(lows) if lows else None, "max": max(highs) if highs else None,
                          "counts": (np.asarray(a["counts"]) + np.asarray(b["counts"])).tolist(),
                          "tails": [a["tails"][0] + b["tails"][0], a["tails"][1] + b["tails"][1]]},
                         a.get("outside"), b.get("outside"), 1)


def _with_outside(entry: dict[str, Any], a: dict[str, Any] | None, b: dict[str, Any] | None,
                  sign: int) -> dict[str, Any]:
    """``entry`` with the out-of-range counts of ``a`` plus (``sign`` 1) or minus (-1) those of ``b``
    when both count against the same reference range; without them otherwise (a profile built
    before they were counted, or against another range, says nothing about them)."""
    entry = {k: v for k, v in entry.items() if k != "outside"}
    if a is not None and b is not None and (a["min"], a["max"]) == (b["min"], b["max"]):
        entry["outside"] = {**a, "below": a["below"] + sign * b["below"], "above": a["above"] + sign * b["above"]}
    return entry


def without(ref: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    """The profile entry of the reference minus one of its chunks (profiled ``like=`` it): the
    inverse of :func:`merge_column`, so a reference chunk can be compared with the rest."""
    import numpy as np

    kind = ref["kind"]
    if part["kind"] != kind:
        return ref
    if kind == "text":
        return {**ref, "length": without(ref["length"], part["length"])}
    if kind in {"categorical", "boolean"}:
        return {**ref, "counts": {k: v - part["counts"].get(k, 0) for k, v in ref["counts"].items()}}
    if kind == "discrete":
        taken = dict(zip(part["values"], part["counts"]))
        return {**ref, "counts": [c - taken.get(v, 0) for v, c in zip(ref["values"], ref["counts"])]}
    n, nc = ref["n"], part["n"]
    rest = n - nc
    if rest <= 0:
        return ref
    mean = (n * ref["mean"] - nc * part["mean"]) / rest
    delta = part["mean"] - mean
    m2 = max(ref["m2"] - part["m2"] - delta * delta * rest * nc / n, 0.0)
    return _with_outside({**ref, "n": rest, "mean": mean, "m2": m2,
                          "counts": (np.asarray(ref["counts"]) - np.asarray(part["counts"])).tolist(),
                          "tails": [ref["tails"][0] - part["tails"][0], ref["tails"][1] - part["tails"][1]]},
                         ref.get("outside"), part.get("outside"), -1)
