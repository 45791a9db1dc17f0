"""Per-class probability calibration fitted on a labelled reference period, stored as JSON.

As NannyML's CBPE does: one isotonic regression per class (one-vs-rest) of the model's
probability against the true outcome, used only when it helps — the expected calibration error
(ECE, 10 equal-count bins) of isotonic on held-out splits of the reference (10 stratified shuffle
splits, 10 % held out) must beat that of the raw probabilities; otherwise the class keeps its raw
probabilities (the held-out folds pooled, as NannyML does: scikit-learn's StratifiedShuffleSplit
draws with seed 42, NannyML's bins). Multiclass calibrated probabilities are renormalised to sum to
1 (a row whose calibrated probabilities are all 0: 1/k each).

A fitted isotonic regression is a monotone step function; it is stored as its breakpoints
(``x``, ``y``) and applied with linear interpolation (as scikit-learn does), so a calibrator is a
few KB of JSON — no pickle — and can live with a model version (``nbt/calibrator.json``).
"""

from __future__ import annotations

import json
import math
from itertools import pairwise
from typing import Any

from ..errors import BadInput

FORMAT = "nbtoolkit.calibrator/1"
ECE_BINS = 10
SPLITS = 10
MIN_ROWS = 20          # fewer labelled reference rows of a class than this: no calibration


class Calibrator:
    """Maps raw class probabilities to calibrated ones; see the module docstring.

    Attributes
    ----------
    classes : list of str, the class labels in the order of the probability columns
    maps : dict class -> ``{"x": [...], "y": [...]}`` or None (raw probabilities kept); lists, or
        arrays in a calibrator that is never stored (the shift-aware estimate's, one per chunk)
    components : reference statistics for sampling-error bands (see :mod:`.metrics`)
    """

    def __init__(self, classes: list[str], maps: dict[str, dict[str, Any] | None],
                 components: dict[str, Any] | None = None) -> None:
        from ..validation import mapping

        if isinstance(classes, (str, bytes)) or not isinstance(classes, (list, tuple)) or len(classes) < 2:
            raise BadInput(f"classes must be a list of at least two class labels, got {type(classes).__name__}.")
        self.classes = [str(c) for c in classes]
        self.maps = mapping(maps, "maps")
        self.components = components or {}

    @property
    def binary(self) -> bool:
        return len(self.classes) == 2

    # ------------------------------------------------------------------ fit
    @classmethod
    def fit(cls, proba: Any, y_true: Any, classes: list[str], *, check: bool = True) -> Calibrator:
        """Fit on reference probabilities (n × k, columns in ``classes`` order) and labels (str,
        or integer positions in ``classes``).

        For two classes only the positive (second) class is calibrated and the other is its
        complement. ``check=False`` calibrates every class without the held-out ECE check.
        """
        import numpy as np

        proba = np.asarray(proba, dtype="float64")
        y_true = np.asarray(y_true)
        if not np.issubdtype(y_true.dtype, np.integer):
            index = {str(c): i for i, c in enumerate(classes)}
            y_true = np.array([index.get(str(v), -1) for v in y_true], dtype=np.intp)
        targets = classes[1:] if len(classes) == 2 else classes
        maps: dict[str, Any] = {}
        for c in targets:
            j = classes.index(c)
            maps[str(c)] = _fit_one(proba[:, j], (y_true == j).astype("float64"), check=check)
        return cls(classes, maps)

    # ------------------------------------------------------------------ apply
    def calibrate(self, proba: Any) -> Any:
        """Calibrated probabilities (n × k) of raw probabilities (n × k, ``classes`` order)."""
        import numpy as np

        proba = np.asarray(proba, dtype="float64")
        if proba.ndim != 2 or proba.shape[1] != len(self.classes):
            raise BadInput(f"The calibrator expects {len(self.classes)} probability columns "
                           f"({', '.join(self.classes)}), got an array of shape {proba.shape!r}.")
        out = proba.copy()
        if self.binary:
            m = self.maps.get(self.classes[1])
            if m is not None:
                out[:, 1] = np.interp(proba[:, 1], m["x"], m["y"])
                out[:, 0] = 1.0 - out[:, 1]
            return out
        for j, c in enumerate(self.classes):
            m = self.maps.get(c)
            if m is not None:
                out[:, j] = np.interp(proba[:, j], m["x"], m["y"])
        total = out.sum(axis=1, keepdims=True)
        # A row whose calibrated probabilities are all 0 gets 1 / k each, as NannyML's.
        return np.where(total > 0, out / np.where(total > 0, total, 1.0), 1.0 / len(self.classes))

    @property
    def calibrated_classes(self) -> list[str]:
        return [c for c, m in self.maps.items() if m is not None]

    # ------------------------------------------------------------------ storage
    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "classes": self.classes, "maps": self.maps,
                "components": self.components}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Calibrator:
        from ..validation import stored_json

        data = stored_json(text, FORMAT, "calibrator")
        return cls(data["classes"], data["maps"], data.get("components"))

    def __repr__(self) -> str:
        return (f"<Calibrator: classes {', '.join(self.classes)}; isotonic for "
                f"{', '.join(self.calibrated_classes) or 'none (raw probabilities were calibrated enough)'}>")


def _fit_one(p: Any, y: Any, *, check: bool) -> dict[str, list[float]] | None:
    """Isotonic breakpoints of y on p, or None when calibration does not help (or cannot be fitted)."""
    import numpy as np

    positives = int(y.sum())
    if len(y) < MIN_ROWS or positives < 2 or len(y) - positives < 2 or len(np.unique(p)) < 2:
        return None
    if check and not _helps(p, y):
        return None
    return _isotonic(p, y)


def _isotonic(p: Any, y: Any, *, presorted: bool = False) -> dict[str, list[float]]:
    """Breakpoints of the isotonic regression of y on p — what scikit-learn's
    ``IsotonicRegression(out_of_bounds="clip")`` stores, from scipy's pool-adjacent-violators
    (ties in p pooled with their counts as weights; only the ends of each flat step are kept)."""
    import numpy as np
    from scipy.optimize import isotonic_regression

    if presorted:
        ps, ys = p, y
    else:
        order = np.argsort(p, kind="stable")
        ps, ys = p[order], y[order]
    start = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])   # first row of each distinct p
    counts = np.diff(np.r_[start, len(ps)])
    ux = ps[start]
    fit = isotonic_regression(np.add.reduceat(ys, start) / counts, weights=counts.astype("float64")).x
    keep = np.ones(len(ux), dtype=bool)
    keep[1:-1] = (fit[1:-1] != fit[:-2]) | (fit[1:-1] != fit[2:])
    return {"x": ux[keep].tolist(), "y": np.clip(fit[keep], 0.0, 1.0).tolist()}


def _helps(p: Any, y: Any) -> bool:
    """Held-out ECE of isotonic-calibrated probabilities below that of the raw ones."""
    import numpy as np

    from .metrics import weighted_auc

    if weighted_auc(p, y) > 0.999:  # (nearly) perfect ranking: nothing to calibrate, as NannyML
        return False
    order = np.argsort(p, kind="stable")   # sorted once; each split's train rows keep the order
    ps, ys = p[order], y[order]
    truth, raw, cal = [], [], []
    for train, test in _stratified_splits(y, SPLITS, 0.1, seed=42):
        in_train = np.zeros(len(p), dtype=bool)
        in_train[train] = True
        keep = in_train[order]
        m = _isotonic(ps[keep], ys[keep], presorted=True)
        truth.append(y[test])
        raw.append(p[test])
        cal.append(np.interp(p[test], m["x"], m["y"]))
    truth_all = np.concatenate(truth)
    return ece(truth_all, np.concatenate(cal)) < ece(truth_all, np.concatenate(raw))


def _stratified_splits(y: Any, n_splits: int, test_size: float, *, seed: int) -> Any:
    """scikit-learn's ``StratifiedShuffleSplit(n_splits, test_size=test_size, random_state=seed)``:
    the same draws from the same ``RandomState``, in the same order, without its per-split checks
    (which dominated the fit on 50k rows). The same draws matter: NannyML pools the held-out rows in
    this order and bins them sorted, so other draws can tip a class's calibrate-or-not decision (its
    credit-card multiclass data: prepaid_card, up to 1.2e-3 per chunk)."""
    import numpy as np

    rng = np.random.RandomState(seed)
    n_test = math.ceil(test_size * len(y))
    n_train = len(y) - n_test
    _, codes, counts = np.unique(y, return_inverse=True, return_counts=True)
    members = np.split(np.argsort(codes, kind="stable"), np.cumsum(counts)[:-1])
    for _ in range(n_splits):
        n_i = _approximate_mode(counts, n_train, rng)
        t_i = _approximate_mode(counts - n_i, n_test, rng)
        train, test = [], []
        for i, rows in enumerate(members):
            drawn = rows.take(rng.permutation(counts[i]), mode="clip")
            train.append(drawn[:n_i[i]])
            test.append(drawn[n_i[i]:n_i[i] + t_i[i]])
        yield rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def _approximate_mode(counts: Any, draws: int, rng: Any) -> Any:
    """scikit-learn's ``utils.extmath._approximate_mode``: rows per class of ``draws`` drawn from
    ``counts`` (floored shares, the largest remainders topped up, ties broken by ``rng``)."""
    import numpy as np

    continuous = counts / counts.sum() * draws
    floored = np.floor(continuous)
    need = int(draws - floored.sum())
    if need > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (where,) = np.where(remainder == value)
            now = min(len(where), need)
            floored[rng.choice(where, size=now, replace=False)] += 1
            need -= now
            if need == 0:
                break
    return floored.astype(int)


def ece(y: Any, p: Any, bins: int = ECE_BINS) -> float:
    """Expected calibration error on equal-count bins of the sorted probabilities, as NannyML's
    ``_calculate_expected_calibration_error``: ``n // bins`` rows a bin, the last one taking the
    rest; rows sorted by numpy's default (unstable) sort, so that ties fall in the same bins."""
    import numpy as np

    order = np.argsort(np.asarray(p))
    p, y = np.asarray(p)[order], np.asarray(y)[order]
    n = len(p)
    bins = max(1, min(bins, n // 2)) if n <= 2 * bins else bins
    edges = np.arange(0, n + 1, max(1, n // bins))
    edges[-1] = n
    total = 0.0
    for a, b in pairwise(edges):
        if b > a:
            total += (b - a) / n * abs(float(p[a:b].mean()) - float(y[a:b].mean()))
    return total
