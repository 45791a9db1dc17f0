"""The density ratio of an analysis chunk against the reference, for the shift-aware estimate
(:mod:`nbtoolkit.estimation.shift`): a domain classifier's odds of "chunk" at every reference row.

The columns named as features become a design once per estimate (:func:`design`: numbers
standardised on the reference with their squares and missing indicators, categories as level
numbers); per chunk :func:`log_ratio` fits a penalised logistic regression (:func:`newton`) of
chunk against reference and scores every reference row; :func:`weights` turns the log ratios
into capped weights of mean 1, :func:`kish` into an effective sample size. Identifiers and
timestamps are left out first (:func:`usable`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

WEIGHT_CAP = 50.0        # one reference row counts at most this many times the average row
FOLDS = 2                # cross-fitting folds of a classifier that would learn its training rows by heart
TRAIN_FACTOR = 1         # reference rows the domain classifier learns from: ≤ this × the chunk ...
TRAIN_MIN = 4_000        # ... but at least this many (or all of them)
L2 = 1.0
TOL = 1e-3               # Newton stops when no coefficient would move more than this
SEED = 0


# ------------------------------------------------------------------------------ features
def usable(ref: pd.DataFrame, cur: pd.DataFrame, features: list[str],
           distinct: dict[str, int] | None = None) -> tuple[list[str], list[str]]:
    """(features kept, notes): identifiers and timestamps are left out of the domain classifier.
    ``distinct``: each category column's number of distinct values, when counted (see :func:`codes`)."""
    import pandas as pd

    from ..contract import identifier_reason

    kept, notes = [], []
    for col in features:
        why = identifier_reason(pd.concat([ref[col], cur[col]], ignore_index=True), col,
                                distinct=(distinct or {}).get(col))
        if why:
            notes.append(f"Feature {col!r} looks like an identifier or timestamp ({why}); it would tell the "
                         "reference from the analysis by itself, so the domain classifier leaves it out.")
        else:
            kept.append(col)
    if not kept:
        raise BadInput(f"None of features={features!r} can be used by the domain classifier (each looks like "
                       "an identifier or timestamp); name the model's input columns.")
    return kept, notes


def numeric(ref: pd.Series, cur: pd.Series) -> bool:
    """Whether a column enters the domain classifier as a number (else as a category)."""
    import pandas as pd

    return (pd.api.types.is_numeric_dtype(ref) and pd.api.types.is_numeric_dtype(cur)) or (
        pd.api.types.is_bool_dtype(ref) and pd.api.types.is_bool_dtype(cur))


def codes(ref: pd.Series, cur: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """(reference codes, analysis codes, distinct present values) of a category column: the
    reference's levels first, the analysis's new ones after; a missing value is a level of its own
    (number = the distinct values' count). Strings held by pyarrow (pandas' default ``str``) are
    encoded by pyarrow in one pass over both frames (30 ms less on US census's 15 columns); others
    are factorised frame by frame (fast for category dtypes)."""
    import numpy as np
    import pandas as pd

    if isinstance(ref.dtype, pd.StringDtype) and isinstance(cur.dtype, pd.StringDtype) \
            and ref.dtype.storage == cur.dtype.storage == "pyarrow":
        import pyarrow as pa
        import pyarrow.compute as pc

        a, b = (pa.chunked_array(pa.array(s.array)) for s in (ref, cur))   # what pandas holds (no copy)
        if a.type != b.type:   # string and large_string
            a, b = a.cast(pa.large_string()), b.cast(pa.large_string())
        both = pa.chunked_array([*a.chunks, *b.chunks])
        encoded = both.dictionary_encode().combine_chunks()
        distinct = len(encoded.dictionary)
        numbers = pc.fill_null(encoded.indices, distinct).to_numpy(zero_copy_only=False)
        return numbers[:len(ref)], numbers[len(ref):], distinct
    rc, ru = pd.factorize(ref)
    cc, cu = pd.factorize(cur)
    where = pd.Index(ru).get_indexer(pd.Index(cu))
    new = np.flatnonzero(where < 0)
    where[new] = len(ru) + 1 + np.arange(len(new))
    missing = len(ru)
    return (np.where(rc < 0, missing, rc), np.where(cc < 0, missing, where[np.maximum(cc, 0)]),
            len(ru) + len(new))


def design(ref: pd.DataFrame, cur: pd.DataFrame, features: list[str],
           coded: dict[str, tuple[np.ndarray, np.ndarray, int]] | None = None) -> Design:
    """Numbers (standardised on the reference, their squares, missing indicators) and category codes
    (``coded``: :func:`codes` of the category columns, when already computed)."""
    import numpy as np

    left: list[np.ndarray] = []
    right: list[np.ndarray] = []
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    for col in features:
        r, c = ref[col], cur[col]
        if not numeric(r, c):
            rc, cc, _ = (coded or {}).get(col) or codes(r, c)
            pairs.append((rc, cc))
            continue
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
    # Levels numbered across columns (column j's after column j-1's), so that one bincount counts
    # every column's levels and one gather encodes a row; the reference rows in a random order, so
    # that folds and training draws are slices.
    levels = [int(max(a.max(initial=0), b.max(initial=0))) + 1 for a, b in pairs]
    codes_ref = np.empty((len(ref), len(pairs)), dtype=np.int32)   # filled in place: stacking 15 int64
    codes_cur = np.empty((len(cur), len(pairs)), dtype=np.int32)   # columns cost 30 ms on US census
    first = 0
    for j, (a, b) in enumerate(pairs):
        codes_ref[:, j], codes_cur[:, j] = a + first, b + first
        first += levels[j]
    order = np.random.default_rng(SEED).permutation(len(ref))
    codes_ref = codes_ref[order]
    numbers_ref = np.column_stack(left)[order] if left else np.zeros((len(ref), 0))
    numbers_cur = np.column_stack(right) if right else np.zeros((len(cur), 0))
    return Design(numbers_ref, numbers_cur, codes_ref, codes_cur, np.repeat(np.arange(len(levels)), levels), order,
                  _one_hot(codes_ref, levels))


def _one_hot(codes: np.ndarray, levels: list[int]) -> tuple[Any, np.ndarray]:
    """(sparse distinct rows × levels indicator, the distinct row of each reference row): a row's
    category score under a model is one product over the distinct combinations of levels (a
    gather of 68k × 15 codes took 3 ms a chunk; the product over all rows 0.5 ms, over US census's
    18k distinct ones 0.15 ms). Rows are told apart by one integer (mixed radix) when the levels'
    product fits in 62 bits, else every row is its own."""
    import math

    import numpy as np
    from scipy.sparse import csr_matrix

    first = np.r_[0, np.cumsum(levels)[:-1]].astype(np.int64)
    which = np.arange(len(codes))
    distinct = codes
    if levels and math.prod(levels) < 2 ** 62:
        radix = np.r_[1, np.cumprod(levels[:-1])].astype(np.int64)
        keys = (codes.astype(np.int64) - first) @ radix
        _, rows, which = np.unique(keys, return_index=True, return_inverse=True)
        distinct = codes[rows]
    n, width = distinct.shape
    return csr_matrix((np.ones(n * width), distinct.ravel(), np.arange(n + 1) * width),
                      shape=(n, sum(levels))), which.ravel()


class Design(NamedTuple):
    """The domain classifier's inputs: numeric columns and category codes, reference and analysis."""

    numbers_ref: np.ndarray
    numbers_cur: np.ndarray
    codes_ref: np.ndarray     # rows × category columns: level numbers, unique across the columns
    codes_cur: np.ndarray
    column: np.ndarray        # the category column of each level number
    order: np.ndarray         # reference row of each position of numbers_ref / codes_ref
    one_hot: tuple[Any, np.ndarray]   # see _one_hot


def log_shares(codes: np.ndarray, column: np.ndarray) -> np.ndarray:
    """Per level number, log of its share among its column's values in ``codes`` (+0.5 smoothing)."""
    import numpy as np

    counts = np.bincount(codes.ravel(), minlength=len(column)) + 0.5
    return np.log(counts) - np.log(np.bincount(column, weights=counts))[column]


# ------------------------------------------------------------------------------ domain classifier
def logistic(X: np.ndarray, y: np.ndarray, *, l2: float = L2, iterations: int = 20,
             start: np.ndarray | None = None, tol: float = TOL) -> np.ndarray:
    """Coefficients (intercept first) of an L2-penalised logistic regression of y on X's columns
    (from ``start``: e.g. the previous chunk's fit); see :func:`newton`."""
    import numpy as np

    return newton(np.column_stack([np.ones(len(X)), X]), y, l2=l2, iterations=iterations, start=start, tol=tol)


def newton(X1: np.ndarray, y: np.ndarray, *, l2: float = L2, iterations: int = 20,
           start: np.ndarray | None = None, tol: float = TOL) -> np.ndarray:
    """:func:`logistic` on ``X1``, whose first column is the intercept's ones: Newton's method with a
    backtracking line search. A full Newton step from a far start can overshoot and run away (from
    the previous chunk's coefficients, US census's later chunks reached |β| ~ 1e12 and their
    weights were noise)."""
    import numpy as np
    from scipy.special import expit, log_expit

    if start is not None and len(start) == X1.shape[1]:
        beta = start.copy()
    else:
        beta = np.zeros(X1.shape[1])
        share = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
        beta[0] = math.log(share / (1 - share))
    penalty = np.full(X1.shape[1], l2)
    penalty[0] = 0.0
    sign = np.where(y > 0.5, 1.0, -1.0)

    def loss(b: np.ndarray) -> tuple[float, np.ndarray]:
        z = X1 @ b   # −log-likelihood + penalty; z kept for the next step
        return float(-log_expit(sign * z).sum() + 0.5 * penalty @ (b * b)), z

    value, z = loss(beta)
    X32 = X1.astype(np.float32)   # the Hessian only steers the step (the search checks it): single
    for _ in range(iterations):   # precision is enough and 40 % cheaper
        p = expit(z)
        grad = X1.T @ (p - y) + penalty * beta
        hess = (X32.T @ (X32 * (p * (1 - p)).astype(np.float32)[:, None])).astype("float64") + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        if float(np.max(np.abs(step))) < tol:   # converged: the last small step needs no search
            beta = beta - step
            break
        t, slope = 1.0, float(grad @ step)
        while True:   # Armijo: halve the step until the loss drops enough
            trial = beta - t * step
            trial_value, trial_z = loss(trial)
            if trial_value <= value - 1e-4 * t * slope or t < 1e-6:
                break
            t /= 2
        beta, value, z = trial, trial_value, trial_z
    return beta


def log_ratio(design: Design, positions: np.ndarray, *, seed: int, classifier: str = "logistic",
              starts: dict[int, np.ndarray] | None = None) -> np.ndarray:
    """log(density of the chunk at ``positions`` / density of the reference) at every reference row.

    A category enters as one number: its level's log share in the chunk over its share in the
    reference, counted on the training rows (naive-Bayes style, so a column of many levels costs one
    coefficient). The logistic regression learns from the chunk and a random draw of the reference
    and scores every reference row, its training rows too: with one coefficient a column, and each
    level's share the same for every row of that level, a training row's score is hardly its own
    (cross-fitting, two fits a chunk on the same rows, moved the benchmark's mean errors by at most
    0.0003 and cost twice). A gradient boosting classifier (``classifier="hgb"``, measured in the benchmark) would
    learn its training rows by heart: it is cross-fitted, each of :data:`FOLDS` slices of the
    shuffled reference scored by a model trained on rows of the others."""
    import numpy as np

    n_ref, n_chunk = len(design.numbers_ref), len(positions)
    chunk_numbers, chunk_codes = design.numbers_cur[positions], design.codes_cur[positions]
    d = design.numbers_ref.shape[1]
    size = min(n_ref, max(int(TRAIN_FACTOR * n_chunk), TRAIN_MIN))   # reference rows to learn from
    if classifier == "logistic":
        X1, y, table, offset = _training(design, slice(0, size), chunk_numbers, chunk_codes)
        beta = newton(X1, y, start=(starts or {}).get(0), tol=TOL)
        if starts is not None:
            starts[0] = beta
        out = (beta[0] + offset + design.numbers_ref @ beta[1:d + 1]
               + (design.one_hot[0] @ (table * beta[d + 1:][design.column]))[design.one_hot[1]])
    else:
        take, out = size // FOLDS, np.zeros(n_ref)
        bounds = [n_ref * k // FOLDS for k in range(FOLDS + 1)]   # folds: slices of the shuffled reference
        chunk_fold = np.random.default_rng(seed).permutation(n_chunk) % FOLDS
        for k in range(FOLDS):
            train = np.concatenate([np.arange(bounds[f], min(bounds[f] + take, bounds[f + 1]))
                                    for f in range(FOLDS) if f != k])
            mine = chunk_fold != k
            X1, y, table, offset = _training(design, train, chunk_numbers[mine], chunk_codes[mine])
            held = slice(bounds[k], bounds[k + 1])
            out[held] = _fit_score(X1[:, 1:], y, classifier, seed)(
                np.hstack([design.numbers_ref[held], table[design.codes_ref[held]]])) + offset
    back = np.empty(n_ref)
    back[design.order] = out
    return back


def _training(design: Design, train: np.ndarray | slice, chunk_numbers: np.ndarray,
              chunk_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(X1 = [1, numbers, log shares] of the reference rows ``train`` then the chunk's rows, y = 0 | 1,
    each level's log share in the chunk over the reference, the log-odds offset of their sizes)."""
    import numpy as np

    ref_codes = design.codes_ref[train]
    table = log_shares(chunk_codes, design.column) - log_shares(ref_codes, design.column)
    nr, nc, d = len(ref_codes), len(chunk_codes), design.numbers_ref.shape[1]
    X1 = np.empty((nr + nc, 1 + d + design.codes_ref.shape[1]))
    X1[:, 0] = 1.0
    X1[:nr, 1:d + 1], X1[nr:, 1:d + 1] = design.numbers_ref[train], chunk_numbers
    X1[:nr, d + 1:], X1[nr:, d + 1:] = table[ref_codes], table[chunk_codes]
    return X1, np.r_[np.zeros(nr), np.ones(nc)], table, math.log(nr / max(1, nc))


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
