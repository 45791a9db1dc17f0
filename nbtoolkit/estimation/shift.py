"""Shift-aware estimation (``estimate(..., method="shift")``): the reference reweighted per chunk.

CBPE calibrates the model's probabilities once, on the whole reference: it assumes the chance of a
label given the model's score, P(y | p̂), is the same in every chunk. When the analysis moves into a
region where the model's calibration differs from the reference's average, that estimate follows
the reference, not the chunk. Here (the idea of PAPE, arXiv 2401.08348) each analysis chunk gets
its own calibration, fitted on the reference weighted by how much each reference row looks like
the chunk; it assumes instead that P(y | x) did not change (covariate shift only).

Per analysis chunk:

1. **Domain classifier.** A logistic regression (Newton steps, a small L2 penalty) tells the
   chunk from the reference on the columns named in ``features=`` (numbers standardised on the
   reference, with their squares, so a change of spread shows too; a missing-value indicator;
   categories one-hot, the 30 most frequent levels of both frames and "other"). The reference
   rows it learns from are at most ``max(2 × chunk, 4,000)``, drawn at random; every reference
   row is scored by a model that did not learn from it (2-fold cross-fitting; rows outside the
   draw by the mean of both folds' log-odds). Chosen over gradient boosting by measurement:
   ~25 ms per chunk against ~2 s (benchmarks/README.md).
2. **Density ratio.** ``w = p / (1 − p) · n_ref / n_chunk`` of each reference row (p its
   cross-fitted probability of being the chunk), scaled to mean 1 and clipped at
   :data:`WEIGHT_CAP`.
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

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..errors import BadInput, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

    from .calibration import Calibrator

METHODS = ("cbpe", "shift", "auto")
MIN_ESS = 300            # an analysis chunk whose reference weights are worth fewer rows: low confidence
WEIGHT_CAP = 50.0        # one reference row counts at most this many times the average row
LEVELS = 30              # one-hot levels per categorical feature (the rest pooled as "other")
FOLDS = 2
TRAIN_FACTOR = 2         # reference rows the domain classifier learns from: ≤ this × the chunk ...
TRAIN_MIN = 4_000        # ... but at least this many (or all of them)
L2 = 1.0
SEED = 0


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


# ------------------------------------------------------------------------------ features
def usable(ref: pd.DataFrame, cur: pd.DataFrame, features: list[str]) -> tuple[list[str], list[str]]:
    """(features kept, notes): identifiers and timestamps are left out of the domain classifier."""
    import numpy as np
    import pandas as pd

    kept, notes = [], []
    for col in features:
        both = pd.concat([ref[col], cur[col]], ignore_index=True)
        why = ""
        if pd.api.types.is_datetime64_any_dtype(both) or pd.api.types.is_timedelta64_dtype(both):
            why = "a datetime"
        elif len(both) >= 20 and both.nunique(dropna=True) > len(both) // 2:
            numeric = pd.api.types.is_numeric_dtype(both) and not pd.api.types.is_bool_dtype(both)
            values = both.to_numpy(dtype="float64", na_value=np.nan) if numeric else None
            if values is not None and np.isfinite(values).all() and (
                    bool(np.all(np.diff(values) >= 0)) or bool(np.all(np.diff(values) <= 0))):
                why = "monotonic over the reference then the analysis"
            elif (not numeric or pd.api.types.is_integer_dtype(both)) and both.is_unique:
                why = "unique per row (an identifier)"
        if why:
            notes.append(f"Feature {col!r} looks like an identifier or timestamp ({why}); it would tell the "
                         "reference from the analysis by itself, so the domain classifier leaves it out.")
        else:
            kept.append(col)
    if not kept:
        raise BadInput(f"None of features={features!r} can be used by the domain classifier (each looks like "
                       "an identifier or timestamp); name the model's input columns.")
    return kept, notes


def design(ref: pd.DataFrame, cur: pd.DataFrame, features: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Numeric design matrices of the reference and the analysis (same columns, see the module doc)."""
    import numpy as np
    import pandas as pd

    left: list[np.ndarray] = []
    right: list[np.ndarray] = []
    for col in features:
        r, c = ref[col], cur[col]
        if (pd.api.types.is_numeric_dtype(r) and pd.api.types.is_numeric_dtype(c)) or (
                pd.api.types.is_bool_dtype(r) and pd.api.types.is_bool_dtype(c)):
            rv = r.to_numpy(dtype="float64", na_value=np.nan, copy=True)
            cv = c.to_numpy(dtype="float64", na_value=np.nan, copy=True)
            rv[~np.isfinite(rv)], cv[~np.isfinite(cv)] = np.nan, np.nan
            finite = rv[np.isfinite(rv)]
            mean = float(finite.mean()) if len(finite) else 0.0
            sd = float(finite.std()) if len(finite) else 1.0
            sd = sd if sd > 0 else 1.0
            rz, cz = np.clip((rv - mean) / sd, -8, 8), np.clip((cv - mean) / sd, -8, 8)
            for raw_z, out in ((rz, left), (cz, right)):
                miss = np.isnan(raw_z)
                z = np.where(miss, 0.0, raw_z)
                out += [z, z * z / 3]
                if np.isnan(rz).any() or np.isnan(cz).any():
                    out.append(miss.astype("float64"))
            continue
        rs, cs = (s.astype(object).where(s.notna(), None).astype(str) for s in (r, c))
        counts = pd.concat([rs, cs], ignore_index=True).value_counts()
        levels = counts.index[:LEVELS].tolist()
        for frame, out in ((rs, left), (cs, right)):
            codes = pd.Categorical(frame, categories=levels).codes
            onehot = np.zeros((len(frame), len(levels) + (len(counts) > LEVELS)))
            rows = np.flatnonzero(codes >= 0)
            onehot[rows, codes[rows]] = 1.0
            if len(counts) > LEVELS:
                onehot[codes < 0, -1] = 1.0
            out += list(onehot.T)
    return np.column_stack(left), np.column_stack(right)


# ------------------------------------------------------------------------------ domain classifier
def logistic(X: np.ndarray, y: np.ndarray, *, l2: float = L2, iterations: int = 30) -> np.ndarray:
    """Coefficients (intercept first) of an L2-penalised logistic regression, by Newton's method."""
    import numpy as np
    from scipy.special import expit

    X1 = np.column_stack([np.ones(len(X)), X])
    beta = np.zeros(X1.shape[1])
    share = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    beta[0] = math.log(share / (1 - share))
    penalty = np.full(X1.shape[1], l2)
    penalty[0] = 0.0
    for _ in range(iterations):
        p = expit(X1 @ beta)
        grad = X1.T @ (p - y) + penalty * beta
        hess = (X1 * (p * (1 - p))[:, None]).T @ X1 + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if float(np.max(np.abs(step))) < 1e-7:
            break
    return beta


def log_ratio(Xref: np.ndarray, Xchunk: np.ndarray, *, seed: int, classifier: str = "logistic") -> np.ndarray:
    """log(density of the chunk / density of the reference) at every reference row, cross-fitted."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n_ref, n_chunk = len(Xref), len(Xchunk)
    m = min(n_ref, max(TRAIN_FACTOR * n_chunk, TRAIN_MIN))
    drawn = rng.permutation(n_ref)[:m]
    ref_fold = np.arange(m) % FOLDS
    chunk_fold = rng.permutation(n_chunk) % FOLDS
    out = np.zeros(n_ref)
    rest = np.ones(n_ref, dtype=bool)
    rest[drawn] = False
    rest_sum = np.zeros(int(rest.sum()))
    for k in range(FOLDS):
        train_ref, train_chunk = drawn[ref_fold != k], np.flatnonzero(chunk_fold != k)
        X = np.vstack([Xref[train_ref], Xchunk[train_chunk]])
        y = np.r_[np.zeros(len(train_ref)), np.ones(len(train_chunk))]
        offset = math.log(len(train_ref) / max(1, len(train_chunk)))
        score = _fit_score(X, y, classifier, seed)
        out[drawn[ref_fold == k]] = score(Xref[drawn[ref_fold == k]]) + offset
        if rest.any():
            rest_sum += score(Xref[rest]) + offset
    if rest.any():
        out[rest] = rest_sum / FOLDS
    return out


def _fit_score(X: np.ndarray, y: np.ndarray, classifier: str, seed: int) -> Any:
    """A function giving the log-odds of "chunk" for rows of X's columns."""
    import numpy as np

    if classifier == "logistic":
        beta = logistic(X, y)
        return lambda Z: beta[0] + Z @ beta[1:]
    from sklearn.ensemble import HistGradientBoostingClassifier  # measured in benchmarks/estimate.py

    model = HistGradientBoostingClassifier(max_iter=50, early_stopping=False, random_state=seed).fit(X, y)

    def score(Z: np.ndarray) -> np.ndarray:
        p = np.clip(model.predict_proba(Z)[:, 1], 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p))

    return score


def weights(log_ratios: np.ndarray) -> np.ndarray:
    """Density ratios scaled to mean 1, clipped at :data:`WEIGHT_CAP`."""
    import numpy as np

    r = np.clip(log_ratios, -50, 50)
    w = np.exp(r - r.max())
    w = w / w.mean()
    return np.clip(w, 1e-12, WEIGHT_CAP)


def kish(w: np.ndarray) -> float:
    """Kish's effective sample size ``(Σw)² / Σw²``."""
    import numpy as np

    return float(np.sum(w) ** 2 / np.sum(w * w))


# ------------------------------------------------------------------------------ weighted calibration
class WeightedCalibration:
    """Per-class isotonic calibration of the reference, refitted for any weights (sorted once)."""

    def __init__(self, raw: np.ndarray, y: np.ndarray, classes: list[str]) -> None:
        import numpy as np

        from .calibration import MIN_ROWS

        self.classes = classes
        self.parts: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None] = {}
        for c in (classes[1:] if len(classes) == 2 else classes):
            j = classes.index(c)
            p, truth = raw[:, j], (y == j).astype("float64")
            positives = int(truth.sum())
            if len(truth) < MIN_ROWS or positives < 2 or len(truth) - positives < 2 or len(np.unique(p)) < 2:
                self.parts[c] = None
                continue
            order = np.argsort(p, kind="stable")
            ps = p[order]
            start = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
            self.parts[c] = (order, start, ps[start], truth[order])

    def fit(self, w: np.ndarray) -> Calibrator:
        """A :class:`Calibrator` fitted on the reference with row weights ``w``."""
        import numpy as np
        from scipy.optimize import isotonic_regression

        from .calibration import Calibrator

        maps: dict[str, dict[str, list[float]] | None] = {}
        for c, part in self.parts.items():
            if part is None:
                maps[c] = None
                continue
            order, start, ux, ys = part
            ws = w[order]
            total = np.add.reduceat(ws, start)
            fit = isotonic_regression(np.add.reduceat(ys * ws, start) / total, weights=total).x
            keep = np.ones(len(ux), dtype=bool)
            keep[1:-1] = (fit[1:-1] != fit[:-2]) | (fit[1:-1] != fit[2:])
            maps[c] = {"x": ux[keep].tolist(), "y": np.clip(fit[keep], 0.0, 1.0).tolist()}
        return Calibrator(self.classes, maps)


class ShiftAware:
    """What ``estimate`` needs per analysis chunk: calibrated probabilities and the ESS."""

    def __init__(self, ref: pd.DataFrame, cur: pd.DataFrame, features: list[str], raw_ref: np.ndarray,
                 y_ref: np.ndarray, classes: list[str], *, classifier: str = "logistic") -> None:
        kept, self.notes = usable(ref, cur, features)
        self.features = kept
        self.Xref, self.Xcur = design(ref, cur, kept)
        self.calibration = WeightedCalibration(raw_ref, y_ref, classes)
        self.classifier = classifier

    def chunk(self, positions: Any, raw: np.ndarray, index: int) -> tuple[np.ndarray, float]:
        """(calibrated probabilities of the chunk's rows, Kish ESS of the reference weights)."""
        w = weights(log_ratio(self.Xref, self.Xcur[positions], seed=SEED + index, classifier=self.classifier))
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
