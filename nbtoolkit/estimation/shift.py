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
   a category as one number, its level's log share in the chunk over that in the reference,
   counted on the training rows). The reference rows it learns from are at most
   ``max(2 × chunk, 4,000)``, drawn at random; every reference row is scored by a model that did
   not learn from it (2-fold cross-fitting: the shuffled reference in two halves, each scored by
   a model trained on rows of the other half). Chosen over scikit-learn's gradient boosting by
   measurement: as accurate on our benchmark, hundreds of times cheaper (benchmarks/README.md).
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
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import BadInput, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

    from .calibration import Calibrator

METHODS = ("cbpe", "shift", "auto")
MIN_ESS = 300            # an analysis chunk whose reference weights are worth fewer rows: low confidence
WEIGHT_CAP = 50.0        # one reference row counts at most this many times the average row
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
    import pandas as pd

    from ..contract import identifier_reason

    kept, notes = [], []
    for col in features:
        why = identifier_reason(pd.concat([ref[col], cur[col]], ignore_index=True), col)
        if why:
            notes.append(f"Feature {col!r} looks like an identifier or timestamp ({why}); it would tell the "
                         "reference from the analysis by itself, so the domain classifier leaves it out.")
        else:
            kept.append(col)
    if not kept:
        raise BadInput(f"None of features={features!r} can be used by the domain classifier (each looks like "
                       "an identifier or timestamp); name the model's input columns.")
    return kept, notes


def design(ref: pd.DataFrame, cur: pd.DataFrame, features: list[str]) -> Design:
    """Numbers (standardised on the reference, their squares, missing indicators) and category codes."""
    import numpy as np
    import pandas as pd

    left: list[np.ndarray] = []
    right: list[np.ndarray] = []
    codes: list[tuple[np.ndarray, np.ndarray]] = []
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
        # each frame factorised on its own (fast for category dtypes), the analysis's levels then
        # numbered after the reference's; a missing value is a level of its own
        rc, ru = pd.factorize(r)
        cc, cu = pd.factorize(c)
        where = pd.Index(ru).get_indexer(pd.Index(cu))
        new = np.flatnonzero(where < 0)
        where[new] = len(ru) + 1 + np.arange(len(new))
        missing = len(ru)
        codes.append((np.where(rc < 0, missing, rc), np.where(cc < 0, missing, where[np.maximum(cc, 0)])))
    # The reference rows in a random order, so that folds and training draws are slices.
    order = np.random.default_rng(SEED).permutation(len(ref))
    return Design(np.column_stack(left)[order] if left else np.zeros((len(ref), 0)),
                  np.column_stack(right) if right else np.zeros((len(cur), 0)),
                  np.asfortranarray(np.column_stack([a for a, _ in codes])[order]) if codes
                  else np.zeros((len(ref), 0), dtype=np.intp),
                  np.asfortranarray(np.column_stack([b for _, b in codes])) if codes
                  else np.zeros((len(cur), 0), dtype=np.intp),
                  [int(max(a.max(initial=0), b.max(initial=0))) + 1 for a, b in codes], order)


class Design(NamedTuple):
    """The domain classifier's inputs: numeric columns and category codes, reference and analysis."""

    numbers_ref: np.ndarray
    numbers_cur: np.ndarray
    codes_ref: np.ndarray
    codes_cur: np.ndarray
    levels: list[int]
    order: np.ndarray   # reference row of each position of numbers_ref / codes_ref


# ------------------------------------------------------------------------------ domain classifier
def logistic(X: np.ndarray, y: np.ndarray, *, l2: float = L2, iterations: int = 20,
             start: np.ndarray | None = None) -> np.ndarray:
    """Coefficients (intercept first) of an L2-penalised logistic regression, by Newton's method
    (from ``start``: the previous chunk's fit, when there is one)."""
    import numpy as np
    from scipy.special import expit

    X1 = np.column_stack([np.ones(len(X)), X])
    if start is not None and len(start) == X1.shape[1]:
        beta = start.copy()
    else:
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
        if float(np.max(np.abs(step))) < 1e-4:
            break
    return beta


def log_ratio(design: Design, positions: np.ndarray, *, seed: int, classifier: str = "logistic",
              starts: dict[int, np.ndarray] | None = None) -> np.ndarray:
    """log(density of the chunk at ``positions`` / density of the reference) at every reference row,
    cross-fitted. A category enters as one number: its level's log share in the chunk over its
    share in the reference, counted on the fold's training rows only (naive-Bayes style, so a
    column of many levels costs one coefficient)."""
    import numpy as np

    n_ref, n_chunk = len(design.numbers_ref), len(positions)
    take = min(n_ref, max(TRAIN_FACTOR * n_chunk, TRAIN_MIN)) // FOLDS   # training rows from each fold
    bounds = [n_ref * k // FOLDS for k in range(FOLDS + 1)]   # folds: slices of the shuffled reference
    chunk_fold = np.random.default_rng(seed).permutation(n_chunk) % FOLDS
    chunk_numbers, chunk_codes = design.numbers_cur[positions], design.codes_cur[positions]
    out = np.zeros(n_ref)
    for k in range(FOLDS):
        train = np.concatenate([np.arange(bounds[f], min(bounds[f] + take, bounds[f + 1]))
                                for f in range(FOLDS) if f != k])
        train_chunk = chunk_fold != k
        tables = []
        for j, levels in enumerate(design.levels):
            r = np.bincount(design.codes_ref[train, j], minlength=levels) + 0.5
            c = np.bincount(chunk_codes[train_chunk, j], minlength=levels) + 0.5
            tables.append(np.log(c / c.sum()) - np.log(r / r.sum()))

        def encode(numbers: np.ndarray, codes: np.ndarray, tables: list[np.ndarray] = tables) -> np.ndarray:
            return np.column_stack([numbers, *(t[codes[:, j]] for j, t in enumerate(tables))])

        X = np.vstack([encode(design.numbers_ref[train], design.codes_ref[train]),
                       encode(chunk_numbers[train_chunk], chunk_codes[train_chunk])])
        y = np.r_[np.zeros(len(train)), np.ones(int(train_chunk.sum()))]
        offset = math.log(len(train) / max(1, int(train_chunk.sum())))
        held = slice(bounds[k], bounds[k + 1])
        if classifier == "logistic":   # scored without building the held rows' matrix
            beta = logistic(X, y, start=(starts or {}).get(k))
            if starts is not None:
                starts[k] = beta
            d = design.numbers_ref.shape[1]
            score = beta[0] + offset + design.numbers_ref[held] @ beta[1:d + 1]
            for j, t in enumerate(tables):
                score += (beta[d + 1 + j] * t)[design.codes_ref[held, j]]
            out[held] = score
        else:
            out[held] = _fit_score(X, y, classifier, seed)(encode(design.numbers_ref[held],
                                                                  design.codes_ref[held])) + offset
    back = np.empty(n_ref)
    back[design.order] = out
    return back


def _fit_score(X: np.ndarray, y: np.ndarray, classifier: str, seed: int) -> Any:
    """A function giving the log-odds of "chunk" for rows of X's columns."""
    import numpy as np

    if classifier == "logistic":
        beta = logistic(X, y)
        return lambda Z: beta[0] + Z @ beta[1:]
    from sklearn.ensemble import HistGradientBoostingClassifier  # measured in benchmarks/estimate_shift.py

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
        self.design = design(ref, cur, kept)
        self.calibration = WeightedCalibration(raw_ref, y_ref, classes)
        self.classifier = classifier
        self.starts: dict[int, np.ndarray] = {}   # each fold's last coefficients: the next chunk starts there

    def chunk(self, positions: Any, raw: np.ndarray, index: int) -> tuple[np.ndarray, float]:
        """(calibrated probabilities of the chunk's rows, Kish ESS of the reference weights)."""
        from threadpoolctl import threadpool_limits  # installed with scikit-learn

        # Small matrices: BLAS threads only wait for each other (on a busy 2-core machine a
        # 7,500 × 17 Newton fit took 0.8 s with two threads, 2 ms with one).
        with threadpool_limits(limits=1, user_api="blas"):
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
