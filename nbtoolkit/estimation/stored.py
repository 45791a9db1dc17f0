"""A calibrator fitted for a registered version and stored with it (``nbt/calibrator.json``)."""

from __future__ import annotations

from typing import Any

from ..errors import BadInput, NbtError
from .calibration import Calibrator

CALIBRATOR_ARTIFACT = "nbt/calibrator.json"
TAG_CALIBRATOR = "nbt.calibrator"


def calibrate(model: Any, X: Any, y: Any, *, save: bool = True) -> Calibrator:
    """Fit a per-class calibrator of ``model``'s probabilities on labelled data ``X``, ``y``.

    Parameters
    ----------
    model : ``NAME``, ``NAME/3`` or ``NAME@alias`` (a registered classifier), or a fitted
        classifier with ``predict_proba`` and ``classes_`` (then ``save`` must be False)
    X, y : labelled data the model was not trained on (validation or a labelled live period)
    save : store the calibrator with the version (artefact ``nbt/calibrator.json``, tag
        ``nbt.calibrator``), where :func:`nbtoolkit.monitor` finds it

    Returns
    -------
    Calibrator (also carries the reference statistics for sampling-error bands)
    """
    import numpy as np

    from ..contract import as_frame
    from . import metrics as M
    from .engine import label_strings

    ref = model if isinstance(model, str) else None
    if ref is None and save:
        raise BadInput("calibrate(save=True) stores the calibrator with a registered version; pass "
                       "model='NAME/VERSION' (or save=False for an unregistered estimator).")
    frame = as_frame(X, what="X")
    labels = label_strings(np.asarray(getattr(y, "values", y)))
    if len(labels) != len(frame):
        raise BadInput(f"y has {len(labels)} labels for {len(frame)} rows of X; give one label per row.")
    if len(frame) < 2:
        raise BadInput(f"X has {len(frame)} row(s); calibration needs a labelled sample (hundreds of rows).")
    if any(v is None for v in labels):
        raise BadInput("y has missing labels; calibrate on labelled rows only.")
    mv = None
    if ref is not None:
        from .. import registry

        mv = registry.resolve(ref)
        model = registry.load(f"{mv.name}/{mv.version}")
    if not hasattr(model, "predict_proba") or not hasattr(model, "classes_"):
        raise BadInput(f"{type(model).__name__} has no predict_proba/classes_; calibration needs a "
                       "probabilistic classifier.")
    classes = label_strings(np.asarray(model.classes_)).tolist()
    try:
        raw = np.asarray(model.predict_proba(frame), dtype="float64")
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:  # the estimator's own refusal of X (NaN, missing columns, ...)
        first = str(exc).splitlines()[0][:240] if str(exc) else ""
        raise BadInput(f"{ref or type(model).__name__} cannot predict_proba on X ({type(exc).__name__}: {first}); "
                       "pass data with the columns and types it was trained on.") from None
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({v for v in labels if v not in index})
    if unknown:
        raise BadInput(f"y holds class(es) {unknown[:5]!r} the model does not know (classes: "
                       f"{', '.join(classes)}).")
    y_idx = np.array([index[v] for v in labels], dtype=np.intp)
    pred = raw.argmax(axis=1)
    calibrator = Calibrator.fit(raw, labels, classes)
    calibrator.components = M.components(y_idx, raw, pred, classes)
    if save and mv is not None:
        _save(mv, calibrator)
    return calibrator


def _save(mv: Any, calibrator: Calibrator) -> None:
    from .. import store

    with store.translate_errors():
        client = store.client()
        client.log_text(mv.run_id, calibrator.to_json(), CALIBRATOR_ARTIFACT)
        client.set_model_version_tag(mv.name, mv.version, TAG_CALIBRATOR, CALIBRATOR_ARTIFACT)


def stored_calibrator(ref: Any) -> Calibrator | None:
    """The calibrator stored with a version by :func:`calibrate`, or None."""
    from .. import registry

    mv = ref if hasattr(ref, "run_id") else registry.resolve(ref)
    if not (mv.tags or {}).get(TAG_CALIBRATOR):
        return None
    try:
        text = registry.read_artifact_text(mv, CALIBRATOR_ARTIFACT)
    except NbtError:
        return None
    return Calibrator.from_json(text) if text else None
