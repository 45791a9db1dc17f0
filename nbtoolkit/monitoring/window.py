"""One window of logged predictions: its quality metrics and its label-free accuracy estimate.

What :func:`nbtoolkit.monitor` computes per window (and ``nbt serve``'s live monitor over its
rolling window): volume, human share, mean confidence, accuracy on outcomes (post-stratified by
routing), per-class F1, the share of rows outside the data contract, and the calibrated expected
accuracy with its band. numpy and pandas are imported inside the functions.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..errors import NbtError

if TYPE_CHECKING:
    import pandas as pd


def window_metrics(part: pd.DataFrame) -> dict[str, Any]:
    """Quality metrics of one window of logged predictions (see the module docstring)."""
    import numpy as np

    labeled = part[part["outcome"].notna()]
    conf = part["confidence"].dropna()
    row: dict[str, Any] = {
        "versions": ",".join(sorted(map(str, part["model_version"].unique()), key=_version_key)),
        "volume": len(part),
        "human_share": float(part["routed_to_human"].mean()),
        "mean_confidence": float(conf.mean()) if len(conf) else math.nan,
        # CBPE: expected accuracy of calibrated top-class probabilities is their mean.
        "estimated_accuracy": float(conf.mean()) if len(conf) else math.nan,
        "labeled": len(labeled),
        # rows the server flagged as outside their version's data contract (NULL: inside, or unchecked)
        "contract": float(part["contract"].notna().mean()) if "contract" in part.columns else math.nan,
        "accuracy": math.nan,
        "macro_f1": math.nan,
        "f1": {},
    }
    if len(labeled):
        truth = labeled["outcome"].astype(str).to_numpy()
        pred = labeled["prediction"].astype(str).to_numpy()
        row["accuracy"] = stratified_accuracy(part)
        f1 = per_class_f1(truth, pred)
        row["f1"] = f1
        row["macro_f1"] = float(np.mean(list(f1.values()))) if f1 else math.nan
    return row


def stratified_accuracy(part: pd.DataFrame) -> float:
    """Accuracy on outcomes, post-stratified by routing.

    Outcomes are not a random sample: agents label every ticket routed to them (the hard ones),
    while auto-handled tickets get outcomes only for a sample, often later. Each stratum (routed /
    not routed) is weighted by its share of the window's traffic; when a stratum that has traffic
    has no outcome yet, the accuracy is unknown (NaN) — ``estimated_accuracy`` covers that gap.
    """
    import numpy as np

    total = 0.0
    for _, stratum in part.groupby(part["routed_to_human"].astype(bool)):
        labeled = stratum[stratum["outcome"].notna()]
        if labeled.empty:
            return math.nan
        correct = labeled["outcome"].astype(str).to_numpy() == labeled["prediction"].astype(str).to_numpy()
        total += len(stratum) / len(part) * float(np.mean(correct))
    return total


def per_class_f1(truth: Any, pred: Any) -> dict[str, float]:
    """F1 of each class present in ``truth`` or ``pred`` (pure numpy)."""
    import numpy as np

    out = {}
    for cls in sorted(set(truth) | set(pred)):
        tp = float(np.sum((truth == cls) & (pred == cls)))
        fp = float(np.sum((truth != cls) & (pred == cls)))
        fn = float(np.sum((truth == cls) & (pred != cls)))
        out[str(cls)] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else math.nan
    return out


def _version_key(v: str) -> Any:
    return (0, int(v)) if v.isdigit() else (1, v)


def window_estimate(part: pd.DataFrame, name: str, cache: dict[str, Any], given: Any,
                     notes: list[str]) -> dict[str, Any]:
    """Calibrated expected accuracy of a window and its ±3 se band (see :mod:`nbtoolkit.estimation`).

    Each version's rows are calibrated by that version's stored calibrator (a window of a staged
    rollout holds two versions); the estimate is over the rows of the versions that have one.
    """
    import numpy as np

    out: dict[str, Any] = {"estimated_accuracy_lower": math.nan, "estimated_accuracy_upper": math.nan}
    if given is False or "probabilities" not in part.columns:
        return out
    from ..estimation import metrics as M

    total, n, variance = 0.0, 0, 0.0  # sum of calibrated top-class probabilities; rows; sum of n_v² se_v²
    for version, rows in part[part["probabilities"].notna()].groupby(part["model_version"].astype(str)):
        if given is not None:
            cal = given
        else:
            if version not in cache:
                cache[version] = stored_calibrator(name, str(version))
            cal = cache[version]
        if cal is None:
            continue
        index = {c: i for i, c in enumerate(cal.classes)}
        raw = np.array([[d.get(c, 0.0) for c in cal.classes] for d in rows["probabilities"]], dtype="float64")
        pred = np.array([index.get(str(p), -1) for p in rows["prediction"]])
        keep = pred >= 0
        if not keep.any():
            continue
        k = int(keep.sum())
        total += float(cal.calibrate(raw[keep])[np.arange(k), pred[keep]].sum())
        se = M.standard_error(cal.components["accuracy"], k) if cal.components.get("accuracy") else math.nan
        variance += (k * se) ** 2
        n += k
    if not n:
        return out
    estimate = total / n
    out["estimated_accuracy"] = estimate
    se = math.sqrt(variance) / n
    if not math.isnan(se):
        out["estimated_accuracy_lower"] = max(0.0, estimate - M.BAND_SE * se)
        out["estimated_accuracy_upper"] = min(1.0, estimate + M.BAND_SE * se)
    return out


def stored_calibrator(name: str, version: str) -> Any:
    """The calibrator stored with ``name/version`` (``%nbt calibrate``), or None."""
    try:
        from ..estimation import stored_calibrator

        return stored_calibrator(f"{name}/{version}")
    except NbtError:  # not a registered model, or the store is unreachable: mean confidence
        return None
