"""What :func:`.engine.drift` compares: the current and reference frames checked, the reference
resolved (a frame, a Profile, or a registered version's stored profile) and the columns to test."""

from __future__ import annotations

from typing import Any

from ..errors import BadInput, did_you_mean
from .profile import Profile

MIN_ROWS = 2


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
    from ..data import as_frame

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
        raise BadInput("No reference: pass reference=DataFrame or Profile, or model='NAME@alias' "
                       "(a version registered with --data stores its profile).")
    if estimator is not None:
        raise BadInput("An estimator alone is no reference; pass reference=DataFrame as well, or "
                       "model='NAME@alias' for a registered version's stored profile.")
    return None, *_stored_profile(model, predictions=predictions)


def _stored_profile(ref: str, *, predictions: bool = True) -> tuple[Profile, Any, str]:
    from .. import registry
    from ..registry.artifacts import stored_profile

    mv, text = stored_profile(ref)
    profile = Profile.from_json(text)
    # predictions=False: inputs only; the model (skops, sklearn) is then never loaded
    estimator = registry.load(ref) if profile.outputs and predictions else None
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
        raise BadInput(f"Column(s) {missing!r} are in the reference but not in the current data; "
                       "fix the data or pass columns=[...] to compare a subset.")
    return known
