"""Multivariate drift over time: a domain classifier per chunk (as NannyML's DomainClassifierCalculator).

For each chunk, a gradient-boosted classifier (scikit-learn's ``HistGradientBoostingClassifier``;
NannyML uses LightGBM) learns to tell the chunk's rows from reference rows; its cross-validated
AUROC (out-of-fold predictions of stratified k folds, pooled) is the chunk's value: 0.5 when the
chunk looks like the reference, towards 1 when the joint distribution moved — even if no single
column did. A reference chunk is told from the rest of the reference, so its AUROC is distributed
as a new chunk's would be without drift; the upper limit is their mean + ``k`` sd (at most 1); only a rise alerts.

Cheaper than NannyML's procedure, which trains on the whole reference against each chunk: the
chunk (at most :data:`MAX_ROWS` rows) is told from twice as many reference rows
(:data:`REF_RATIO`), sampled with a fixed seed — the AUROC does not depend on the class balance,
the cost does — with 2 folds (not 5) and fewer trees (:data:`BOOSTING`: 10 of at most 31 leaves,
learning rate 0.5). Inputs are coded once for all chunks: numbers by their quantile bin of the
reference (at most :data:`BINS`), categories by the reference's levels (most frequent first, as
ordered numbers: native categorical splits cost a re-encoding per fit), free text by its length;
missing values are left to the trees. The AUROC is the Mann–Whitney statistic of the pooled
out-of-fold scores. On NannyML's car-loan data the AUROC is within 0.017 of NannyML's and the same
chunks alert, over ten times faster (benchmarks/quality.py).

Identifiers and timestamps separate reference from analysis perfectly (the ids and the times of
the analysis come later): a column that looks like one gets a note, and is left out unless the
caller named it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..limits import reference_limits

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from ..chunking import Chunk
    from ..profiles import Profile

MAX_ROWS = 5_000       # rows of a chunk given to the classifier
REF_RATIO = 2          # reference rows sampled per chunk row: more to learn from, at a small cost
FOLDS = 2
BINS = 64              # quantile bins of a numeric column (and the boosting's max_bins)
# Few, larger trees: a fit's fixed cost (validation, binning, predictor) is most of its time.
BOOSTING: dict[str, Any] = {"max_iter": 10, "learning_rate": 0.5, "max_leaf_nodes": 31, "max_bins": BINS,
                            "early_stopping": False}


def domain_timeline(ref: pd.DataFrame, cur: pd.DataFrame, columns: list[str], profile: Profile,
                    ref_chunks: list[Chunk], cur_chunks: list[Chunk], *, k: float = 3.0, named: bool = False,
                    seed: int = 0) -> dict[str, Any]:
    """AUROC of a reference-vs-chunk classifier per chunk, with limits from the reference chunks.

    ``named``: the caller chose ``columns`` (identifier-like ones are then kept, with a note).
    """
    import numpy as np
    import sklearn.ensemble  # noqa: F401  (loaded before threadpool_limits, which limits loaded libraries only)
    from threadpoolctl import threadpool_limits

    notes = []
    suspects = [c for c in columns if looks_like_identifier(ref[c], c)]
    used = list(columns) if named else [c for c in columns if c not in suspects]
    if suspects:
        notes.append(f"{', '.join(map(repr, suspects))} look(s) like an identifier or a timestamp, which tells "
                     "reference from analysis perfectly: " + ("drop it from columns=." if named else
                                                            "left out of the domain classifier."))
    if not used:
        return {"method": "domain classifier AUROC", "columns": [], "rows": [], "notes": [
            *notes, "No domain classifier: no feature column left."]}
    encode = _encoder(ref, used, profile)
    X_ref, X_cur = encode(ref), encode(cur)
    rng = np.random.default_rng(seed)
    everyone = np.arange(len(ref))
    # One OpenMP thread: on a shared machine more threads spin and can be much slower.
    with threadpool_limits(limits=1, user_api="openmp"):
        ref_values = []
        for c in ref_chunks:
            rest = np.setdiff1d(everyone, c.positions, assume_unique=True)
            ref_values.append(_auroc(X_ref[c.positions], X_ref, rest, rng, seed))
        cur_values = [_auroc(X_cur[c.positions], X_ref, everyone, rng, seed) for c in cur_chunks]
    # Only a rise alerts: below 0.5 the classifier does worse than chance, which is no drift.
    low, high = reference_limits(ref_values, k, lower=False, ceiling=1.0)
    rows = []
    for period, chunks, values in (("reference", ref_chunks, ref_values), ("current", cur_chunks, cur_values)):
        for c, value in zip(chunks, values):
            rows.append({"period": period, "chunk": c.key, "start": c.start, "end": c.end, "rows": c.rows,
                         "auroc": value, "lower": math.nan if low is None else low,
                         "upper": math.nan if high is None else high,
                         "drifted": bool(high is not None and math.isfinite(value) and value > high)})
    return {"method": "domain classifier AUROC", "columns": used, "folds": FOLDS, "rows": rows, "notes": notes}


def looks_like_identifier(series: pd.Series, name: str) -> bool:
    """A datetime, numbers running one way, whole numbers or text (almost) all distinct, or a name
    like an id or a time (:func:`nbtoolkit.contract.identifier_reason`)."""
    from ..contract import identifier_reason

    return identifier_reason(series, name) is not None


def _auroc(chunk: np.ndarray, X_ref: np.ndarray, pool: np.ndarray, rng: np.random.Generator, seed: int) -> float:
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold

    if len(chunk) > MAX_ROWS:
        chunk = chunk[np.sort(rng.choice(len(chunk), MAX_ROWS, replace=False))]
    size = min(REF_RATIO * len(chunk), len(pool))
    other = X_ref[np.sort(rng.choice(pool, size, replace=False))]
    X = np.vstack([other, chunk])
    y = np.r_[np.zeros(len(other)), np.ones(len(chunk))]
    folds = min(FOLDS, len(other), len(chunk))
    if folds < 2:
        return math.nan
    scores = np.empty(len(y))
    for train, test in StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(X, y):
        model = HistGradientBoostingClassifier(**BOOSTING, random_state=seed).fit(X[train], y[train])
        scores[test] = model.predict_proba(X[test])[:, 1]
    return auroc(scores[:len(other)], scores[len(other):])


def auroc(negatives: np.ndarray, positives: np.ndarray) -> float:
    """The area under the ROC curve: the Mann–Whitney U over ``n0 n1``, ties counted half (as
    scikit-learn's ``roc_auc_score``, at a fraction of its cost)."""
    import numpy as np
    from scipy.stats import rankdata

    ranks = rankdata(np.r_[negatives, positives])[len(negatives):]
    n0, n1 = len(negatives), len(positives)
    return float((ranks.sum() - n1 * (n1 + 1) / 2) / (n0 * n1))


def _encoder(ref: pd.DataFrame, columns: list[str], profile: Profile) -> Any:
    """``encode(frame)``: rows × columns of floats (NaN: missing), on the reference's levels and bins."""
    import numpy as np
    import pandas as pd

    def numbers(s: pd.Series) -> np.ndarray:
        x = pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        return np.where(np.isfinite(x), x, np.nan)

    plan: list[tuple[str, str, Any]] = []
    for name in columns:
        entry = profile.columns[name]
        kind = entry["kind"]
        if kind in {"categorical", "boolean"}:
            plan.append((name, "category", pd.Index([str(v) for v in list(entry["counts"])[:250]])))
        elif kind == "text":
            plan.append((name, "length", None))
        else:
            x = numbers(ref[name])
            x = x[~np.isnan(x)]
            plan.append((name, "number", np.unique(np.quantile(x, np.arange(1, BINS) / BINS)) if len(x) else x))

    def column(frame: pd.DataFrame, name: str, how: str, levels: Any) -> np.ndarray:
        s = frame[name]
        if how == "category":
            found, values = pd.factorize(s, use_na_sentinel=True)   # the frame's own levels (-1: missing)
            codes = levels.get_indexer(values.astype("string")).astype("float64")
            codes[codes < 0] = np.nan  # missing and unseen levels: the trees' missing branch
            return np.r_[codes, np.nan][found]
        if how == "length":
            return s.astype("string").str.len().to_numpy(dtype="float64", na_value=np.nan)
        x = numbers(s)
        return np.where(np.isnan(x), np.nan, np.searchsorted(levels, x).astype("float64"))  # quantile bin

    def encode(frame: pd.DataFrame) -> np.ndarray:
        return np.column_stack([column(frame, name, how, levels) for name, how, levels in plan])

    return encode
