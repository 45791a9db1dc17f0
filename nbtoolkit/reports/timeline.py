"""The support-ticket example's timeline, day by day: what each partition served and what followed.

One row per processed day (a partition of ``notebooks/daily.yaml``) joins what the day's notebook
recorded (tickets served and by which version, share routed to humans, the outcomes sent, the
challenger's share after the rollout decided) with the monitoring window of that day (drift share,
label-free estimated accuracy and its band, accuracy on the outcomes that came back) and the
pipeline events (a retraining trigger, a rollout move). :func:`timeline_figure` draws it;
:func:`timeline_table` is the same as a table. matplotlib is imported inside the functions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Day:
    """One processed day of traffic and what the monitoring saw of it."""

    date: str
    served: int
    by_version: dict[str, int]
    human_share: float
    outcomes: int
    champion: str
    challenger: str | None
    challenger_share: float
    move: str | None = None  # the rollout's last move after this day (start / advance / promote / rollback)
    drift_share: float = math.nan
    estimated: float = math.nan
    estimated_lower: float = math.nan
    estimated_upper: float = math.nan
    realised: float = math.nan
    events: list[str] = field(default_factory=list)


def build_days(outputs: Mapping[str, Mapping[str, Any]], windows: Sequence[Mapping[str, Any]],
               events: Mapping[str, list[str]] | None = None) -> list[Day]:
    """Days in date order from each partition's recorded ``outputs`` (date -> the day step's
    outputs), the monitoring ``windows`` of one day each, and ``events`` (date -> phrases)."""
    by_day = {str(w.get("window_start"))[:10]: w for w in windows}
    days = []
    last_move: Any = None
    for date in sorted(outputs):
        out = outputs[date]
        move = out.get("last_move") or None
        key = (move.get("action"), move.get("version"), move.get("stage")) if isinstance(move, Mapping) else None
        new_move = key is not None and key != last_move
        last_move = key if key is not None else last_move
        window = by_day.get(date, {})
        day = Day(date=date, served=int(out.get("served") or 0),
                  by_version={str(k): int(v) for k, v in (out.get("by_version") or {}).items()},
                  human_share=_float(out.get("human_share")),
                  outcomes=sum(int(v) for v in (out.get("outcomes") or {}).values()),
                  champion=str(out.get("champion") or ""), challenger=out.get("challenger"),
                  challenger_share=_float(out.get("challenger_share"), 0.0),
                  move=str(move["action"]) if new_move and isinstance(move, Mapping) else None,
                  drift_share=_float(window.get("drift_share")),
                  estimated=_float(window.get("estimated_accuracy")),
                  estimated_lower=_float(window.get("estimated_accuracy_lower")),
                  estimated_upper=_float(window.get("estimated_accuracy_upper")),
                  realised=_float(window.get("accuracy")),
                  events=list((events or {}).get(date, [])))
        if day.move and isinstance(move, Mapping):
            day.events.append(_MOVES.get(day.move, day.move) + (f" v{move['version']}" if "version" in move else ""))
        days.append(day)
    return days


_MOVES = {"start": "rollout starts", "advance": "rollout advances", "promote": "promoted to champion:",
          "rollback": "rolled back:"}


def timeline_figure(days: Sequence[Day], *, title: str = "") -> Any:
    """Three panels sharing the days: accuracy (realised, estimated with its band), drift and
    human share, the challenger's share of ids — with the day's events marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    x = np.arange(len(days))
    labels = [d.date[5:] for d in days]
    fig, (acc, mix, share) = plt.subplots(3, 1, figsize=(9, 7), sharex=True,
                                          gridspec_kw={"height_ratios": [3, 2, 1.4]})
    est = np.array([d.estimated for d in days])
    acc.fill_between(x, [d.estimated_lower for d in days], [d.estimated_upper for d in days], color="#1a73e8",
                     alpha=0.15, label="estimate ±3 se")
    acc.plot(x, est, "-", color="#1a73e8", label="estimated accuracy (no labels)")
    acc.plot(x, [d.realised for d in days], "o-", color="#202124", label="realised accuracy (outcomes)")
    acc.set_ylabel("accuracy")
    acc.legend(loc="lower left", fontsize=8)
    mix.bar(x, [d.drift_share for d in days], color="#f29900", alpha=0.6, label="drift share of columns")
    mix.plot(x, [d.human_share for d in days], "s-", color="#d93025", label="share routed to humans")
    mix.set_ylim(0, 1)
    mix.legend(loc="upper left", fontsize=8)
    share.step(x, [d.challenger_share for d in days], where="post", color="#188038")
    share.set_ylim(-0.05, 1.05)
    share.set_ylabel("challenger\nshare")
    share.set_xticks(x, labels, rotation=45, fontsize=8)
    for i, d in enumerate(days):
        for event in d.events:
            for ax in (acc, mix, share):
                ax.axvline(i, color="#5f6368", ls=":", lw=1)
            acc.annotate(event, (i, acc.get_ylim()[0]), xytext=(3, 3), textcoords="offset points", fontsize=7,
                         rotation=90, va="bottom", color="#5f6368")
    if title:
        acc.set_title(title)
    fig.tight_layout()
    return fig


def timeline_table(days: Sequence[Day]) -> Any:
    """The days as the report's shared table (markup)."""
    from .render import Row, safe, table

    rows = []
    for d in days:
        versions = ", ".join(f"v{v}: {n}" for v, n in sorted(d.by_version.items()))
        band = (f"{d.estimated:.3f} [{d.estimated_lower:.3f}, {d.estimated_upper:.3f}]"
                if not math.isnan(d.estimated_lower) else _fmt(d.estimated))
        share = f"v{d.challenger} at {d.challenger_share:g}" if d.challenger and d.challenger != d.champion else ""
        rows.append(Row([d.date, d.served, versions, _fmt(d.human_share), _fmt(d.drift_share), band,
                         _fmt(d.realised), d.outcomes, f"v{d.champion}", share, "; ".join(d.events)],
                        tone="bad" if d.drift_share > 0.3 else ""))
    return safe(table(["day", "served", "by version", "to humans", "drift share", "estimated accuracy",
                       "realised accuracy", "outcomes sent", "champion", "challenger", "events"], rows))


def _float(value: Any, default: float = math.nan) -> float:
    try:
        return float(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def _fmt(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.3f}"
