"""The reference profile: a small, mergeable, JSON summary of a frame's distributions.

Per column kind (decided on the first frame or chunk a profile sees; the words of
:data:`nbtoolkit.data.COLUMN_KINDS`, shared with the contract):

``numeric``
    Counts on fixed bins: values are counted on a grid of :data:`.bins.GRID` equal cells (unit cells for
    integers; log-spaced for heavy-tailed positive data) decided from the first frame, and cells
    are grouped into up to :data:`.bins.FINE_BINS` bins holding equal shares of that frame
    (``(-inf, e0), [e0, e1), ..., [eK, inf)``); plus count, mean, M2, min, max and the sums of the
    two outer bins. The CDF is exact at every edge, so KS is exact there and
    Wasserstein/PSI/Jensen–Shannon are computed on the bins (see :mod:`.stats` for the error).
    Counting is one vectorised pass (no sort, no binary search).
``discrete``
    A numeric column with at most :data:`.bins.MAX_DISCRETE` distinct values: exact counts per value.
``categorical`` / ``boolean``
    Exact counts per category (missing values counted apart).
``text``
    A string column with more than :data:`MAX_CATEGORIES` distinct values that looks like free
    text (long or containing spaces): its *length in characters* is profiled as a numeric column.
``skipped``
    Columns no test applies to (datetime, all-missing, mixed types, high-cardinality categorical
    codes), each with the reason shown in the drift report.

Merging: profiles built with the same bins add up exactly (counts, Chan's parallel mean/M2). A
later chunk must be profiled ``like=`` the profile so far (``Profile.from_frame(chunk,
like=acc)``), which fixes its bins to those decided by the first chunk; :meth:`Profile.from_chunks`
and :meth:`Profile.from_parquet` do exactly that, and so should a Dask ``map_partitions`` (profile
the first partition, broadcast it, build the others ``like=`` it, ``merge``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

from ..data import MAX_CATEGORIES
from ..errors import BadInput
from .bins import numeric_profile

FORMAT = "nbtoolkit.profile/1"
PARALLEL_ROWS = 200_000   # frames at least this long are profiled column-parallel (threads)
PREDICTION = "(prediction)"
CONFIDENCE = "(confidence)"


def _known_columns(columns: Any, frame: Any) -> list[str]:
    """``columns=`` of :meth:`Profile.from_frame`: names of columns that ``frame`` has."""
    from ..errors import did_you_mean
    from ..validation import names

    wanted = names(columns, "columns") or []
    have = {str(c): c for c in frame.columns}
    for name in wanted:
        if name not in have:
            raise BadInput(f"Unknown column {name!r}: not in the frame." + did_you_mean(name, have))
    return wanted


class Profile:
    """Distribution summary of a frame: kilobytes, independent of the number of rows, mergeable.

    Build with :meth:`from_frame` (or :meth:`from_chunks` / :meth:`from_parquet`), combine with
    :meth:`merge`, store with :meth:`to_json` / :meth:`from_json`.
    """

    def __init__(self, columns: Mapping[str, dict[str, Any]], n_rows: int,
                 outputs: Iterable[str] = (), target: dict[str, Any] | None = None) -> None:
        from ..validation import count, mapping

        self.columns: dict[str, dict[str, Any]] = mapping(columns, "columns")
        self.n_rows = count(n_rows, "n_rows", zero=True)
        if isinstance(outputs, (str, bytes)) or not isinstance(outputs, Iterable):
            raise BadInput(f"outputs must be a list of column names, got {type(outputs).__name__}.")
        self.outputs = [o for o in outputs if isinstance(o, str) and o in self.columns]
        self.target = target

    # ------------------------------------------------------------------ build
    @classmethod
    def from_frame(cls, frame: Any, *, model: Any = None, y: Any = None,
                   like: Profile | None = None, columns: Iterable[str] | None = None) -> Profile:
        """Profile ``frame`` (and, given a fitted ``model``, its predictions and confidences).

        Parameters
        ----------
        frame : DataFrame (Series/ndarray accepted)
        model : fitted estimator, optional; adds ``(prediction)`` and ``(confidence)`` columns
            (left out when the model cannot predict on ``frame``)
        y : labels, optional; their distribution is stored as ``target``
        like : Profile, optional; reuse its column kinds and bins, so the result merges with it
            and can be compared with it bin by bin
        columns : only these columns
        """
        from ..data import as_frame

        frame = as_frame(frame)
        if frame.columns.duplicated().any():
            dup = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
            raise BadInput(f"The frame has duplicated column names {dup!r}; rename them before profiling.")
        if like is not None and not isinstance(like, Profile):
            raise BadInput(f"like must be a Profile (e.g. Profile.from_frame(reference)), got {type(like).__name__}.")
        names = [str(c) for c in frame.columns] if columns is None else _known_columns(columns, frame)
        def one(name: str) -> dict[str, Any]:
            return profile_column(frame[name], like=like.columns.get(name) if like is not None else None)

        if len(frame) >= PARALLEL_ROWS and len(names) > 1:
            # numpy and pyarrow release the GIL on large arrays: columns profile in parallel
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=min(len(names), os.cpu_count() or 1, 8)) as pool:
                out = dict(zip(names, pool.map(one, names)))
        else:
            out = {name: one(name) for name in names}
        outputs: list[str] = []
        if model is not None:
            try:
                produced = model_outputs(model, frame)
            except Exception:  # a model that cannot predict on this frame: no prediction profile
                produced = {}
            for name, series in produced.items():
                template = like.columns.get(name) if like is not None else None
                out[name] = profile_column(series, like=template)
                outputs.append(name)
        target = None
        if y is not None:
            import pandas as pd

            target = profile_column(pd.Series(getattr(y, "values", y)).reset_index(drop=True),
                                    like=like.target if like is not None else None)
        return cls(out, len(frame), outputs, target)

    @classmethod
    def from_chunks(cls, chunks: Iterable[Any], *, like: Profile | None = None, **kwargs: Any) -> Profile:
        """Profile an iterable of frames chunk by chunk.

        Bins are fixed by ``like`` when given (e.g. profile current data on the reference's bins,
        so that :func:`~nbtoolkit.drift.drift` can compare the two profiles), else by the first chunk.
        """
        acc: Profile | None = None
        for chunk in chunks:
            part = cls.from_frame(chunk, like=acc or like, **kwargs)
            acc = part if acc is None else acc.merge(part)
        if acc is None:
            raise BadInput("No chunks to profile: the iterable was empty.")
        return acc

    @classmethod
    def from_parquet(cls, path: Any, *, chunksize: int = 1_000_000, columns: list[str] | None = None,
                     like: Profile | None = None, **kwargs: Any) -> Profile:
        """Profile a Parquet file chunk by chunk; see :meth:`from_chunks`.

        Memory stays at one row group (Parquet's unit of reading) plus one ``chunksize`` frame.
        """
        import pyarrow.parquet as pq

        try:
            reader = pq.ParquetFile(str(path))
        except Exception as exc:
            raise BadInput(f"Cannot read {str(path)!r} as Parquet ({type(exc).__name__}: {exc}).") from None

        def chunks() -> Iterable[Any]:
            # Row group by row group: iter_batches reads ahead and held ~3x more memory here.
            for i in range(reader.num_row_groups):
                table = reader.read_row_group(i, columns=columns)
                for start in range(0, table.num_rows, int(chunksize)):
                    yield table.slice(start, int(chunksize)).to_pandas()
                del table

        return cls.from_chunks(chunks(), like=like, **kwargs)

    # ------------------------------------------------------------------ combine
    def merge(self, other: Profile) -> Profile:
        """The profile of the concatenation of the two frames (exact for counts and moments).

        ``other`` must have been built ``like=`` this profile (or the same first chunk), so that
        numeric columns share their bins; otherwise :class:`BadInput` says so.
        """
        if not isinstance(other, Profile):
            raise BadInput(f"Can only merge a Profile with a Profile, got {type(other).__name__}.")
        names = list(self.columns) + [c for c in other.columns if c not in self.columns]
        merged = {}
        for name in names:
            a, b = self.columns.get(name), other.columns.get(name)
            merged[name] = a if b is None else b if a is None else merge_column(a, b, name)
        target = self.target
        if self.target is not None and other.target is not None:
            target = merge_column(self.target, other.target, "target")
        return Profile(merged, self.n_rows + other.n_rows,
                       list(dict.fromkeys(self.outputs + other.outputs)), target or other.target)

    __add__ = merge

    # ------------------------------------------------------------------ storage
    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "n_rows": self.n_rows, "outputs": self.outputs,
                "target": self.target, "columns": self.columns}

    def to_json(self) -> str:
        """Compact JSON (a few KB per numeric column, independent of the row count)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Profile:
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise BadInput(f"Not a profile: the text is not JSON ({exc}).") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise BadInput(f"Not an nbtoolkit profile (format {found!r}, expected {FORMAT!r}).")
        return cls(data["columns"], data["n_rows"], data.get("outputs", ()), data.get("target"))

    def __repr__(self) -> str:
        kinds: dict[str, int] = {}
        for entry in self.columns.values():
            kinds[entry["kind"]] = kinds.get(entry["kind"], 0) + 1
        return (f"<Profile: {self.n_rows} rows, {len(self.columns)} columns "
                f"({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))})>")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Profile) and self.to_dict() == other.to_dict()


# ---------------------------------------------------------------------------- model outputs
def model_outputs(model: Any, frame: Any) -> dict[str, Any]:
    """Predictions (and, for classifiers, the top-class probability) of ``model`` on ``frame``."""
    import numpy as np
    import pandas as pd

    out = {PREDICTION: pd.Series(np.asarray(model.predict(frame)))}
    if hasattr(model, "predict_proba"):
        try:
            proba = np.asarray(model.predict_proba(frame))
            out[CONFIDENCE] = pd.Series(proba.max(axis=1).astype("float64"))
        except Exception:  # some estimators expose predict_proba but cannot use it
            pass
    return out


# ---------------------------------------------------------------------------- one column
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
    return {**a, "missing": missing, "inf": a["inf"] + b["inf"], "n": n, "mean": mean, "m2": m2,
            "min": min(lows) if lows else None, "max": max(highs) if highs else None,
            "counts": (np.asarray(a["counts"]) + np.asarray(b["counts"])).tolist(),
            "tails": [a["tails"][0] + b["tails"][0], a["tails"][1] + b["tails"][1]]}
