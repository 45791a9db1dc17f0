"""Multivariate drift: a domain classifier tells reference rows from current rows."""

from __future__ import annotations

from typing import Any

MAX_ROWS = 10_000   # rows sampled from each side
AUC_THRESHOLD = 0.55


def domain_classifier(reference: Any, current: Any, columns: list[str], profile: Any, *,
                      threshold: float = AUC_THRESHOLD, seed: int = 0) -> dict[str, Any]:
    """Cross-validated ROC AUC of a gradient-boosted classifier trained to separate the two frames.

    0.5 means the frames are indistinguishable; at or above ``threshold`` the joint distribution
    drifted even if no single column did. Categories are encoded on the reference's levels, free
    text by its length; at most :data:`MAX_ROWS` rows are sampled from each side.
    """
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from threadpoolctl import threadpool_limits

    if not columns:
        return {"method": "domain classifier", "roc_auc": None, "threshold": threshold,
                "drifted": False, "note": "no testable columns"}
    rng = np.random.default_rng(seed)

    def sample(frame: Any) -> Any:
        if len(frame) <= MAX_ROWS:
            return frame[columns]
        return frame[columns].iloc[np.sort(rng.choice(len(frame), MAX_ROWS, replace=False))]

    ref, cur = sample(reference), sample(current)
    features, categorical = {}, []
    for name in columns:
        kind = profile.columns[name]["kind"]
        both = pd.concat([ref[name], cur[name]], ignore_index=True)
        if kind in {"categorical", "boolean"}:
            levels = list(profile.columns[name]["counts"])[:250]
            codes = pd.Categorical(both.astype("string"), categories=levels).codes.astype("float64")
            codes[codes < 0] = np.nan
            features[name] = codes
            categorical.append(True)
        elif kind == "text":
            features[name] = both.astype("string").str.len().to_numpy(dtype="float64", na_value=np.nan)
            categorical.append(False)
        else:
            features[name] = pd.to_numeric(both, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
            categorical.append(False)
    X = np.column_stack([features[n] for n in columns])
    X[~np.isfinite(X)] = np.nan
    y = np.r_[np.zeros(len(ref)), np.ones(len(cur))]
    clf = HistGradientBoostingClassifier(max_iter=50, categorical_features=np.array(categorical),
                                         random_state=seed)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    # One OpenMP thread: on a shared machine more threads spin and can be 100x slower.
    with threadpool_limits(limits=1, user_api="openmp"):
        auc = float(np.mean(cross_val_score(clf, X, y, cv=folds, scoring="roc_auc")))
    return {"method": "domain classifier", "roc_auc": auc, "threshold": threshold,
            "drifted": bool(auc >= threshold),
            "note": f"5-fold ROC AUC on {len(ref)} reference and {len(cur)} current rows"}
