"""The reference profile: a small, mergeable, JSON summary of a frame's distributions.

Per column kind (decided on the first frame or chunk a profile sees; the words of
:data:`nbtoolkit.contract.COLUMN_KINDS`, shared with the contract):

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

import contextlib
import json
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import BadInput
from .column import merge_column, profile_column

if TYPE_CHECKING:
    import pandas as pd

FORMAT = "nbtoolkit.profile/1"
PARALLEL_ROWS = 200_000   # frames at least this long are profiled column-parallel (threads)
PREDICTION = "(prediction)"
CONFIDENCE = "(confidence)"
__all__ = ["CONFIDENCE", "FORMAT", "PREDICTION", "Profile", "model_outputs"]


def _known_columns(columns: Any, frame: pd.DataFrame) -> list[str]:
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
        from ..contract import as_frame

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
            part = cls.from_frame(chunk, like=_template(like, acc), **kwargs)
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
        merged: dict[str, dict[str, Any]] = {}
        for name in names:
            a, b = self.columns.get(name), other.columns.get(name)
            # a column of one profile only is kept as it is
            merged[name] = merge_column(a, b, name) if a is not None and b is not None else a or b or {}
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
        from ..validation import stored_json

        data = stored_json(text, FORMAT, "profile")
        return cls(data["columns"], data["n_rows"], data.get("outputs", ()), data.get("target"))

    def __repr__(self) -> str:
        kinds: dict[str, int] = {}
        for entry in self.columns.values():
            kinds[entry["kind"]] = kinds.get(entry["kind"], 0) + 1
        return (f"<Profile: {self.n_rows} rows, {len(self.columns)} columns "
                f"({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))})>")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Profile) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # equal by content, and mutable: not hashable


# ---------------------------------------------------------------------------- model outputs
def model_outputs(model: Any, frame: pd.DataFrame) -> dict[str, Any]:
    """Predictions (and, for classifiers, the top-class probability) of ``model`` on ``frame``."""
    import numpy as np
    import pandas as pd

    out = {PREDICTION: pd.Series(np.asarray(model.predict(frame)))}
    if hasattr(model, "predict_proba"):
        with contextlib.suppress(Exception):  # some estimators expose predict_proba but cannot use it
            proba = np.asarray(model.predict_proba(frame))
            out[CONFIDENCE] = pd.Series(proba.max(axis=1).astype("float64"))
    return out


def _template(like: Profile | None, acc: Profile | None) -> Profile | None:
    """What a later chunk is profiled ``like=``: ``like``'s columns (the same bins as ``acc``, and
    its range, against which each chunk counts its out-of-range values), ``acc``'s where ``like``
    has none to give (a column empty or skipped there, whose bins the first chunk decided)."""
    if like is None or acc is None:
        return acc or like

    def usable(entry: dict[str, Any] | None) -> bool:
        return entry is not None and entry.get("kind") not in {"empty", "skipped"}

    columns = {name: entry if usable(entry) else acc.columns.get(name, entry) for name, entry in like.columns.items()}
    columns.update({name: entry for name, entry in acc.columns.items() if name not in columns})
    target = like.target if usable(like.target) else acc.target
    return Profile(columns, acc.n_rows, acc.outputs, target)
