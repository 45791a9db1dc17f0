"""Hand-written statistics vs the scipy / scikit-learn functions that compute the same numbers.

Issue 15: keep a hand-written path only where it is faster than the library, with a parity test
(tests/test_stats_parity.py). Each case checks that both sides agree, then times both on the same
inputs in this process, alternating, and prints the median per call and the ratio
library / hand-written (above 1: the library is slower).

The hand-written side is the package function itself (the evaluate per-class arrays: a copy of
``metrics.per_class``'s arithmetic, which takes a ``Predictions``). The library side is the call
the package would make, with whatever it needs to give the same numbers (Jensen–Shannon: scipy
returns NaN for an empty side and, through rounding, for nearly equal counts).

Run: .venv/bin/python benchmarks/stats.py   (ROUNDS=7 by default)
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any, Callable

ROUNDS = int(os.environ.get("ROUNDS", "7"))


def per_call(fn: Callable[[], Any], budget: float = 0.05) -> float:
    """Seconds per call: enough calls to fill ``budget`` seconds."""
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    n = max(1, int(budget / once))
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def race(hand: Callable[[], Any], lib: Callable[[], Any]) -> tuple[float, float]:
    h, l = [], []
    for _ in range(ROUNDS):
        h.append(per_call(hand))
        l.append(per_call(lib))
    return statistics.median(h), statistics.median(l)


# ------------------------------------------------------------------ the library, as the package would call it
def js_scipy(r: Any, c: Any) -> float:
    """scipy's distance with the edge cases the package defines (scipy gives NaN for both)."""
    import math

    import numpy as np
    from scipy.spatial.distance import jensenshannon

    r, c = np.asarray(r, "float64"), np.asarray(c, "float64")
    empty_r, empty_c = not r.sum(), not c.sum()
    if empty_r or empty_c:  # an empty side
        return 0.0 if empty_r and empty_c else math.sqrt(math.log(2) / 2)
    with np.errstate(invalid="ignore"):  # equal counts: the divergence can round below zero
        d = float(jensenshannon(r, c))
    return 0.0 if math.isnan(d) else d


def per_class_from_cm(cm: Any) -> Any:
    import numpy as np

    tp = cm.diagonal()
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)

    def div(num: Any, den: Any) -> Any:
        out = np.zeros(np.shape(num), dtype="float64")
        np.divide(num, den, out=out, where=den > 0)
        return out

    return div(tp, predicted), div(tp, support), div(2 * tp, support + predicted), support


# ------------------------------------------------------------------ cases
def main() -> None:
    import numpy as np
    from scipy.stats import binomtest, false_discovery_control, ks_2samp
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    rng = np.random.default_rng(0)
    rows: list[tuple[str, float, float]] = []

    def case(name: str, hand: Callable[[], Any], lib: Callable[[], Any],
             same: Callable[[Any, Any], bool]) -> None:
        assert same(hand(), lib()), name
        h, l = race(hand, lib)
        rows.append((name, h, l))

    close = lambda x, y: bool(np.allclose(x, y, rtol=1e-9, atol=1e-12))  # noqa: E731

    from nbtoolkit.profiles import stats
    from nbtoolkit.evaluation.comparison import mcnemar_exact
    from nbtoolkit.monitoring.monitor import per_class_f1

    for n in (1_000, 10_000, 100_000):  # KS on raw arrays: auto-chosen up to 1,000 rows; any size if asked
        a, b = rng.normal(size=n), rng.normal(0.05, 1.0, size=n)
        case(f"exact KS, {n:,} vs {n:,} rows", lambda: stats.ks_exact(a, b),
             lambda: tuple(ks_2samp(a, b, method="asymp")[:2]), close)

    for k in (10, 200):  # JS on the coarse numeric groups (10) or a categorical column's counts
        r, c = rng.integers(0, 1000, size=k).astype(float), rng.integers(0, 1000, size=k).astype(float)
        r[0] = 0.0  # an empty bin on one side
        case(f"Jensen-Shannon, {k} bins", lambda: stats.jensenshannon(r, c), lambda: js_scipy(r, c), close)

    for m in (20, 1_000):  # BH across the tested columns of one drift report
        p = rng.uniform(size=m).tolist()
        case(f"Benjamini-Hochberg, {m:,} p-values", lambda: stats.adjust(p, "fdr_bh"),
             lambda: np.minimum(false_discovery_control(p, method="bh"), 1.0).tolist(), close)

    for n in (1_000, 100_000):  # McNemar on the per-row correctness of two models
        ca, cb = rng.uniform(size=n) < 0.8, rng.uniform(size=n) < 0.78

        def mc_lib() -> float:
            only_a, only_b = int(np.sum(ca & ~cb)), int(np.sum(~ca & cb))
            return binomtest(only_a, only_a + only_b, 0.5).pvalue

        case(f"McNemar exact, {n:,} rows", lambda: mcnemar_exact(ca, cb)["p_value"], mc_lib, close)

    for n in (1_000, 50_000):  # per-class F1 of a monitor window (string labels, 5 classes)
        labels = np.array(["billing", "bug", "account", "feature", "other"])
        truth = labels[rng.integers(0, 5, size=n)]
        pred = np.where(rng.uniform(size=n) < 0.7, truth, labels[rng.integers(0, 5, size=n)])

        def f1_lib() -> dict[str, float]:
            classes = np.union1d(truth, pred)
            return dict(zip(map(str, classes), f1_score(truth, pred, labels=classes, average=None).tolist()))

        case(f"monitor per-class F1, {n:,} rows", lambda: per_class_f1(truth, pred), f1_lib,
             lambda x, y: x.keys() == y.keys() and close(list(x.values()), list(y.values())))

    n = 1_000_000  # evaluate(): per-class precision/recall/F1 from the confusion matrix it already has
    true_codes = rng.integers(0, 3, size=n)
    pred_codes = np.where(rng.uniform(size=n) < 0.8, true_codes, rng.integers(0, 3, size=n))
    cm = np.bincount(true_codes * 3 + pred_codes, minlength=9).reshape(3, 3)
    case(f"evaluate per-class P/R/F1, {n:,} rows (confusion matrix given)", lambda: per_class_from_cm(cm),
         lambda: precision_recall_fscore_support(true_codes, pred_codes, labels=[0, 1, 2], zero_division=0),
         lambda x, y: all(close(u, v) for u, v in zip(x, y)))

    width = max(len(r[0]) for r in rows)
    print(f"{'case':<{width}}  {'hand-written':>12}  {'library':>10}  library/hand")
    for name, h, l in rows:
        print(f"{name:<{width}}  {h * 1e6:>9.1f} µs  {l * 1e6:>7.1f} µs  {l / h:>8.2f}x")


if __name__ == "__main__":
    main()
