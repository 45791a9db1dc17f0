"""Champion vs challenger on the same rows: paired bootstrap interval, McNemar's exact test, verdict.

The bootstrap resamples rows (pairs of A's and B's per-row results together) and is vectorised:
when the per-row values take few distinct combinations (correct/incorrect for accuracy) each
resample is one multinomial draw over those combinations — the exact distribution of index
resampling at O(1) per resample; otherwise index matrices are drawn in blocks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import BadInput, did_you_mean
from ..vocabulary import renamed
from . import metrics as M
from .inputs import Model, Predictions, predict, resolve_model, task_of

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from ..reports.evaluation import ComparisonReport

BETTER, SAME, WORSE = "B better", "no significant difference", "B worse"
COMPARE_METRICS = {"classification": ("accuracy", "log_loss", "brier"), "regression": ("rmse", "mae", "r2")}
_UNIQUE_MAX = 64          # distinct per-row combinations for the multinomial shortcut
_BLOCK_CELLS = 4_000_000  # values gathered per block in the index-resampling path


def paired_bootstrap(values: np.ndarray, stat: Callable[[np.ndarray], np.ndarray], *, n_resamples: int = 1000,
                     seed: int | None = 0) -> np.ndarray:
    """``stat`` of the column means of ``values`` (n rows × k) over ``n_resamples`` row resamples.

    Returns an array of ``n_resamples`` statistics. Rows are resampled with replacement, all
    columns of a row together (a paired bootstrap); the same ``seed`` gives the same result.
    """
    import numpy as np

    values = np.asarray(values, dtype="float64")
    if values.ndim == 1:
        values = values[:, None]
    n, k = values.shape
    rng = np.random.default_rng(seed)
    if k == 1:  # e.g. a per-row difference of correctness in {-1, 0, 1}
        uniq, counts = np.unique(values[:, 0], return_counts=True)
        if len(uniq) <= _UNIQUE_MAX:
            draws = rng.multinomial(n, counts / n, size=n_resamples)
            return np.asarray(stat((draws @ uniq / n)[:, None]))
    columns = [np.ascontiguousarray(values[:, j]) for j in range(k)]
    block = max(1, _BLOCK_CELLS // n)
    means = np.empty((n_resamples, k))
    index_type = np.int32 if n < 2**31 else np.int64
    for start in range(0, n_resamples, block):
        stop = min(n_resamples, start + block)
        idx = rng.integers(0, n, size=(stop - start, n), dtype=index_type)
        for j, col in enumerate(columns):
            means[start:stop, j] = np.take(col, idx).mean(axis=1)
    return np.asarray(stat(means))


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> dict[str, Any]:
    """McNemar's exact test: two-sided binomial test on the discordant pairs (p = 1/2)."""
    import numpy as np
    from scipy.stats import binom

    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    only_a = int(np.sum(a & ~b))  # A right, B wrong
    only_b = int(np.sum(~a & b))
    discordant = only_a + only_b
    p = 1.0 if discordant == 0 else float(min(1.0, 2.0 * binom.cdf(min(only_a, only_b), discordant, 0.5)))
    return {"only_a_correct": only_a, "only_b_correct": only_b, "discordant": discordant, "p_value": p}


def _per_row(metric: str, pa: Predictions, pb: Predictions) -> tuple[Any, Callable[[Any], Any]]:
    """Per-row values whose column means give A's and B's metric, and that map (B×k) → B−A."""
    import numpy as np

    def diff(cols: list[Any]) -> tuple[Any, Callable[[Any], Any]]:
        # a difference of means is the mean of the per-row differences: one column to resample
        d = np.asarray(cols[1], dtype="float64") - np.asarray(cols[0], dtype="float64")
        return d[:, None], lambda m: m[:, 0]

    if metric == "accuracy":
        return diff([pa.y_pred == pa.y_true, pb.y_pred == pb.y_true])
    if metric in {"log_loss", "brier"}:
        cols = []
        for p in (pa, pb):
            probs = p.proba / p.proba.sum(axis=1, keepdims=True)
            if metric == "log_loss":
                eps = np.finfo(probs.dtype).eps
                cols.append(-np.log(np.clip(probs[np.arange(p.n), p.true_codes], eps, 1.0)))
            elif len(p.classes) == 2:
                cols.append((probs[:, 1] - (p.true_codes == 1)) ** 2)
            else:
                onehot = np.zeros_like(probs)
                onehot[np.arange(p.n), p.true_codes] = 1.0
                cols.append(((probs - onehot) ** 2).sum(axis=1))
        return diff(cols)
    ea, eb = pa.y_pred - pa.y_true, pb.y_pred - pb.y_true
    if metric == "mae":
        return diff([np.abs(ea), np.abs(eb)])
    if metric == "rmse":
        return np.column_stack([ea**2, eb**2]), lambda m: np.sqrt(m[:, 1]) - np.sqrt(m[:, 0])
    y = pa.y_true  # r2 = 1 - SSE/SST with SST = n(E[y²] - E[y]²)
    values = np.column_stack([ea**2, eb**2, y, y**2])

    def r2_diff(m: Any) -> Any:
        sst = m[:, 3] - m[:, 2] ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            return (m[:, 0] - m[:, 1]) / sst
    return values, r2_diff


@renamed(n_resamples="resamples")
def compare(
    model_a: Any,
    model_b: Any,
    X: Any,
    y: Any,
    *,
    metric: str | None = None,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
    log: bool = False,
) -> ComparisonReport:
    """Compare model A (e.g. the champion) with model B (the challenger) on the same rows.

    Parameters
    ----------
    model_a, model_b : REF (``NAME``, ``NAME/3``, ``NAME@champion``) or fitted estimators
    X, y : the rows and their truth
    metric : the metric the verdict is about (default accuracy for classifiers, rmse for
        regressors; also log_loss, brier, mae, r2)
    resamples, confidence, seed : the paired bootstrap of the difference B − A (``resamples``
        was ``n_resamples``)
    log : store the verdict on B's version as tag ``nbt.compare.<A-name>.<A-version>``, which
        ``promote --require beats=A`` reads (both must be registered versions)

    Returns
    -------
    ComparisonReport
        metrics side by side, the interval, McNemar's test (classifiers) and ``.verdict``:
        "B better" / "no significant difference" / "B worse". B is better when the interval lies
        wholly on the better side of 0 (and, for accuracy, McNemar's p < 1 − confidence).
    """
    import numpy as np

    from ..reports.evaluation import ComparisonReport

    if not isinstance(resamples, (int, np.integer)) or isinstance(resamples, bool) or not 10 <= resamples <= 1_000_000:
        raise BadInput(f"resamples must be an integer of at least 10 (and at most 1000000), got {resamples!r}.")
    from ..validation import seed as check_seed

    seed = check_seed(seed)
    if not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise BadInput(f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence!r}.")
    a, b = resolve_model(model_a, what="model A"), resolve_model(model_b, what="model B")
    if log and (a.ref is None or b.ref is None):
        unregistered = "A" if a.ref is None else "B"
        raise BadInput(f"--log stores the verdict on registered versions, but model {unregistered} "
                       f"({(a if a.ref is None else b).label}) is not one; pass REFs such as NAME@champion.")
    task = _check_comparable(a, b)
    metric = metric or M.PRIMARY[task]
    if metric not in COMPARE_METRICS[task]:
        kinds = "classifiers" if task == "classification" else "regressors"
        raise BadInput(f"Cannot compare on {metric!r}; for {kinds} "
                       f"use one of {', '.join(COMPARE_METRICS[task])}." + did_you_mean(metric, COMPARE_METRICS[task]))
    need_proba = M.METRICS[metric].needs_proba
    pa = predict(a, X, y, need_proba=need_proba)
    pb = predict(b, X, y, need_proba=need_proba)
    names = [m for m in M.default_metrics(pa) if m in set(M.default_metrics(pb))]
    ma, mb = M.compute(pa, names), M.compute(pb, names)
    side = [{"metric": m, "A": ma[m], "B": mb[m], "difference": _difference(ma[m], mb[m])} for m in names]
    values, stat = _per_row(metric, pa, pb)
    boot = paired_bootstrap(values, stat, n_resamples=int(resamples), seed=seed)
    observed = float(stat(values.mean(axis=0, keepdims=True))[0])
    tail = (1 - confidence) / 2
    low, high = (float(v) for v in np.nanquantile(boot, [tail, 1 - tail]))
    mcnemar = mcnemar_exact(pa.y_pred == pa.y_true, pb.y_pred == pb.y_true) if task == "classification" else None
    verdict = _verdict(metric, low, high, mcnemar, 1 - confidence)
    report = ComparisonReport(
        a=a.label, b=b.label, a_ref=a.ref, b_ref=b.ref, task=task, n=pa.n, metric=metric,
        metrics=side, difference=observed, ci=(low, high), confidence=confidence,
        n_resamples=int(resamples), seed=seed, mcnemar=mcnemar, verdict=verdict, bootstrap=boot,
    )
    if log:
        from .. import registry
        from ..registry.tags import compare_tag

        assert a.name is not None and a.version is not None and b.ref is not None  # both registered: checked above
        key = compare_tag(a.name, a.version)
        registry.set_version_tag(b.ref, key, verdict)
        report.logged = key
    return report


def _difference(a: float | None, b: float | None) -> float | None:
    """B's value minus A's, None when either is missing."""
    return None if a is None or b is None else b - a


def _check_comparable(a: Model, b: Model) -> str:
    task_a, task_b = task_of(a.estimator), task_of(b.estimator)
    if task_a != task_b:
        raise BadInput(f"Cannot compare a {task_a} model ({a.label}) with a {task_b} model ({b.label}).")
    fa, fb = a.inputs, b.inputs
    if fa is not None and fb is not None and fa != fb:
        only_a = [f for f in fa if f not in fb]
        only_b = [f for f in fb if f not in fa]
        detail = (f"only A has {only_a[:5]!r}" if only_a else "") + ("; " if only_a and only_b else "") + (
            f"only B has {only_b[:5]!r}" if only_b else "") or "the same columns in a different order"
        raise BadInput(f"{a.label} and {b.label} expect different features ({detail}); compare models "
                       "trained on the same columns.")
    na, nb = getattr(a.estimator, "n_features_in_", None), getattr(b.estimator, "n_features_in_", None)
    if na is not None and nb is not None and na != nb:
        raise BadInput(f"{a.label} expects {na} features but {b.label} expects {nb}; compare models "
                       "trained on the same columns.")
    return task_a


def _verdict(metric: str, low: float, high: float, mcnemar: dict[str, Any] | None, alpha: float) -> str:
    higher = M.METRICS[metric].higher_is_better
    significant = mcnemar is None or metric != "accuracy" or mcnemar["p_value"] < alpha
    if not significant:
        return SAME
    if (low > 0 and higher) or (high < 0 and not higher):
        return BETTER
    if (high < 0 and higher) or (low > 0 and not higher):
        return WORSE
    return SAME
