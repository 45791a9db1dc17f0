"""What :func:`.engine.drift` compares: the current and reference frames checked, the reference
resolved (a frame, a Profile, or a registered version's stored profile) and the columns to test."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from ..errors import Arg, BadInput, did_you_mean, say
from ..validation import shown
from ..profiles import Profile

MIN_ROWS = 2


def is_path(data: Any) -> bool:
    """A file name given where data is expected (``drift("current.csv", "reference.parquet")``)."""
    return isinstance(data, (str, os.PathLike))


def checked_frame(frame: Any, what: str) -> Any:
    if frame.shape[1] == 0 or len(frame) == 0:
        raise BadInput(f"The {what} is empty ({len(frame)} rows, {frame.shape[1]} columns); "
                       "drift needs rows to compare.")
    if len(frame) < MIN_ROWS:
        raise BadInput(f"The {what} has {len(frame)} row; drift tests compare distributions and "
                       f"need at least {MIN_ROWS} rows (a few hundred for a meaningful result).")
    if frame.columns.duplicated().any():
        dup = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise BadInput(f"The {what} has duplicated column names {dup!r}; rename them first.")
    if any(not isinstance(c, str) for c in frame.columns):
        frame = frame.rename(columns=str)
    return frame


def resolve_reference(reference: Any, model: Any, *, predictions: bool = True) -> tuple[Any, Profile | None, Any, str]:
    from ..contract import as_frame

    estimator = model if model is not None and not isinstance(model, str) else None
    if isinstance(reference, Profile):
        return None, reference, estimator, f"profile ({reference.n_rows} rows)"
    if reference is not None:
        frame = checked_frame(as_frame(reference, what="reference data"), "reference data")
        if isinstance(model, str) and predictions:
            from .. import registry

            estimator = registry.load(model)
        return frame, None, estimator, f"reference frame ({len(frame)} rows)"
    if model is None:
        raise BadInput(say("No reference: pass ", Arg("reference", "DataFrame or Profile"), ", or ",
                           Arg("model", "'NAME@alias'"), " (a version registered with --data stores its profile)."))
    if estimator is not None:
        raise BadInput(say("An estimator alone is no reference; pass ", Arg("reference", "DataFrame"), " as well, or ",
                           Arg("model", "'NAME@alias'"), " for a registered version's stored profile."))
    return None, *stored_reference(model, predictions=predictions)


def stored_reference(ref: str, *, predictions: bool = True, process: Any = None) -> tuple[Profile, Any, str]:
    """The stored profile of version ``ref``, its model when the profile holds outputs (loaded in
    ``process``, a :class:`~nbtoolkit.registry.model_process.ModelProcess`, when given) and how the
    report names this reference."""
    from .. import registry
    from ..registry.artifacts import stored_profile

    mv, text = stored_profile(ref, process=process)
    profile = Profile.from_json(text)
    # predictions=False: inputs only; the model (skops, sklearn) is then never loaded
    estimator = registry.load(ref, process=process) if profile.outputs and predictions else None
    return profile, estimator, f"{mv.name}/{mv.version} profile ({profile.n_rows} rows)"


def column_list(columns: Any, profile: Profile | None, raw_ref: Any, cur: Any) -> list[str]:
    if profile is not None:
        known = [c for c in profile.columns if c not in profile.outputs]
    else:
        known = [str(c) for c in raw_ref.columns]
    if isinstance(columns, str):
        columns = [c.strip() for c in columns.split(",") if c.strip()]
    if columns is not None:
        columns = list(columns)
        if not columns:
            raise BadInput("columns is empty; name at least one column or leave it out.")
        for col in columns:
            if col not in known:
                raise BadInput(f"Unknown column {col!r}: not in the reference." + did_you_mean(col, known))
        known = columns
    missing = [c for c in known if c not in cur.columns]
    if missing:
        raise BadInput(say(f"Column(s) {missing!r} are in the reference but not in the current data; "
                           "fix the data or pass ", Arg("columns", "[...]"), " to compare a subset."))
    return known


def read_table(path: str | os.PathLike[str], *, what: str = "file") -> Any:
    """Read a CSV (.csv, .tsv, .csv.gz) or Parquet file; ISO timestamps in CSV become datetimes.

    What ``nbt data drift`` reads its files with, and ``drift()`` a path it is given.
    """
    import pandas as pd

    try:
        p = Path(path)
        exists = p.is_file()
    except (OSError, ValueError):  # a NUL byte, a name too long for the file system
        exists = False
    if not exists:
        raise BadInput(f"No such {what}: {shown(str(path))}; give the path of a CSV or Parquet file.")
    name = p.name.lower()
    try:
        with p.open("rb") as fh:
            is_parquet = fh.read(4) == b"PAR1"
        if is_parquet:
            return pd.read_parquet(p)
        if name.endswith((".parquet", ".pq")):
            raise ValueError("not a Parquet file (no PAR1 magic)")
        frame = pd.read_csv(p, sep="\t" if ".tsv" in name else ",", low_memory=False)
    except BadInput:
        raise
    except Exception as exc:
        reason = " ".join(str(exc).split())[:200]
        raise BadInput(f"Cannot read {what} {shown(str(path))} as CSV or Parquet "
                       f"({type(exc).__name__}: {reason}).") from None
    if frame.shape[1] == 0:
        raise BadInput(f"The {what} {shown(str(path))} has no columns; is it a CSV or Parquet file?")
    return _parse_timestamps(frame)


def _parse_timestamps(frame: Any) -> Any:
    import pandas as pd

    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            continue
        sample = s.dropna().head(50).astype(str)
        if not len(sample) or not sample.str.match(r"^\d{4}-\d{2}-\d{2}").all():
            continue
        with contextlib.suppress(ValueError, TypeError):  # not dates after all: the column stays text
            frame[col] = pd.to_datetime(s, format="ISO8601")
    return frame
