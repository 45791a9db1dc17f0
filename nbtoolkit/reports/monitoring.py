"""Result objects of monitoring: windowed quality with alerts, and the champion/challenger A/B test."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .base import Record, Result, html_table

if TYPE_CHECKING:
    import pandas as pd


# The A/B test's verdicts (ABTestReport.recommendation), compared through these names only.
PROMOTE, KEEP, ROLLBACK = "promote", "keep", "rollback"


@dataclass
class Alert(Record):
    """One alert: ``rule`` (on ``metric``) fired on the window starting at ``window_start``, where
    the metric was ``value``; ``message`` says so in one line. Not frozen: ``nbt serve`` rewrites
    the message of a live alert."""

    window_start: Any
    rule: str
    metric: str
    value: float
    message: str


def _clean(value: Any) -> Any:
    """JSON-safe: NaN → None, timestamps → ISO strings, dicts/lists/records recursively."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Record):
        return _clean(value.to_dict())
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


@dataclass(repr=False)
class MonitorReport(Result):
    """Windowed quality of a served model (``%nbt monitor``); ``.alerted`` when any rule fired."""

    name: str
    window: str
    windows: list[dict[str, Any]]
    alerts: list[Alert]
    rules: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sink_errors: list[str] = field(default_factory=list)
    webhook_delivered: bool | None = None
    log_url: str = ""
    triggered: list[dict[str, Any]] = field(default_factory=list)  # the pipeline started by on_alert=

    def __post_init__(self) -> None:
        self.alerts = [a if isinstance(a, Alert) else Alert(**a) for a in self.alerts]

    @property
    def alerted(self) -> bool:
        return bool(self.alerts)

    @property
    def passed(self) -> bool:
        return not self.alerts

    def to_dict(self) -> dict[str, Any]:
        return _clean({
            "name": self.name, "window": self.window, "windows": self.windows, "alerts": self.alerts,
            "rules": self.rules, "notes": self.notes, "sink_errors": self.sink_errors,
            "webhook_delivered": self.webhook_delivered, "log_url": self.log_url, "triggered": self.triggered,
        })

    def payload(self) -> dict[str, Any]:
        """What a webhook receives: the model, the fired alerts and the latest window."""
        latest = self.windows[-1] if self.windows else {}
        return _clean({
            "source": "nbtoolkit", "model": self.name, "window": self.window,
            "alerts": self.alerts, "latest_window": {k: v for k, v in latest.items() if k != "f1"},
            "summary": self.summary(),
        })

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        cols = ["window_start", "versions", "volume", "human_share", "mean_confidence", "labeled",
                "accuracy", "macro_f1", "estimated_accuracy", "estimated_accuracy_lower",
                "estimated_accuracy_upper", "drift_share", "drifted_columns", "contract", "missing_rate",
                "unseen_rate", "out_of_range_rate", "quality_columns"]
        frame = pd.DataFrame([{c: r.get(c) for c in cols} for r in self.windows], columns=cols)
        frame["alerts"] = [", ".join(a.rule for a in self.alerts if a.window_start == r["window_start"])
                           for r in self.windows]
        return frame

    def alerts_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([a.to_dict() for a in self.alerts],
                            columns=["window_start", "rule", "metric", "value", "message"])

    def summary(self) -> str:
        if not self.windows:
            return f"Monitoring {self.name}: no logged predictions"
        verdict = f"{len(self.alerts)} alert(s) fired — {self.fired()}" if self.alerts else "no alerts"
        return (f"Monitoring {self.name}: {len(self.windows)} window(s) of {self.window}, "
                f"{sum(r['volume'] for r in self.windows)} predictions, {verdict}")

    def fired(self) -> str:
        """The rules that fired with their number of windows: ``accuracy<0.9 in 12 windows, ...``."""
        counts: dict[str, int] = {}
        for a in self.alerts:
            counts[a.rule] = counts.get(a.rule, 0) + 1
        text = ", ".join(f"{rule} in {n} window{'s' if n > 1 else ''}" for rule, n in counts.items())
        fired = {str(a.window_start) for a in self.alerts if a.metric.startswith("drift")}
        drifted = [c for r in self.windows if str(r.get("window_start")) in fired
                   for c in str(r.get("drifted_columns") or "").split(",") if c]
        if drifted:  # the columns that drifted in the windows a drift rule fired on
            from .drift import names_shown

            text += f" (drifted: {names_shown(list(dict.fromkeys(drifted)))})"
        return text

    def __str__(self) -> str:
        lines = [self.summary()]
        if self.windows:
            lines.append(self.to_frame().drop(columns=["alerts"]).to_string(
                index=False, float_format=lambda v: f"{v:.3f}"))
        lines += [f"ALERT {a.message}" for a in self.alerts]
        lines += [f"note: {n}" for n in self.notes]
        lines += [f"sink: {e}" for e in self.sink_errors]
        if self.triggered:
            from .pipeline import trigger_lines

            lines += [line.strip() for line in trigger_lines(self.triggered)]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from .render import render, result

        alerts = render("alerts.html.j2", messages=[a.message for a in self.alerts]) if self.alerts else ""
        tables = ([("", html_table(self.to_frame(), tone=lambda r: "bad" if r["alerts"] else ""))]
                  if self.windows else [])
        return result(self.summary(), tables=[("", alerts)] * bool(alerts) + tables,
                      notes=self.notes + self.sink_errors)

    def plot(self, ax: Any = None) -> Any:
        """Accuracy, estimated accuracy, human share and drift share per window; alerts marked."""
        import matplotlib.pyplot as plt

        frame = self.to_frame()
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 3.2))
        x = frame["window_start"]
        band = frame[["estimated_accuracy_lower", "estimated_accuracy_upper"]].astype(float)
        if band.notna().all(axis=1).any():  # calibrated estimate: its ±3 se sampling band
            ax.fill_between(x, band.iloc[:, 0], band.iloc[:, 1], color="#ff7f0e", alpha=0.18,
                            label="estimate band (±3 se)")
        for col, style in (("accuracy", "o-"), ("estimated_accuracy", "s--"), ("human_share", "^-"),
                           ("drift_share", "d:")):
            if frame[col].notna().any():
                ax.plot(x, frame[col].astype(float), style, label=col, markersize=4)
        flagged = frame[frame["alerts"] != ""]
        for start in flagged["window_start"]:
            ax.axvline(start, color="#d62728", alpha=0.15, linewidth=6)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(self.summary(), fontsize=9)
        ax.legend(fontsize=7, loc="lower left")
        ax.figure.autofmt_xdate()
        return ax


@dataclass(repr=False)
class ABTestReport(Result):
    """Champion vs challenger on logged traffic with outcomes (``%nbt abtest``)."""

    name: str
    champion: dict[str, Any]
    challenger: dict[str, Any]
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    alpha: float
    recommendation: str  # PROMOTE | KEEP | ROLLBACK
    reason: str
    warnings: list[str] = field(default_factory=list)
    champion_alias: str = "champion"
    challenger_alias: str = "challenger"
    min_samples: int = 200
    #: monitoring.abtest.apply_recommendation, handed in by abtest(): the report describes; the
    #: alias move is the API's (a report importing the registry sat above its own layer)
    applier: Any = field(default=None, repr=False, compare=False)
    applied: Any = field(default=None, repr=False, compare=False)

    @property
    def significant(self) -> bool:
        return not math.isnan(self.p_value) and self.p_value < self.alpha

    @property
    def passed(self) -> bool:
        """True when the challenger should be promoted."""
        return self.recommendation == PROMOTE

    def to_dict(self) -> dict[str, Any]:
        return _clean({
            "name": self.name, "champion": self.champion, "challenger": self.challenger,
            "difference": self.difference, "ci": [self.ci_low, self.ci_high], "p_value": self.p_value,
            "alpha": self.alpha, "significant": self.significant, "recommendation": self.recommendation,
            "reason": self.reason, "warnings": self.warnings, "min_samples": self.min_samples,
        })

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        cols = ["arm", "version", "predictions", "labeled", "accuracy", "human_share", "mean_confidence"]
        return pd.DataFrame([{c: arm.get(c) for c in cols} for arm in (self.champion, self.challenger)],
                            columns=cols)

    def summary(self) -> str:
        return (f"A/B {self.name}: challenger v{self.challenger.get('version')} vs champion "
                f"v{self.champion.get('version')}: accuracy {self.difference:+.3f} "
                f"(95% CI {self.ci_low:+.3f} .. {self.ci_high:+.3f}, p={self.p_value:.3g}) "
                f"→ {self.recommendation.upper()}")

    def __str__(self) -> str:
        lines = [self.summary(), self.to_frame().to_string(index=False, float_format=lambda v: f"{v:.3f}"),
                 f"reason: {self.reason}"]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from .render import result

        tone = {PROMOTE: "good", ROLLBACK: "bad"}.get(self.recommendation, "neutral")
        return result(self.summary(), tone=tone, detail=self.reason, tables=[("", html_table(self.to_frame()))],
                      notes=[f"warning: {w}" for w in self.warnings])

    def apply(self) -> Any:
        """Act on the recommendation: promote the challenger to champion, or send the challenger
        alias back to the champion's version (roll back the canary); ``keep`` changes nothing."""
        from ..errors import BadInput

        if self.applier is None:
            raise BadInput("This report was not made by nbtoolkit.abtest; run nbt.abtest(NAME, apply=True).")
        self.applied = self.applier(self)
        return self.applied
