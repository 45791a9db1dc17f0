"""A staged rollout decided by outcomes: ``nbt serve NAME --rollout 0.05,0.25,0.5,1.0``.

The challenger's share of ids starts at the first stage. When outcomes arrive (``/outcomes``), and
every monitoring interval, the worker that runs the live monitor compares champion and challenger
on their labelled outcomes (the statistics of
:func:`nbtoolkit.abtest`, over the traffic since the current stage began) and moves:

- **forward** one stage when both arms have at least ``min_samples`` outcomes and the challenger is
  not worse: the lower end of the (1 − alpha) interval of its accuracy difference lies above
  −``margin``;
- **promote** at the last stage, on the same evidence: the challenger's version becomes the champion
  (:func:`nbtoolkit.promote`, with its alias history) and the rollout ends;
- **back** (roll back) when the challenger is significantly worse, or while a live alert holds: the
  challenger alias goes back to the champion's version, as ``abtest``'s rollback does.

The stage lives in the registry — a tag on the challenger's version (``nbt.rollout.stage``) — so
every worker's alias poller reads the same share, and a restarted server resumes where it was. A
stage is dated on the traffic's clock (the newest event time in the log when it began), so traffic
sent with its own past timestamps — a replay, a backfill — is judged by the stage it arrived in.
Each move is appended to the model's rollout history (the tag ``nbt.rollout.history.<alias>``, a
JSON list beside the alias history) and counted in ``/metrics`` (``nbt_rollout_share``,
``nbt_rollout_moves_total``).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import BadInput, NbtError

if TYPE_CHECKING:
    from .settings import ServeSettings

logger = logging.getLogger("nbtoolkit.serving")

STAGE_TAG = "nbt.rollout.stage"  # on the challenger's version: "INDEX@STARTED_MS"
HISTORY_TAG = "nbt.rollout.history."  # + alias, on the registered model
HISTORY_KEEP = 100


def stage_of(mv: Any, stages: Sequence[float]) -> tuple[int, float | None, float | None]:
    """(stage index, when the stage began, when the rollout began; epoch seconds or None) from the
    challenger version's tag ``INDEX@STAGE_MS@ROLLOUT_MS``."""
    raw = str((getattr(mv, "tags", None) or {}).get(STAGE_TAG) or "")
    index, *stamps = raw.split("@")
    try:
        i = int(index)
    except ValueError:
        return 0, None, None
    when: list[float | None] = []
    for stamp in [*stamps, "", ""][:2]:
        try:
            when.append(int(stamp) / 1000)
        except ValueError:
            when.append(None)
    return min(max(i, 0), len(stages) - 1), when[0], when[1] if when[1] is not None else when[0]


@dataclass(frozen=True)
class Move:
    """One decision: ``advance`` / ``promote`` / ``rollback`` of ``version``, with the reason."""

    action: str
    version: str
    stage: int
    share: float
    reason: str
    at: float = field(default_factory=time.time)  # when it was decided

    def as_dict(self) -> dict[str, Any]:
        return {"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at)), "action": self.action,
                "version": self.version, "stage": self.stage, "share": self.share, "reason": self.reason}


class Rollout:
    """Moves the challenger of ``name`` through ``stages`` on its outcomes (one instance per server)."""

    def __init__(self, name: str, stages: Sequence[float], *, champion: str = "champion",
                 challenger: str = "challenger", alpha: float = 0.05, margin: float = 0.01, min_samples: int = 200,
                 predictions_url: Any = None, metrics: Any = None) -> None:
        self.name = name
        self.stages = tuple(stages)
        self.champion = champion
        self.challenger = challenger
        self.alpha = alpha
        self.margin = margin
        self.min_samples = min_samples
        self.plog = predictions_url  # a PredictionLog or a URL (None: the configured log)
        self.metrics = metrics
        self.last: Move | None = None
        self.last_error: str | None = None
        self.evaluations = 0  # decisions taken (a client waits for one after the outcomes it sent)

    def evaluate(self, active_alerts: Mapping[str, Any] | None = None) -> Move | None:
        """One decision on the current evidence; acts on it in the registry. Never raises NbtError."""
        try:
            move = self._decide(active_alerts or {})
            self.last_error = None
        except NbtError as exc:  # the store or the log unreachable: decide next time
            self.last_error = " ".join(str(exc).split())
            return None
        finally:
            self.evaluations += 1
        if move is not None:
            self.last = move
            logger.info("nbt serve: %s rollout: %s v%s (stage %d, share %.3g): %s", self.name, move.action,
                        move.version, move.stage, move.share, move.reason)
            if self.metrics is not None:
                self.metrics.rollout_moves.labels(move.action).inc()
        return move

    def describe(self) -> dict[str, Any]:
        """What ``/health`` shows of the rollout: its stages, how many decisions, the last move."""
        return {"stages": list(self.stages), "evaluations": self.evaluations,
                "last_move": self.last.as_dict() if self.last is not None else None, "last_error": self.last_error}

    def _decide(self, active_alerts: Mapping[str, Any]) -> Move | None:
        from ..errors import ModelNotFound
        from ..registry import resolve

        try:
            champ = resolve(f"{self.name}@{self.champion}")
            chall = resolve(f"{self.name}@{self.challenger}")
        except ModelNotFound:
            return None
        if str(champ.version) == str(chall.version):
            return None  # nothing to roll out
        version = str(chall.version)
        stage, began, rollout_began = stage_of(chall, self.stages)
        if (chall.tags or {}).get(STAGE_TAG) is None:  # a new challenger: its first stage begins now
            self._set_stage(version, 0, "start", f"rollout begins at {self.stages[0]:g}")
            return Move("start", version, 0, self.stages[0], f"rollout of v{version} begins at {self.stages[0]:g}")
        if self.metrics is not None:
            self.metrics.rollout_share.set(self.stages[stage])
        if active_alerts:
            rules = ", ".join(sorted(active_alerts))
            return self._rollback(champ, version, stage, f"live alert(s) holding: {rules}")
        # The evidence: the traffic since this stage began — the challenger needs min_samples outcomes
        # at its current share. The champion's side reaches back to the rollout's start when this stage
        # leaves it too few (at a share of 1.0 it serves nothing).
        report = self._compare(began)
        if report is None:
            return None  # no traffic logged yet
        if report.recommendation == "rollback":
            return self._rollback(champ, version, stage, report.reason)
        if report.challenger["labeled"] < self.min_samples:
            return None  # not enough outcomes at this stage yet
        if report.champion["labeled"] < self.min_samples and rollout_began != began:
            report = self._compare(rollout_began)
            if report is None or report.recommendation == "rollback":
                return self._rollback(champ, version, stage, report.reason) if report is not None else None
        arms = (report.champion, report.challenger)
        if min(arm["labeled"] for arm in arms) < self.min_samples or math.isnan(report.ci_low):
            return None
        if report.ci_low <= -self.margin:
            return None  # not shown to be no worse yet
        why = (f"challenger not worse: accuracy difference {report.difference:+.3f}, {1 - self.alpha:.0%} interval "
               f"from {report.ci_low:+.3f} (above -{self.margin:g}) on {arms[1]['labeled']} outcomes")
        if stage + 1 < len(self.stages):
            self._set_stage(version, stage + 1, "advance", why, rollout_began)
            return Move("advance", version, stage + 1, self.stages[stage + 1], why)
        from ..registry import promote

        promote(self.name, version, alias=self.champion)
        self._record(Move("promote", version, stage, self.stages[stage], why))
        return Move("promote", version, stage, self.stages[stage], why)

    def _compare(self, since: float | None) -> Any:
        """``abtest`` of champion and challenger over the traffic since ``since`` (None: all of it)."""
        from ..monitoring.abtest import abtest

        start = None
        if since is not None:
            import pandas as pd

            start = pd.Timestamp(since, unit="s", tz="UTC")
        try:
            return abtest(self.name, champion=self.champion, challenger=self.challenger, predictions_url=self.plog,
                          min_samples=self.min_samples, alpha=self.alpha, start=start, n_boot=500)
        except BadInput:
            return None

    def _clock(self) -> float:
        """Now on the traffic's clock (epoch seconds): the newest event time logged for the model, or the
        wall clock before any. Stages are dated by it, so replayed traffic with past event times (a
        backfill, the example's days) counts from the stage it arrived in."""
        import datetime as dt

        from ..monitoring.log import PredictionLog

        plog = self.plog if isinstance(self.plog, PredictionLog) else PredictionLog(self.plog)
        latest = plog.latest(self.name)
        return latest.replace(tzinfo=dt.UTC).timestamp() if latest is not None else time.time()

    def _rollback(self, champ: Any, version: str, stage: int, why: str) -> Move:
        from ..registry import promote

        promote(self.name, str(champ.version), alias=self.challenger)
        move = Move("rollback", version, stage, 0.0, why)
        self._record(move)
        return move

    def _set_stage(self, version: str, stage: int, action: str, why: str, rollout_began: float | None = None) -> None:
        from .. import store

        now = int(self._clock() * 1000) + 1  # traffic after the newest row already logged
        began = int(rollout_began * 1000) if rollout_began is not None else now
        with store.translate_errors():
            store.client().set_model_version_tag(self.name, version, STAGE_TAG, f"{stage}@{now}@{began}")
        self._record(Move(action, version, stage, self.stages[stage], why))

    def _record(self, move: Move) -> None:
        from .. import store

        client = store.client()
        key = HISTORY_TAG + self.challenger
        with store.translate_errors():
            rm = client.get_registered_model(self.name)
            try:
                history = json.loads((rm.tags or {}).get(key) or "[]")
            except ValueError:
                history = []
            history.append(move.as_dict())
            client.set_registered_model_tag(self.name, key, json.dumps(history[-HISTORY_KEEP:]))


def rollout_of(settings: ServeSettings, plog: Any, metrics: Any) -> Rollout | None:
    """The controller ``nbt serve --rollout`` runs (in the live monitor's worker), or None without it."""
    if not settings.rollout:
        return None
    return Rollout(settings.name, settings.rollout, champion=settings.champion, challenger=settings.challenger,
                   alpha=settings.rollout_alpha, margin=settings.rollout_margin,
                   min_samples=settings.rollout_min_samples, predictions_url=plog, metrics=metrics)


def history(name: str, alias: str = "challenger") -> list[dict[str, Any]]:
    """The recorded rollout moves of ``name``'s ``alias``, oldest first."""
    from .. import store

    with store.translate_errors():
        rm = store.client().get_registered_model(name)
    try:
        return list(json.loads((rm.tags or {}).get(HISTORY_TAG + alias) or "[]"))
    except ValueError:
        return []
