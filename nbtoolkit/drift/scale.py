"""Profiles of data larger than memory: per partition of a Dask DataFrame, merged.

A :class:`~nbtoolkit.drift.Profile` is a few kilobytes whatever the row count, and two profiles
built on the same bins merge exactly (counts, moments). So a Dask DataFrame is profiled one
partition per task — on the local threads or on a ``distributed`` cluster when a ``Client`` is
active — each partition ``like=`` one template profile, and the partial profiles are merged on
the caller's side. Only the partitions being profiled are in memory at any time.

``nbtoolkit.drift(dask_frame, model="tickets@champion")`` takes this path by itself (the
template is the reference profile, so the result is compared bin by bin with it); Parquet files
go through :meth:`Profile.from_parquet` (pyarrow record batches) the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import BadInput
from ..profiles import Profile


def is_dask_frame(obj: Any) -> bool:
    """True for a ``dask.dataframe`` DataFrame (checked without importing dask)."""
    return type(obj).__module__.split(".")[0] in {"dask", "dask_expr"} and hasattr(obj, "to_delayed") \
        and hasattr(obj, "npartitions")


def profile_dask(frame: Any, *, like: Profile | None = None, model: Any = None,
                 columns: Iterable[str] | None = None) -> Profile:
    """Profile a Dask DataFrame partition by partition and merge the partial profiles.

    Parameters
    ----------
    frame : dask.dataframe.DataFrame
    like : Profile, optional
        Template whose column kinds and bins every partition reuses (pass the reference profile
        to compare the result with it). Default: the profile of the first non-empty partition.
    model : fitted estimator, optional
        Adds its predictions and confidences on every partition (prediction drift).
    columns : only these columns

    Returns
    -------
    Profile
        Equal, up to floating-point summation order, to ``Profile.from_frame(frame.compute(),
        like=like)`` — without ever holding the whole frame.
    """
    try:
        import dask
    except ImportError:  # only a dask frame reaches here, but say which extra brings it
        raise BadInput("Profiling a dask DataFrame needs dask: pip install 'nbtoolkit[dask]'.") from None

    if not is_dask_frame(frame):
        raise BadInput(f"Expected a dask DataFrame, got {type(frame).__name__}.")
    columns = list(columns) if columns is not None else None
    parts = list(frame.to_delayed())
    acc: Profile | None = None
    if like is None:  # bins from the first non-empty partition (computed here, then dropped)
        while parts and like is None:
            first = parts.pop(0).compute()
            if len(first):
                like = acc = Profile.from_frame(first, model=model, columns=columns)
        if like is None:
            raise BadInput("The dask DataFrame has no rows; nothing to profile.")
    tasks = [dask.delayed(_profile_partition)(part, like, model, columns) for part in parts]
    for partial in dask.compute(*tasks):
        if partial is not None:
            acc = partial if acc is None else acc.merge(partial)
    if acc is None:
        raise BadInput("The dask DataFrame has no rows; nothing to profile.")
    return acc


def _profile_partition(part: Any, like: Profile, model: Any, columns: list[str] | None) -> Profile | None:
    if len(part) == 0:
        return None
    return Profile.from_frame(part, like=like, model=model, columns=columns)
