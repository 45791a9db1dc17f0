"""Alert rules over monitoring windows, and the webhook they are sent to.

``METRIC OP VALUE`` fires when it holds on a window; ``anomaly:METRIC[:K]`` when a window's value
lies beyond K standard deviations of the previous windows. :func:`post_webhook` delivers, with
retries, and never raises. Used by ``monitor`` (over the log) and by ``nbt serve`` (live).
"""

from __future__ import annotations

import logging
import math
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..backoff import retry
from ..errors import BadInput, did_you_mean
from ..reports.monitoring import Alert

logger = logging.getLogger("nbtoolkit.monitoring")

# contract: the share of a window's rows served outside their version's data contract;
# missing_rate / unseen_rate / out_of_range_rate: the highest over the inputs (data_quality.window_quality)
METRICS = ("volume", "labeled", "human_share", "mean_confidence", "accuracy", "macro_f1",
           "estimated_accuracy", "drift_share", "contract", "missing_rate", "unseen_rate", "out_of_range_rate")
_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_RULE = re.compile(r"^\s*(?P<metric>[A-Za-z_][\w.\-]*)\s*(?P<op><=|>=|<|>)\s*(?P<value>\S+)\s*$")
_ANOMALY = re.compile(r"^\s*anomaly\s*:\s*(?P<metric>[A-Za-z_][\w.\-]*)\s*(?::\s*(?P<k>\S+))?\s*$")
ANOMALY_MIN_HISTORY = 3


@dataclass(frozen=True)
class AlertRule:
    """``METRIC OP VALUE`` (fires when it holds) or ``anomaly:METRIC[:K]`` (beyond K rolling sd)."""

    metric: str
    op: str
    value: float
    text: str

    @classmethod
    def parse(cls, text: str, *, k_default: float = 3.0) -> AlertRule:
        raw = str(text)
        m = _ANOMALY.match(raw)
        if m:
            _check_metric(m["metric"], raw)
            k = _number(m["k"], raw) if m["k"] else k_default
            if k <= 0:
                raise BadInput(f"Alert rule {raw!r}: k must be > 0, got {k!r}.")
            return cls(m["metric"], "anomaly", k, raw.strip())
        m = _RULE.match(raw)
        if not m:
            raise BadInput(
                f"Malformed alert rule {raw!r}; write METRIC<VALUE (or <=, >, >=), e.g. 'accuracy<0.9', "
                "'drift_share>0.3', or anomaly:METRIC for a value beyond 3 rolling standard deviations."
            )
        _check_metric(m["metric"], raw)
        return cls(m["metric"], m["op"], _number(m["value"], raw), raw.strip())

    def __str__(self) -> str:
        return self.text


def _check_metric(metric: str, rule: str) -> None:
    if metric in METRICS or metric.startswith("f1."):
        return
    raise BadInput(
        f"Alert rule {rule!r} names an unknown metric {metric!r}."
        + did_you_mean(metric, METRICS, what="Metrics") + " (f1.CLASS works too.)"
    )


def _number(text: str, rule: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise BadInput(f"Alert rule {rule!r} compares with {text!r}, which is not a number.") from None


# ------------------------------------------------------------------------------ rules
def evaluate_rules(rows: Sequence[dict[str, Any]], rules: Sequence[AlertRule],
                   *, lookback: int = 7) -> list[Alert]:
    """Alerts fired by ``rules`` on window rows, oldest first."""
    fired = []
    for rule in rules:
        history: list[float] = []
        for row in rows:
            value = _metric(row, rule.metric)
            if value is None or math.isnan(value):
                continue
            if rule.op == "anomaly":
                recent = history[-lookback:]
                if len(recent) >= ANOMALY_MIN_HISTORY:
                    mean = sum(recent) / len(recent)
                    sd = math.sqrt(sum((x - mean) ** 2 for x in recent) / (len(recent) - 1))
                    if sd > 0 and abs(value - mean) > rule.value * sd:
                        fired.append(_alert(row, rule, value,
                                            f"{rule.metric}={value:.4g} is {abs(value - mean) / sd:.1f} sd "
                                            f"from its rolling mean {mean:.4g}"))
                history.append(value)
            elif _OPS[rule.op](value, rule.value):
                fired.append(_alert(row, rule, value, f"{rule.metric}={value:.4g} ({rule})"))
    return sorted(fired, key=lambda a: (a.window_start, a.rule))


def _metric(row: dict[str, Any], metric: str) -> float | None:
    value = row.get("f1", {}).get(metric[3:]) if metric.startswith("f1.") else row.get(metric)
    return None if value is None else float(value)


def _alert(row: dict[str, Any], rule: AlertRule, value: float, detail: str) -> Alert:
    start = row["window_start"]
    return Alert(start, str(rule), rule.metric, value, f"window {start:%Y-%m-%d %H:%M}: {detail}")


# ------------------------------------------------------------------------------ sinks
class _Undelivered(Exception):
    """A webhook answer worth retrying (connection error, timeout, 5xx); the reason is the text."""


def post_webhook(url: str, payload: dict[str, Any], *, timeout: float = 5.0, retries: int = 2,
                 backoff: float = 0.5) -> str | None:
    """POST ``payload`` as JSON; returns None on success or one sentence saying why it failed.

    Retries on connection errors, timeouts and 5xx answers; never raises.
    """
    import json

    import requests

    body = json.dumps(payload, default=str)
    tries = 0

    def post() -> str | None:  # None: accepted; a reason: refused for good; _Undelivered: try again
        nonlocal tries
        tries += 1
        try:
            resp = requests.post(url, data=body, timeout=timeout,
                                 headers={"Content-Type": "application/json",
                                          "User-Agent": "nbtoolkit-monitor"})
        except requests.Timeout as exc:
            raise _Undelivered(f"no answer within {timeout:g} s") from exc
        except requests.RequestException as exc:
            raise _Undelivered(type(exc).__name__) from exc
        if resp.status_code < 300:
            return None
        if resp.status_code >= 500:
            raise _Undelivered(f"HTTP {resp.status_code}")
        return f"HTTP {resp.status_code}"  # a client error will not fix itself

    try:
        problem = retry(post, on=_Undelivered, attempts=retries + 1, delay=backoff)
    except _Undelivered as exc:
        problem = str(exc)
    if problem is None:
        return None
    message = (f"Webhook {url!r} did not accept the alert ({problem}) after {tries} attempt(s); "
               "the alerts are in this report and the log.")
    logger.warning(message)
    return message
