"""Serving a registered model: champion/challenger routing, human hand-off, logging.

A :class:`Deployment` resolves ``NAME@champion`` (and ``NAME@challenger`` when there is canary
traffic), routes each item by a stable hash of its id (the same ticket always meets the same
model, whatever the batch), applies each version's saved confidence threshold (``%nbt threshold
--save``) so that low-confidence items come back as ``needs_human``, and logs every prediction
with the version that served it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import BadInput, Cmd, ModelNotFound, say
from ..refs import check_alias, check_name
from ..validation import fraction
from ..vocabulary import renamed
from .log import PredictionLog

if TYPE_CHECKING:
    import pandas as pd

_SCALE = float(2**64)


def route_share(key: str, salt: str = "") -> float:
    """A stable number in [0, 1) for ``key`` (sha256-based; the same on every machine and run)."""
    digest = hashlib.sha256(f"{salt}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


class Deployment:
    """Champion/challenger serving of registered model ``name`` with a prediction log.

    Parameters
    ----------
    name : registered model name
    predictions_url : a :class:`PredictionLog`, a SQLAlchemy URL, ``None`` (the default log) or
        ``False`` (do not log); old name ``log``
    champion, challenger : aliases of the two versions (old names ``champion_alias``,
        ``challenger_alias``)
    traffic : share of ids in [0, 1] routed to the challenger (the canary); with ``0`` no
        challenger is needed
    threshold : confidence below which an item goes to a human; default: each version's saved
        threshold (tag ``nbt.threshold``), or no hand-off when none was saved

    Examples
    --------
    >>> dep = Deployment("tickets", traffic=0.2)                  # doctest: +SKIP
    >>> out = dep.predict(live[FEATURES], ids=live.ticket_id)    # doctest: +SKIP
    >>> out[out.needs_human]                                      # doctest: +SKIP
    """

    @renamed(log="predictions_url", champion_alias="champion", challenger_alias="challenger")
    def __init__(
        self,
        name: str,
        *,
        predictions_url: PredictionLog | str | bool | None = None,
        champion: str = "champion",
        challenger: str = "challenger",
        traffic: float = 0.1,
        threshold: float | None = None,
    ) -> None:
        # the one vocabulary (docs/cli.md); log=, champion_alias=, challenger_alias= are the old names
        log, champion_alias, challenger_alias = predictions_url, champion, challenger
        check_name(name)
        check_alias(champion_alias)
        check_alias(challenger_alias)
        traffic = fraction(traffic, "traffic", hint=" (the challenger's share, e.g. 0.1 for 10 %)")
        if threshold is not None:
            threshold = fraction(threshold, "threshold", hint=" (a confidence, e.g. 0.7)")
        self.name = name
        self.champion_alias = champion_alias
        self.challenger_alias = challenger_alias
        self.traffic = traffic
        self.threshold = threshold
        if log is False:
            self.log: PredictionLog | None = None
        elif isinstance(log, PredictionLog):
            self.log = log
        else:  # True or None: the configured log
            self.log = PredictionLog(log if isinstance(log, str) else None)
        self._versions: dict[str, Any] = {}
        self._models: dict[str, Any] = {}
        self.refresh()

    # ------------------------------------------------------------------ versions
    def refresh(self) -> Deployment:
        """Re-resolve the aliases (after a promote or rollback) and load any new version."""
        from ..registry import load, resolve

        wanted = {self.champion_alias: True, self.challenger_alias: self.traffic > 0}
        versions: dict[str, Any] = {}
        for alias, required in wanted.items():
            try:
                versions[alias] = resolve(f"{self.name}@{alias}")
            except ModelNotFound as exc:
                if not required:
                    continue
                raise ModelNotFound(say(f"Deployment of {self.name!r}: ", *exc.parts, " Promote a version to it (",
                                        Cmd("promote"), f" {self.name} VERSION --alias {alias})",
                                        " or pass traffic=0." if alias == self.challenger_alias else ".")) from None
        for mv in versions.values():
            key = str(mv.version)
            if key not in self._models:
                self._models[key] = load(f"{self.name}/{key}")
        self._versions = versions
        return self

    def version_of(self, alias: str) -> str | None:
        """The version number currently serving ``alias`` (None when absent)."""
        mv = self._versions.get(alias)
        return None if mv is None else str(mv.version)

    def _serving(self, alias: str) -> str:
        """The version serving ``alias``, one that :meth:`route` sends ids to (so it resolved)."""
        version = self.version_of(alias)
        assert version is not None, alias
        return version

    @property
    def champion(self) -> str:
        return f"{self.name}/{self.version_of(self.champion_alias)}"

    @property
    def challenger(self) -> str | None:
        v = self.version_of(self.challenger_alias)
        return None if v is None else f"{self.name}/{v}"

    def threshold_of(self, alias: str) -> float | None:
        """The confidence threshold applied to ``alias``: the override, else the saved tag."""
        if self.threshold is not None:
            return self.threshold
        from ..registry import TAG_THRESHOLD

        raw = ((self._versions[alias].tags or {}).get(TAG_THRESHOLD)) if alias in self._versions else None
        return _parse_threshold(raw)

    # ------------------------------------------------------------------ serving
    def route(self, ids: Sequence[Any]) -> list[str]:
        """The alias serving each id: the challenger for a stable ``traffic`` share of ids."""
        has_challenger = self.challenger_alias in self._versions and self.traffic > 0
        out = []
        for i in ids:
            canary = has_challenger and route_share(str(i), self.name) < self.traffic
            out.append(self.challenger_alias if canary else self.champion_alias)
        return out

    def predict(self, frame: Any, ids: Sequence[Any] | None = None, *,
                timestamps: Sequence[Any] | None = None) -> pd.DataFrame:
        """Predict, route low confidence to humans and log; returns one row per input row.

        Columns: ``id, prediction, confidence, needs_human, alias, model_version``.
        ``ids`` default to new UUIDs (then routing is random, not reproducible).
        """
        import uuid

        import numpy as np
        import pandas as pd

        from ..contract import as_frame

        frame = as_frame(frame, what="frame")
        if ids is None:
            ids = [uuid.uuid4().hex for _ in range(len(frame))]
        if isinstance(ids, (str, bytes)) or not hasattr(ids, "__len__"):
            raise BadInput(f"ids must be a list or Series of ids, one per row, got {type(ids).__name__}.")
        ids = [str(i) for i in (ids.tolist() if hasattr(ids, "tolist") else list(ids))]
        if len(ids) != len(frame):
            raise BadInput(f"ids has {len(ids)} values for {len(frame)} rows; give one id per row.")
        arms = np.array(self.route(ids), dtype=object)
        for alias in dict.fromkeys(arms):  # every served version can read the frame: before any work
            _check_columns(self._models[self._serving(alias)], frame, f"{self.name}/{self._serving(alias)}")
        probabilities: list[Any] = [None] * len(frame)
        out = pd.DataFrame({"id": ids, "prediction": None, "confidence": np.nan, "needs_human": False,
                            "alias": arms, "model_version": None}, index=frame.index)
        for alias in dict.fromkeys(arms):
            mask = arms == alias
            version = self._serving(alias)
            model = self._models[version]
            part = frame.loc[mask]
            try:
                pred, conf, probs = predict_with_probabilities(model, part)
            except (ValueError, TypeError) as exc:  # the estimator refused the values (nothing logged)
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise BadInput(f"{self.name}/{version} cannot predict on this frame: {first} Pass the "
                               "columns and dtypes it was trained on.") from None
            for pos, p in zip(np.flatnonzero(mask), probs):
                probabilities[pos] = p
            threshold = self.threshold_of(alias)
            out.loc[mask, "prediction"] = pred
            out.loc[mask, "confidence"] = conf
            out.loc[mask, "model_version"] = version
            if threshold is not None:
                out.loc[mask, "needs_human"] = np.asarray(conf, dtype=float) < threshold
        out["needs_human"] = out["needs_human"].astype(bool)
        if self.log is not None:
            for alias in dict.fromkeys(arms):
                mask = arms == alias
                sub = out.loc[mask]
                self.log.log(
                    f"{self.name}/{self.version_of(alias)}", frame.loc[mask], list(sub["prediction"]),
                    confidence=[None if c != c else float(c) for c in sub["confidence"]],
                    ids=list(sub["id"]), routed_to_human=list(sub["needs_human"]),
                    timestamps=None if timestamps is None else [t for t, m in zip(timestamps, mask) if m],
                    alias=alias, probabilities=[p for p, m in zip(probabilities, mask) if m],
                )
        return out

    def __repr__(self) -> str:
        ch = f", challenger={self.challenger!r} ({self.traffic:.0%})" if self.challenger and self.traffic else ""
        return f"Deployment(champion={self.champion!r}{ch})"


def _check_columns(model: Any, frame: pd.DataFrame, ref: str) -> None:
    """The frame holds the columns the model was fitted on (sklearn's ``feature_names_in_``)."""
    expected = getattr(model, "feature_names_in_", None)
    if expected is None:
        return
    expected = [str(c) for c in expected]
    given = [str(c) for c in frame.columns]
    missing = [c for c in expected if c not in given]
    if missing:
        extra = [c for c in given if c not in expected]
        raise BadInput(f"{ref} needs column(s) {missing[:10]!r}" + (" ..." if len(missing) > 10 else "")
                       + " that the frame lacks" + (f" (it has {extra[:10]!r} instead)" if extra else "")
                       + "; pass the columns the model was trained on.")


def _predict(model: Any, frame: pd.DataFrame) -> tuple[list[Any], list[float]]:
    pred, conf, _ = predict_with_probabilities(model, frame)
    return pred, conf


def predict_with_probabilities(model: Any,
                               frame: pd.DataFrame) -> tuple[list[Any], list[float], list[dict[str, float] | None]]:
    """Predictions, top-class confidences and every class's probability (for estimation)."""
    import numpy as np

    if hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(frame), dtype="float64")
        classes = np.asarray(model.classes_)
        names = [str(c) for c in classes.tolist()]
        return (classes[proba.argmax(axis=1)].tolist(), proba.max(axis=1).tolist(),
                [dict(zip(names, row)) for row in proba.tolist()])
    return list(model.predict(frame)), [float("nan")] * len(frame), [None] * len(frame)


def _parse_threshold(raw: Any) -> float | None:
    """A saved threshold tag: a number, or JSON with a ``threshold`` field."""
    if raw in (None, ""):
        return None
    try:
        return float(raw)
    except (TypeError, ValueError):
        pass
    try:
        data = json.loads(raw)
        return float(data["threshold"]) if isinstance(data, dict) else float(data)
    except (ValueError, KeyError, TypeError):
        return None
