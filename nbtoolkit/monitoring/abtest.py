"""Champion vs challenger on logged live traffic with outcomes: significance and a recommendation."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..errors import BadInput
from ..vocabulary import renamed
from ..refs import check_alias, check_name
from ..validation import count, fraction
from ..reports.monitoring import KEEP, PROMOTE, ROLLBACK, ABTestReport
from .log import PredictionLog
from .monitor import require_log

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


@renamed(log="predictions_url", champion_alias="champion", challenger_alias="challenger")
def abtest(
    name: str,
    *,
    predictions_url: PredictionLog | str | None = None,
    champion: str = "champion",
    challenger: str = "challenger",
    champion_version: str | int | None = None,
    challenger_version: str | int | None = None,
    start: Any = None,
    end: Any = None,
    min_samples: int = 200,
    alpha: float = 0.05,
    n_boot: int = 2000,
    seed: int = 0,
    apply: bool = False,
) -> ABTestReport:
    """Compare the champion and challenger versions of ``name`` on their logged traffic.

    Only the period in which both versions served is compared (so a drift over time does not
    favour either). For each version: predictions, labeled predictions, accuracy on outcomes,
    share routed to humans, mean confidence. The accuracy difference (challenger - champion) gets a
    two-proportion z-test and a bootstrap 95 % interval.

    Recommendation: ``promote`` (challenger significantly better), ``rollback`` (significantly
    worse: send the challenger alias back to the champion's version), ``keep`` (no significant
    difference yet, or fewer than ``min_samples`` labeled predictions per version).
    ``apply=True`` acts on it through :func:`nbtoolkit.promote` (:func:`apply_recommendation`;
    the alias move is in ``report.applied``); ``report.apply()`` does the same afterwards.

    ``predictions_url`` (a URL or a PredictionLog), ``champion`` and ``challenger`` (aliases) were
    ``log``, ``champion_alias`` and ``challenger_alias``; the old names are still accepted.
    """
    champion_alias, challenger_alias, log = champion, challenger, predictions_url
    check_name(name)
    check_alias(champion_alias)
    check_alias(challenger_alias)
    alpha = fraction(alpha, "alpha", zero=False, one=False, hint=" (a significance level, e.g. 0.05)")
    min_samples = count(min_samples, "min_samples", zero=True)
    n_boot = count(n_boot, "n_boot", maximum=1_000_000)
    seed = count(seed, "seed", zero=True)
    champ_v = str(champion_version) if champion_version is not None else _alias_version(name, champion_alias)
    chall_v = str(challenger_version) if challenger_version is not None else _alias_version(name, challenger_alias)
    if champ_v == chall_v:
        raise BadInput(
            f"{name}@{champion_alias} and {name}@{challenger_alias} are both version {champ_v}; "
            "promote a different version to the challenger alias to run an A/B test."
        )
    plog = log if isinstance(log, PredictionLog) else PredictionLog(log)
    require_log(plog, name)
    a = plog.frame(name, version=champ_v, start=start, end=end)
    b = plog.frame(name, version=chall_v, start=start, end=end)
    warnings: list[str] = []
    if len(a) and len(b):
        overlap = max(a["ts"].min(), b["ts"].min())
        a, b = a[a["ts"] >= overlap], b[b["ts"] >= overlap]
    arms = [_arm("champion", champ_v, a), _arm("challenger", chall_v, b)]
    ca, cb = (_correct(x) for x in (a, b))
    diff = float(cb.mean() - ca.mean()) if len(ca) and len(cb) else math.nan
    p_value = two_proportion_p(int(ca.sum()), len(ca), int(cb.sum()), len(cb))
    lo, hi = bootstrap_diff_ci(ca, cb, n_boot=n_boot, seed=seed, level=1 - alpha)

    low = [arm for arm in arms if arm["labeled"] < min_samples]
    if low:
        warnings.extend(
            f"only {arm['labeled']} labeled predictions for the {arm['arm']} (v{arm['version']}); "
            f"at least {min_samples} are needed for a reliable verdict" for arm in low)
    if low or math.isnan(p_value):
        recommendation, reason = KEEP, "Not enough labeled traffic yet: keep the canary running."
    elif p_value < alpha and diff > 0:
        recommendation = PROMOTE
        reason = (f"The challenger is more accurate by {diff:+.3f} (p={p_value:.3g} < {alpha:g}): promote "
                  f"v{chall_v} to @{champion_alias}.")
    elif p_value < alpha and diff < 0:
        recommendation = ROLLBACK
        reason = (f"The challenger is less accurate by {diff:+.3f} (p={p_value:.3g} < {alpha:g}): roll back "
                  f"the canary (@{challenger_alias} back to v{champ_v}).")
    else:
        recommendation = KEEP
        reason = f"No significant difference (p={p_value:.3g} >= {alpha:g}): keep the champion."
    if recommendation == PROMOTE and arms[1]["human_share"] > arms[0]["human_share"] + 0.1:
        warnings.append(f"the challenger sends {arms[1]['human_share']:.0%} of items to humans "
                        f"(champion {arms[0]['human_share']:.0%}); check the cost before promoting")
    report = ABTestReport(name=name, champion=arms[0], challenger=arms[1], difference=diff, ci_low=lo,
                          ci_high=hi, p_value=p_value, alpha=float(alpha), recommendation=recommendation,
                          reason=reason, warnings=warnings, champion_alias=champion_alias,
                          challenger_alias=challenger_alias, min_samples=int(min_samples),
                          applier=apply_recommendation)
    if apply:
        report.apply()
    return report


def apply_recommendation(report: ABTestReport) -> Any:
    """Act on an A/B verdict: promote the challenger to champion, or send the challenger alias
    back to the champion's version (roll back the canary); ``keep`` changes nothing (None)."""
    from ..registry import promote

    if report.recommendation == PROMOTE:
        return promote(report.name, report.challenger["version"], alias=report.champion_alias)
    if report.recommendation == ROLLBACK:
        return promote(report.name, report.champion["version"], alias=report.challenger_alias)
    return None


def _alias_version(name: str, alias: str) -> str:
    from ..registry import resolve

    return str(resolve(f"{name}@{alias}").version)


def _arm(arm: str, version: str, frame: pd.DataFrame) -> dict[str, Any]:
    labeled = frame[frame["outcome"].notna()]
    correct = _correct(frame)
    return {
        "arm": arm,
        "version": version,
        "predictions": len(frame),
        "labeled": len(labeled),
        "accuracy": float(correct.mean()) if len(correct) else math.nan,
        "human_share": float(frame["routed_to_human"].mean()) if len(frame) else math.nan,
        "mean_confidence": float(frame["confidence"].mean()) if len(frame) else math.nan,
        "first": frame["ts"].min() if len(frame) else None,
        "last": frame["ts"].max() if len(frame) else None,
    }


def _correct(frame: pd.DataFrame) -> np.ndarray:
    import numpy as np

    labeled = frame[frame["outcome"].notna()]
    same = labeled["outcome"].astype(str).to_numpy() == labeled["prediction"].astype(str).to_numpy()
    return same.astype(np.float64)


def two_proportion_p(success_a: int, n_a: int, success_b: int, n_b: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test (NaN when a side is empty)."""
    if n_a == 0 or n_b == 0:
        return math.nan
    pooled = (success_a + success_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if se == 0:
        return 1.0
    z = (success_b / n_b - success_a / n_a) / se
    return math.erfc(abs(z) / math.sqrt(2))


def bootstrap_diff_ci(a: Any, b: Any, *, n_boot: int = 2000, seed: int = 0,
                      level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of ``mean(b) - mean(a)`` (arms resampled independently)."""
    import numpy as np

    if len(a) == 0 or len(b) == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    # Resampling 0/1 outcomes = drawing binomial counts: same distribution, far less memory.
    ma = rng.binomial(len(a), float(np.mean(a)), size=n_boot) / len(a)
    mb = rng.binomial(len(b), float(np.mean(b)), size=n_boot) / len(b)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(mb - ma, [tail, 100 - tail])
    return float(lo), float(hi)
