"""The reading side of :class:`~nbtoolkit.monitoring.log.PredictionLog`: frames, feedback, counts.

On the log's connection (:class:`~.log_connection.LogConnection`); nothing here writes (log.py does).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from ..errors import StoreUnavailable
from .log_connection import LogConnection
from .log_rows import _to_utc


class LogReads(LogConnection):
    """Reads of a prediction log (the base of :class:`~nbtoolkit.monitoring.log.PredictionLog`)."""

    def frame(
        self,
        model: str | None = None,
        *,
        version: str | int | None = None,
        start: Any = None,
        end: Any = None,
        alias: str | None = None,
        inputs: bool = False,
        probabilities: bool = False,
    ) -> Any:
        """Logged predictions as a DataFrame, oldest first, optionally for one model / version / window.

        Columns: ``id, model_name, model_version, alias, ts, prediction, confidence,
        routed_to_human, outcome, outcome_source, outcome_ts, contract`` (the JSON list of what a
        row served by ``nbt serve`` broke of its version's data contract, or None) (+ ``inputs`` as dicts and
        ``probabilities`` as ``{class: probability}`` dicts, or None, when asked).
        ``start`` is inclusive, ``end`` exclusive.
        """
        import pandas as pd
        import sqlalchemy as sa
        from sqlalchemy import exc

        engine, table = self._connect()
        cols = [c for c in table.c if (inputs or c.name != "inputs") and (probabilities or c.name != "probabilities")]
        query = sa.select(*cols).order_by(table.c.ts, table.c.id)
        if model is not None:
            query = query.where(table.c.model_name == str(model))
        if version is not None:
            query = query.where(table.c.model_version == str(version))
        if alias is not None:
            query = query.where(table.c.alias == str(alias))
        if start is not None:
            query = query.where(table.c.ts >= _to_utc(start, "start"))
        if end is not None:
            query = query.where(table.c.ts < _to_utc(end, "end"))
        try:
            with engine.connect() as conn:
                result = conn.execute(query)
                frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        except exc.OperationalError as err:
            raise StoreUnavailable(
                f"Cannot read the prediction log at {self.safe_url!r} "
                f"({str(err.orig).splitlines()[0] if err.orig else err}).") from None
        for col in ("ts", "outcome_ts"):
            frame[col] = pd.to_datetime(frame[col])
        frame["confidence"] = pd.to_numeric(frame["confidence"])
        frame["routed_to_human"] = frame["routed_to_human"].astype(bool)
        if inputs:
            # a NULL reads back as None or NaN (pandas 3 strings): only text is JSON
            frame["inputs"] = [json.loads(x) if isinstance(x, str) and x else {} for x in frame["inputs"]]
        if probabilities:
            frame["probabilities"] = [json.loads(x) if isinstance(x, str) and x else None
                                      for x in frame["probabilities"]]
        return frame

    def feedback_frame(
        self,
        model: str | None = None,
        *,
        source: str | None = None,
        version: str | int | None = None,
        start: Any = None,
        end: Any = None,
        label: str = "label",
    ) -> Any:
        """Logged inputs joined with their recorded outcomes, ready for retraining.

        One row per prediction that has an outcome: the input columns, then ``label`` (the
        recorded outcome), ``prediction``, ``confidence``, ``routed_to_human``, ``outcome_source``,
        ``model_version``, ``ts`` and the ``id``. ``source`` keeps only outcomes of that source.
        """
        import pandas as pd

        logged = self.frame(model, version=version, start=start, end=end, inputs=True)
        logged = logged[logged["outcome"].notna()]
        if source is not None:
            logged = logged[logged["outcome_source"] == source]
        inputs = pd.DataFrame.from_records(list(logged["inputs"]), index=logged.index)
        meta = logged[["outcome", "prediction", "confidence", "routed_to_human", "outcome_source",
                       "model_version", "ts", "id"]].rename(columns={"outcome": label, "id": "prediction_id"})
        clash = [c for c in meta.columns if c in inputs.columns]
        return pd.concat([inputs, meta.drop(columns=clash)], axis=1).reset_index(drop=True)

    def models(self) -> list[str]:
        """Names of the models that have logged predictions."""
        import sqlalchemy as sa

        engine, table = self._connect()
        with engine.connect() as conn:
            return sorted(conn.execute(sa.select(table.c.model_name).distinct()).scalars())

    def count(self, model: str | None = None) -> int:
        """Number of logged predictions (of ``model`` when given)."""
        import sqlalchemy as sa

        engine, table = self._connect()
        query = sa.select(sa.func.count()).select_from(table)
        if model is not None:
            query = query.where(table.c.model_name == str(model))
        with engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def span(self, model: str) -> tuple[dt.datetime, dt.datetime] | None:
        """The event times of ``model``'s oldest and newest logged predictions (naive UTC), or None."""
        import sqlalchemy as sa

        engine, table = self._connect()
        query = sa.select(sa.func.min(table.c.ts), sa.func.max(table.c.ts)).where(table.c.model_name == str(model))
        with engine.connect() as conn:
            low, high = conn.execute(query).one()
        if low is None or high is None:
            return None
        return _when(low), _when(high)

    def latest(self, model: str) -> dt.datetime | None:
        """The event time of ``model``'s newest logged prediction (naive UTC), or None when it has none.

        The traffic's own clock: a staged rollout dates its stages by it, so traffic replayed with
        past event times (a backfill, the example's days) is judged as it arrives.
        """
        found = self.span(model)
        return found[1] if found is not None else None


def _when(value: Any) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else _to_utc(value, "ts")
