"""The versions a server serves, and how alias moves reach it without a restart.

A :class:`Snapshot` is immutable: ``alias -> Served`` (the loaded model, its version, threshold and
signature). A request takes the current snapshot once and uses it to the end, so a request in
flight finishes on the model it started with. A poller thread re-resolves the aliases every
``poll_interval`` seconds; a moved alias is loaded next to the serving one (both stay in memory),
integrity-checked by :func:`nbtoolkit.registry.load` (sha256 of the stored files; and its
signature when one is required: ``NBT_TRUSTED_KEYS`` or ``--require-signature``), and only then
swapped in by replacing the snapshot reference. A version that fails a check or does not load is
refused: the old one keeps serving and :attr:`ModelSet.problems` (``/health``) says so. A refusal
is retried when the version's tags change (e.g. it was signed since).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ModelNotFound, NbtError

logger = logging.getLogger("nbtoolkit.serving")


@dataclass(frozen=True)
class Served:
    """One loaded version, as served under an alias."""

    alias: str
    version: str
    model: Any
    threshold: float | None
    signature: Any  # list[protocol.Column] | None
    loaded_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class Snapshot:
    """What the server serves right now (replaced whole, never changed)."""

    name: str
    champion: str
    challenger: str
    traffic: float
    versions: dict[str, Served]

    def route(self, ids: Sequence[str]) -> list[str]:
        """The alias serving each id: the challenger for a stable ``traffic`` share of ids."""
        if self.challenger not in self.versions or self.traffic <= 0:
            return [self.champion] * len(ids)
        from ..monitoring.deployment import route_share

        return [self.challenger if route_share(i, self.name) < self.traffic else self.champion for i in ids]

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {alias: {"version": s.version, "threshold": s.threshold}
                               for alias, s in self.versions.items()}
        if self.challenger in out:  # its share of ids (the rollout's current stage, or --traffic)
            out[self.challenger]["share"] = self.traffic
        return out


class ModelSet:
    """Loads ``NAME@champion`` (required) and ``NAME@challenger`` (when it exists) and keeps them current."""

    def __init__(self, name: str, *, champion: str = "champion", challenger: str = "challenger",
                 traffic: float = 0.1, threshold: float | None = None, poll_interval: float = 5.0,
                 metrics: Any = None, require_signature: bool = False,
                 rollout: tuple[float, ...] | None = None) -> None:
        self.name = name
        self.rollout = rollout  # staged rollout: the challenger's share comes from its version's stage tag
        self.champion = champion
        self.challenger = challenger
        self.traffic = traffic
        self.threshold = threshold
        self.poll_interval = poll_interval
        self.metrics = metrics
        self.require_signature = require_signature
        self.snapshot: Snapshot = Snapshot(name, champion, challenger, traffic, {})
        self.problems: dict[str, str] = {}  # alias -> why it is not what the registry says
        self.last_poll: float | None = None
        self.last_poll_error: str | None = None
        self.applied_at: float | None = None  # when the poll whose outcome is served began reading the registry
        self._refused: dict[tuple[str, str, str], str] = {}  # (alias, version, tags digest) -> reason
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ start-up
    def load(self) -> Snapshot:
        """First load; raises (ModelNotFound, IntegrityError, ...) when the champion cannot be served."""
        from ..registry import resolve

        versions: dict[str, Served] = {}
        mv = resolve(f"{self.name}@{self.champion}")
        versions[self.champion] = self._load(self.champion, mv)
        try:
            ch = resolve(f"{self.name}@{self.challenger}")
        except ModelNotFound:
            ch = None
        if ch is not None:
            try:
                versions[self.challenger] = (self._reuse(versions, ch, self.challenger)
                                             or self._load(self.challenger, ch))
            except NbtError as exc:
                self._refuse(self.challenger, str(ch.version), exc, state=_tags_state(ch))
        self._set(Snapshot(self.name, self.champion, self.challenger, self._share(ch), versions))
        self.last_poll = time.time()
        return self.snapshot

    def _share(self, challenger: Any) -> float:
        """The challenger's share: ``traffic``, or with a staged rollout the share of its current stage."""
        if self.rollout is None or challenger is None:
            return self.traffic
        from .rollout import stage_of

        return self.rollout[stage_of(challenger, self.rollout)[0]]

    def _load(self, alias: str, mv: Any) -> Served:
        from ..registry.loading import load_version
        from .protocol import signature_columns

        # the version resolved by the poll, loaded as is: sha256 (and signature, when required)
        # checked before deserialising; its MLmodel read once for the model and the request columns
        loaded = load_version(mv, require_signature=self.require_signature)
        return Served(alias, str(mv.version), loaded.model, self._threshold(mv), signature_columns(loaded.inputs))

    def _threshold(self, mv: Any) -> float | None:
        if self.threshold is not None:
            return self.threshold
        from ..monitoring.deployment import _parse_threshold
        from ..registry import TAG_THRESHOLD

        return _parse_threshold((mv.tags or {}).get(TAG_THRESHOLD))

    @staticmethod
    def _reuse(current: dict[str, Served], mv: Any, alias: str) -> Served | None:
        for s in current.values():
            if s.version == str(mv.version):
                return Served(alias, s.version, s.model, s.threshold, s.signature, s.loaded_at)
        return None

    def _set(self, snap: Snapshot) -> None:
        self.snapshot = snap
        if self.metrics is not None:
            self.metrics.serving(snap)

    def _refuse(self, alias: str, version: str, exc: BaseException, *, state: str = "") -> None:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        key = (alias, version, state)
        if key not in self._refused:
            self._refused[key] = reason
            if self.metrics is not None:
                self.metrics.swaps_refused.inc()
            logger.error("nbt serve: refused %s/%s for @%s: %s", self.name, version, alias, reason)
        serving = self.snapshot.versions.get(alias)
        keeps = f"still serving version {serving.version}" if serving else "not serving it"
        self.problems[alias] = f"@{alias} points at version {version}, which was refused ({reason}); {keeps}."

    # ------------------------------------------------------------------ live swaps
    def start(self) -> ModelSet:
        self._thread = threading.Thread(target=self._run, name="nbt-alias-poller", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                self.poll()
            except Exception as exc:  # never let the poller die: the server keeps serving
                self.last_poll_error = f"{type(exc).__name__}: {exc}"
                logger.exception("nbt serve: alias poll failed")

    def poll(self) -> list[str]:
        """Re-resolve the aliases once; swap in what moved. Returns what changed (for logs/tests)."""
        from ..registry import resolve

        began = time.time()
        current = self.snapshot.versions
        wanted: dict[str, Any] = {}
        try:
            for alias in (self.champion, self.challenger):
                try:
                    wanted[alias] = resolve(f"{self.name}@{alias}")
                except ModelNotFound:
                    wanted[alias] = None
        except NbtError as exc:  # store unreachable: keep serving what is loaded
            self.last_poll_error = " ".join(str(exc).split())
            return []
        self.last_poll, self.last_poll_error = time.time(), None
        new = dict(current)
        changes = []
        for alias, mv in wanted.items():
            if mv is None:
                if alias == self.champion:  # never left without a model: keep the last one loaded
                    if alias in current:
                        gone = (f"@{alias} no longer exists in the registry (removed); still serving version "
                                f"{current[alias].version}, the last one loaded, until the alias is set again.")
                        if self.problems.get(alias) != gone:
                            logger.error("nbt serve: %s: %s", self.name, gone)
                        self.problems[alias] = gone
                    continue
                # a removed challenger ends the A/B split: its share goes back to the champion
                if alias in new:
                    del new[alias]
                    changes.append(f"@{alias}: removed")
                self.problems.pop(alias, None)
                continue
            version = str(mv.version)
            have = current.get(alias)
            threshold = self._threshold(mv)
            if have is not None and have.version == version:
                if have.threshold != threshold:
                    new[alias] = Served(alias, version, have.model, threshold, have.signature, have.loaded_at)
                    changes.append(f"@{alias}: threshold {threshold}")
                self.problems.pop(alias, None)
                continue
            state = _tags_state(mv)
            if (alias, version, state) in self._refused:
                self._refuse(alias, version, Exception(self._refused[(alias, version, state)]), state=state)
                continue
            try:
                served = self._reuse(current, mv, alias) or self._load(alias, mv)
            except NbtError as exc:
                self._refuse(alias, version, exc, state=state)
                continue
            except Exception as exc:  # an unloadable artefact (bad pickle, missing flavor, ...)
                self._refuse(alias, version, exc, state=state)
                continue
            new[alias] = Served(alias, version, served.model, threshold, served.signature, served.loaded_at)
            self.problems.pop(alias, None)
            changes.append(f"@{alias}: {have.version if have else 'none'} -> {version}")
        share = self._share(wanted.get(self.challenger))
        if share != self.snapshot.traffic:
            changes.append(f"@{self.challenger}: share {self.snapshot.traffic:g} -> {share:g}")
        if changes:
            self._set(Snapshot(self.name, self.champion, self.challenger, share, new))
            if self.metrics is not None:
                self.metrics.swaps.inc(len(changes))
            # an alias moving is the registry doing its job, not a problem (refusals are errors)
            logger.info("nbt serve: %s: %s", self.name, "; ".join(changes))
        self.applied_at = began
        return changes


def _tags_state(mv: Any) -> str:
    """A digest of a version's tags: a refused version is tried again once they change (signed since)."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(sorted((mv.tags or {}).items())).encode()).hexdigest()[:16]
