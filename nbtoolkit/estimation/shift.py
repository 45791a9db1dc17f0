"""Shift-aware estimation (``estimate(..., method="shift")``): the reference reweighted per chunk.

CBPE calibrates the model's probabilities once, on the whole reference: it assumes the chance of a
label given the model's score, P(y | p̂), is the same in every chunk. When the analysis moves into a
region where the model's calibration differs from the reference's average, that estimate follows
the reference, not the chunk. Here (the idea of PAPE, arXiv 2401.08348) each analysis chunk gets
its own calibration, fitted on the reference weighted by how much each reference row looks like
the chunk; it assumes instead that P(y | x) did not change (covariate shift only).

Per analysis chunk:

1. **Domain classifier.** A logistic regression (Newton steps with a line search, a small L2
   penalty, started from the previous chunk's coefficients) tells the chunk from the reference on
   the columns named in ``features=`` (numbers standardised on the reference, with their squares,
   so a change of spread shows too; a missing-value indicator; a category as one number, its
   level's log share in the chunk over that in the reference, counted on the training rows). It
   learns from the chunk and ``max(chunk, 4,000)`` reference rows drawn at random, and scores every
   reference row (see :func:`~.density.log_ratio` for why its own training rows need no second, cross-fitted
   model). Chosen over scikit-learn's gradient boosting by measurement: as accurate on our
   benchmark, hundreds of times cheaper (benchmarks/README.md).
2. **Density ratio.** ``w = p / (1 − p) · n_ref / n_chunk`` of each reference row (p its
   probability of being the chunk), scaled to mean 1 and clipped at
   :data:`~.density.WEIGHT_CAP`.
3. **Weighted calibration.** Per class (one-vs-rest) an isotonic regression of the outcome on
   the raw probability with the weights ``w`` — always, not only where it beats the raw
   probabilities on the whole reference as CBPE decides, since the chunk's region is where it
   may matter; multiclass rows renormalised. The chunk's metrics are then CBPE's expected
   metrics on these calibrated probabilities.
4. **Effective sample size** (Kish): ``(Σw)² / Σw²`` reference rows. The band widens to
   ``se(n_chunk) · sqrt(1 + n_chunk / ESS)`` (the calibration rests on ESS rows, not n_ref), and
   a chunk whose ESS is below :data:`MIN_ESS` is marked ``low_confidence``: the reference hardly
   covers its region.

Reference chunks keep CBPE's calibration (they are the reference). ``method="auto"`` returns both
estimates (``method`` column) and marks a chunk × metric ``disagree`` when each estimate lies
outside the other's band: the chunk moved into a region where the model's calibration differs from
the reference's average — or P(y | x) changed there; labels for that chunk settle which.

Identifiers and timestamps tell the reference from any later data perfectly: a named feature that
is a datetime, monotonic over the reference followed by the analysis, or (integers, text) unique
per row is left out of the domain classifier, with a note.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..errors import BadInput, did_you_mean
from .density import SEED, codes, design, kish, log_ratio, numeric, usable, weights

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

    from .calibration import Calibrator

METHODS = ("cbpe", "shift", "auto")
MIN_ESS = 300            # an analysis chunk whose reference weights are worth fewer rows: low confidence


def check_method(method: Any, *, regression: bool = False) -> str:
    """``method`` as one of :data:`METHODS`, or one BadInput line (regression: ``cbpe`` only, for now)."""
    from ..validation import shown

    if not isinstance(method, str) or method not in METHODS:
        raise BadInput(f"Unknown estimation method {shown(method)}; use one of {', '.join(METHODS)} "
                       "(cbpe: calibration on the whole reference; shift: reweighted per chunk; auto: both)."
                       + (did_you_mean(method, METHODS) if isinstance(method, str) else ""))
    if regression and method != "cbpe":
        raise BadInput(f"method={method!r} is not supported for regression yet (no proba= given): the "
                       "shift-aware estimate calibrates class probabilities; leave method out for regression.")
    return method


def check_features(features: Any, method: str, ref: pd.DataFrame, cur: pd.DataFrame,
                   not_allowed: Iterable[str]) -> list[str]:
    """The named feature columns (checked against both frames), or [] when none are named."""
    from ..validation import names

    named = names(features, "features")
    if named is None:
        if method != "cbpe":
            raise BadInput(f"method={method!r} needs features=[...]: the model's input columns (not ids or "
                           "timestamps), for the domain classifier that reweights the reference per chunk.")
        return []
    named = list(dict.fromkeys(named))
    for what, frame in (("reference data", ref), ("analysis data", cur)):
        for col in named:
            if col not in frame.columns:
                raise BadInput(f"Feature {col!r} is not in the {what}." + did_you_mean(col, map(str, frame.columns)))
    bad = [c for c in named if c in set(not_allowed)]
    if bad:
        raise BadInput(f"features= names the target {bad[0]!r}; the analysis period has no labels to "
                       "compare with, so name the model's input columns only.")
    return named


# ------------------------------------------------------------------------------ weighted calibration
class WeightedCalibration:
    """Per-class isotonic calibration of the reference, refitted for any weights (each row's distinct
    probability found once; per fit, the weights summed per distinct probability by a bincount —
    reduceat on the sorted rows took 4× as long)."""

    def __init__(self, raw: np.ndarray, y: np.ndarray, classes: list[str]) -> None:
        import numpy as np

        from .calibration import MIN_ROWS

        self.classes = classes
        self.parts: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray] | None] = {}
        for c in (classes[1:] if len(classes) == 2 else classes):
            j = classes.index(c)
            truth = (y == j).astype("float64")
            positives = int(truth.sum())
            values, group = np.unique(raw[:, j], return_inverse=True)
            if len(truth) < MIN_ROWS or positives < 2 or len(truth) - positives < 2 or len(values) < 2:
                self.parts[c] = None
                continue
            self.parts[c] = (values, group, truth)

    def fit(self, w: np.ndarray) -> Calibrator:
        """A :class:`Calibrator` fitted on the reference with row weights ``w``."""
        import numpy as np
        from scipy.optimize import isotonic_regression

        from .calibration import Calibrator

        maps: dict[str, dict[str, Any] | None] = {}
        for c, part in self.parts.items():
            if part is None:
                maps[c] = None
                continue
            values, group, truth = part
            total = np.bincount(group, weights=w, minlength=len(values))
            positive = np.bincount(group, weights=w * truth, minlength=len(values))
            fit = isotonic_regression(positive / total, weights=total).x
            keep = np.ones(len(values), dtype=bool)
            keep[1:-1] = (fit[1:-1] != fit[:-2]) | (fit[1:-1] != fit[2:])
            # arrays, not lists: this calibrator is used once and never stored (tolist took 2/3 of the fit)
            maps[c] = {"x": values[keep], "y": np.clip(fit[keep], 0.0, 1.0)}
        return Calibrator(self.classes, maps)


class ShiftAware:
    """What ``estimate`` needs per analysis chunk: calibrated probabilities and the ESS."""

    def __init__(self, ref: pd.DataFrame, cur: pd.DataFrame, features: list[str], raw_ref: np.ndarray,
                 y_ref: np.ndarray, classes: list[str], *, classifier: str = "logistic") -> None:
        coded = {col: codes(ref[col], cur[col]) for col in features if not numeric(ref[col], cur[col])}
        kept, self.notes = usable(ref, cur, features, {col: n for col, (_, _, n) in coded.items()})
        self.features = kept
        self.design = design(ref, cur, kept, coded)
        self.calibration = WeightedCalibration(raw_ref, y_ref, classes)
        self.classifier = classifier
        self.starts: dict[int, np.ndarray] = {}   # the last chunk's coefficients: the next chunk starts there
        from threadpoolctl import ThreadpoolController  # installed with scikit-learn

        # Found once: threadpool_limits() looks for the loaded libraries on every call (4 ms a chunk).
        self.threads = ThreadpoolController()

    def chunk(self, positions: Any, raw: np.ndarray, index: int) -> tuple[np.ndarray, float]:
        """(calibrated probabilities of the chunk's rows, Kish ESS of the reference weights)."""
        # Small matrices: BLAS threads only wait for each other (on a busy 2-core machine a
        # 7,500 × 17 Newton fit took 0.8 s with two threads, 2 ms with one).
        with self.threads.limit(limits=1, user_api="blas"):
            w = weights(log_ratio(self.design, positions, seed=SEED + index, classifier=self.classifier,
                                  starts=self.starts))
        return self.calibration.fit(w).calibrate(raw[positions]), kish(w)


def mark(rows: list[dict[str, Any]], method: str, band_se: float) -> list[str]:
    """Mark low-ESS shift rows and (``auto``) disagreeing chunks; return the notes to show."""
    notes = []
    shifted = [r for r in rows if r["period"] == "analysis" and r["method"] == "shift"]
    low = sorted({r["chunk"] for r in shifted if r["ess"] < MIN_ESS}, key=str)
    if low:
        notes.append(f"{len(low)} analysis chunk(s) have a reference effective sample size below {MIN_ESS} "
                     f"rows ({_names(low)}): the reference hardly covers their region; their shift-aware "
                     "estimates are marked low_confidence.")
    if method != "auto":
        return notes
    cbpe = {(r["chunk"], r["metric"]): r for r in rows if r["period"] == "analysis" and r["method"] == "cbpe"}
    flagged: dict[Any, None] = {}
    for r in shifted:
        other = cbpe[(r["chunk"], r["metric"])]
        gap = abs(r["estimate"] - other["estimate"])
        if gap > band_se * max(r["sampling_error"], other["sampling_error"]):
            r["disagree"] = other["disagree"] = True
            flagged[r["chunk"]] = None
    if flagged:
        notes.append(f"CBPE and the shift-aware estimate disagree beyond their bands on {len(flagged)} chunk(s) "
                     f"({_names(list(flagged))}): these chunks moved where the model's calibration differs "
                     "from the reference's average, or P(y | x) changed there (more than the covariates moved); "
                     "labels for them settle which.")
    return notes


def _names(keys: list[Any], limit: int = 6) -> str:
    shown = [str(k) for k in keys[:limit]]
    return ", ".join(shown) + (f" and {len(keys) - limit} more" if len(keys) > limit else "")
