"""nbt evaluate vs calling the scikit-learn metric functions directly; the paired bootstrap.

1. ``evaluate`` on 1,000,000 rows of a fitted binary logistic regression (20 features) against
   the same work done by hand: predict once, predict_proba once, then accuracy,
   balanced accuracy, precision/recall/F1 (binary, macro and per class), ROC AUC, log loss,
   Brier and the confusion matrix from ``sklearn.metrics``. Target (issue 5): ratio <= 1.5.
2. ``compare``'s paired bootstrap: 1,000 resamples of 100,000 rows (accuracy, the multinomial
   path) and of a continuous per-row loss (the block index-resampling path). Target: <= 2 s.

Both sides run in this process on the same data, alternating, after a warm-up; the best of
ROUNDS is reported.  Run: .venv/bin/python benchmarks/evaluate.py
"""

from __future__ import annotations

import os
import time

ROUNDS = int(os.environ.get("ROUNDS", "3"))
N = int(os.environ.get("N_ROWS", "1000000"))


def best(fn, rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    import numpy as np
    from sklearn import metrics as skm
    from sklearn.linear_model import LogisticRegression

    from nbtoolkit.evaluation import evaluate, paired_bootstrap

    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, 20)).astype("float64")
    y = (X[:, :5].sum(axis=1) + rng.normal(scale=2.0, size=N) > 0).astype(int)
    model = LogisticRegression().fit(X[:50_000], y[:50_000])

    def by_hand() -> dict:
        # the lean way to the same numbers: one call per metric family, macro and the positive
        # class read off the per-class arrays instead of separate precision/recall/f1 calls
        pred = model.predict(X)
        proba = model.predict_proba(X)
        p, r, f, s = skm.precision_recall_fscore_support(y, pred, zero_division=0)
        return {
            "accuracy": skm.accuracy_score(y, pred),
            "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
            "precision": p[1], "recall": r[1], "f1": f[1],
            "precision_macro": p.mean(), "recall_macro": r.mean(), "f1_macro": f.mean(),
            "per_class": (p, r, f, s),
            "roc_auc": skm.roc_auc_score(y, proba[:, 1]),
            "log_loss": skm.log_loss(y, proba),
            "brier": skm.brier_score_loss(y, proba[:, 1]),
            "confusion": skm.confusion_matrix(y, pred),
        }

    def ours():
        return evaluate(model, X, y)

    ref, got = by_hand(), ours()  # warm-up, and the same numbers
    for k in ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "precision_macro",
              "recall_macro", "f1_macro", "roc_auc", "log_loss", "brier"):
        assert abs(ref[k] - got.metrics[k]) < 1e-9, k
    t_hand, t_ours = [], []
    for _ in range(ROUNDS):
        t_hand.append(best(by_hand, 1))
        t_ours.append(best(ours, 1))
    hand, mine = min(t_hand), min(t_ours)
    print(f"evaluate, {N:,} rows, binary LR (20 features)")
    print(f"  sklearn metric functions by hand: {hand:.3f} s")
    print(f"  nbtoolkit.evaluate:               {mine:.3f} s")
    print(f"  ratio evaluate / by hand:         {mine / hand:.2f}x   (target <= 1.5x)")

    n = 100_000
    right_a = rng.random(n) < 0.80
    right_b = rng.random(n) < 0.82
    acc = right_b.astype(float) - right_a  # what compare resamples for accuracy
    first = lambda m: m[:, 0]  # noqa: E731
    paired_bootstrap(acc, first, n_resamples=50, seed=0)
    t_acc = best(lambda: paired_bootstrap(acc, first, n_resamples=1000, seed=0))
    loss = rng.exponential(size=n) - rng.exponential(size=n)  # mae / log loss / brier
    t_cont = best(lambda: paired_bootstrap(loss, first, n_resamples=1000, seed=0))
    sq = rng.exponential(size=(n, 2))  # rmse: two columns, sqrt after the means
    t_rmse = best(lambda: paired_bootstrap(sq, lambda m: np.sqrt(m[:, 1]) - np.sqrt(m[:, 0]),
                                           n_resamples=1000, seed=0), rounds=1)
    print(f"paired bootstrap, 1,000 resamples x {n:,} rows")
    print(f"  accuracy (0/1 per row, multinomial path):   {t_acc:.3f} s   (target <= 2 s)")
    print(f"  continuous per-row difference (index path): {t_cont:.3f} s")
    print(f"  rmse, two columns (index path):             {t_rmse:.3f} s")


if __name__ == "__main__":
    main()
