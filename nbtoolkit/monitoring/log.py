"""The prediction log: every served prediction, its confidence, routing and (later) its outcome.

One table (``nbt_predictions``) reached through SQLAlchemy Core, so any SQLAlchemy URL works: the
default ``sqlite:///<home>/predictions.db`` or ``postgresql+psycopg2://...``. Each call is one
transaction: a batch that fails validation or hits a duplicate id writes nothing. On SQLite the
log runs in WAL mode with a busy timeout and takes the write lock up front (``BEGIN IMMEDIATE``),
so concurrent writer processes queue instead of failing and lose nothing.

Ids are unique per model (the primary key is ``(model_name, id)``): two models may log the same
ticket id. A table created before that (primary key ``id`` alone) keeps working — ids then stay
unique across the log — until :meth:`PredictionLog.migrate` rebuilds it with the per-model key;
columns added since (``probabilities``) are added to an old table on first use.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import config
from ..errors import BadInput
from .log_rows import (Labels, _check_unique, _column, _confidences, _input_rows, _model_of, _probabilities,
                       _timestamps, version_labels)
from .log_connection import TABLE
from .log_reads import LogReads

if TYPE_CHECKING:
    from sqlalchemy import Connection, Table

_CHUNK = 500  # ids per IN (...) query


class PredictionLog(LogReads):
    """A prediction log on a SQLAlchemy database.

    Parameters
    ----------
    url : SQLAlchemy URL; default :func:`nbtoolkit.config.predictions_url`
        (``NBT_PREDICTIONS_URL`` or ``sqlite:///<home>/predictions.db``)
    table : table name

    Examples
    --------
    >>> plog = PredictionLog()                                   # doctest: +SKIP
    >>> ids = plog.log("tickets/3", X, preds, confidence=conf, ids=X.ticket_id)  # doctest: +SKIP
    >>> plog.record_outcomes(ids[:10], labels[:10], source="human")            # doctest: +SKIP
    >>> plog.feedback_frame("tickets")                          # doctest: +SKIP
    """

    def __init__(self, url: str | None = None, *, table: str = TABLE) -> None:
        super().__init__(url, table=table)
        self._registered: set[tuple[str, str]] = set()  # versions found in the registry (log)
        self._labels: dict[tuple[str, str], Labels] = {}  # what each version's outcomes may be

    # ------------------------------------------------------------------ writes
    def log(
        self,
        model_ref: Any,
        inputs: Any,
        predictions: Sequence[Any],
        confidence: Sequence[float | None] | None = None,
        ids: Sequence[Any] | None = None,
        routed_to_human: Sequence[bool] | None = None,
        *,
        timestamps: Sequence[Any] | None = None,
        alias: str | None = None,
        probabilities: Any = None,
        registered: bool = True,
    ) -> list[str]:
        """Log a batch of predictions in one transaction; returns their ids.

        Parameters
        ----------
        model_ref : ``NAME/VERSION`` (or ``NAME@alias`` / ``NAME``, resolved in the registry now),
            or a registered version object
        inputs : DataFrame (one row per prediction) or a sequence of dicts; stored as JSON
        predictions : predicted labels (stored as text)
        confidence : confidence of each prediction in [0, 1] (e.g. the max class probability);
            None (or NaN) when unknown
        ids : ids unique per model (e.g. ticket ids); default: new UUIDs. An id this model already
            logged, or one repeated in the batch, rejects the whole batch.
        routed_to_human : whether each item went to a human (default: none did)
        timestamps : when each prediction was made (default: now, UTC); between 2000-01-01 and a day
            from now (an event time outside that is a clock or a typo, and would make every time
            window of the log span centuries)
        alias : the alias that served the batch (``champion`` / ``challenger``), for A/B analysis
        probabilities : the probability of every class per row — a DataFrame whose columns are the
            classes (e.g. ``pd.DataFrame(model.predict_proba(X), columns=model.classes_)``) or a
            list of ``{class: probability}`` dicts; stored as JSON so that label-free performance
            estimation (:func:`nbtoolkit.estimate`, ``monitor``) has what it needs, also for binary
            models where one "confidence" cannot say which class it is about
        registered : the version must exist in the model registry (checked once per version and
            log object; its outcomes are then checked against its classes). ``False`` logs the
            predictions of a model kept elsewhere (monitor it with ``reference=``); their outcomes
            are only checked to be finite scalars.
        """
        if not isinstance(registered, bool):
            raise BadInput(f"registered must be True or False, got {registered!r:.60}.")
        name, version = _model_of(model_ref)
        if registered and isinstance(model_ref, str):
            self._require_registered(name, version)
        rows_in = _input_rows(inputs)
        n = len(rows_in)
        preds = _column(predictions, n, "predictions")
        conf = _confidences(confidence, n)
        human = ([bool(h) for h in _column(routed_to_human, n, "routed_to_human")] if routed_to_human is not None
                 else [False] * n)
        id_list = [uuid.uuid4().hex for _ in range(n)] if ids is None else [str(i) for i in _column(ids, n, "ids")]
        _check_unique(id_list)
        stamps = _timestamps(timestamps, n)
        probs = _probabilities(probabilities, n)
        rows = [
            {"id": i, "model_name": name, "model_version": version, "alias": alias, "ts": t,
             "inputs": x, "prediction": None if p is None else str(p), "confidence": c,
             "routed_to_human": h, "probabilities": q}
            for i, x, p, c, h, t, q in zip(id_list, rows_in, preds, conf, human, stamps, probs)
        ]
        if not rows:
            return []
        from sqlalchemy import exc

        _, table = self._connect()
        try:
            with self._writer().begin() as conn:
                existing = self._existing(conn, table, id_list, model=name)
                if existing:
                    raise BadInput(
                        f"{len(existing)} id(s) are already in the prediction log, e.g. "
                        f"{sorted(existing)[0]!r} (logged by {name!r}); ids must be unique per model, "
                        "nothing was written."
                    )
                conn.execute(table.insert(), rows)
        except exc.IntegrityError:  # a concurrent writer inserted one of these ids first
            hint = ("" if self._per_model else " This log was created when ids had to be unique "
                    "across all models: run PredictionLog(url).migrate() once to make them per model.")
            raise BadInput(
                "Some ids are already in the prediction log (logged concurrently, or for another "
                f"model); nothing was written.{hint}"
            ) from None
        except exc.OperationalError as err:
            raise self._unavailable(err) from None
        return id_list

    def _require_registered(self, name: str, version: str) -> None:
        """ModelNotFound, naming the registry it looked in, when ``name/version`` is not registered."""
        if (name, version) in self._registered:
            return
        from ..errors import ModelNotFound
        from ..registry import resolve

        try:
            resolve(f"{name}/{version}")
        except ModelNotFound as exc:
            raise ModelNotFound(
                f"Cannot log predictions of {name}/{version}: the model registry at "
                f"{_hide_password(config.registry_uri())!r} has no such version ({str(exc).rstrip('.')}). Log "
                "predictions of a registered version, or pass registered=False for a model kept outside the "
                "registry; nothing was written.") from None
        self._registered.add((name, version))

    def labels_of(self, name: str, version: str) -> Labels:
        """What an outcome of ``name/version`` may be (:class:`~.log_rows.Labels`; read from the
        registry once per version and log object)."""
        key = (str(name), str(version))
        if key not in self._labels:
            self._labels[key] = version_labels(*key)
        return self._labels[key]

    def record_outcomes(
        self,
        ids: Sequence[Any],
        labels: Sequence[Any],
        *,
        source: str = "human",
        timestamps: Sequence[Any] | None = None,
        model: str | None = None,
    ) -> int:
        """Record the true label of logged predictions (e.g. agents' corrections); returns the count.

        Each label must be an outcome the version that made the prediction can have: one of its
        classes for a classifier (the ``nbt.classes`` tag written at registration, or the model's
        own ``classes_``), a finite number for a regressor, a finite string or number for a version
        the registry does not know. Unknown ids or any refused label reject the whole batch. A
        later outcome for the same id replaces the earlier one. Ids are unique per model: pass
        ``model=NAME`` when two models logged the same id (without it, an id logged by more than
        one model rejects the batch).
        """
        id_list = [str(i) for i in _column(ids, None, "ids")]
        values = _column(labels, len(id_list), "labels")
        _check_unique(id_list)
        if any(v is None for v in values):
            raise BadInput("labels contains None; give every id its true label.")
        if not isinstance(source, str) or not source.strip() or len(source) > 64:
            raise BadInput(f"source must be a short non-empty string such as 'human', got {source!r:.60}.")
        stamps = _timestamps(timestamps, len(id_list))
        if not id_list:
            return 0
        from sqlalchemy import bindparam, exc

        engine, table = self._connect()
        try:
            with engine.connect() as conn:  # the versions first: a refused label takes no write lock
                versions = self._versions(conn, table, id_list, model=model)
        except exc.OperationalError as err:
            raise self._unavailable(err) from None
        texts = []
        for k, (i, v) in enumerate(zip(id_list, values)):
            logged_by = versions.get(i, {})  # model -> version that logged the id
            if len(logged_by) != 1:  # unknown or shared ids: said below, under the write lock
                texts.append(str(v))
                continue
            (owner, version), = logged_by.items()
            texts.append(self.labels_of(owner, version).check(v, f"labels[{k}] (id {i!r})"))
        try:
            with self._writer().begin() as conn:
                owners = self._owners(conn, table, id_list, model=model)
                missing = set(id_list) - set(owners)
                if missing:
                    raise BadInput(
                        f"{len(missing)} of {len(id_list)} id(s) are not in the prediction log"
                        + (f" for {model!r}" if model is not None else "") + ", e.g. "
                        f"{sorted(missing)[0]!r}; log the predictions first, nothing was written."
                    )
                shared = sorted(i for i, names in owners.items() if len(names) > 1)
                if shared:
                    raise BadInput(
                        f"Id {shared[0]!r} is logged by models {', '.join(sorted(owners[shared[0]]))}; "
                        "pass model=NAME to say whose outcome it is, nothing was written."
                    )
                stmt = (table.update().where((table.c.id == bindparam("_id"))
                                             & (table.c.model_name == bindparam("_model")))
                        .values(outcome=bindparam("_outcome"), outcome_source=bindparam("_source"),
                                outcome_ts=bindparam("_ts")))
                conn.execute(stmt, [{"_id": i, "_model": next(iter(owners[i])), "_outcome": v,
                                     "_source": str(source), "_ts": t}
                                    for i, v, t in zip(id_list, texts, stamps)])
        except exc.OperationalError as err:
            raise self._unavailable(err) from None
        return len(id_list)

    @staticmethod
    def _versions(conn: Connection, table: Table, ids: Sequence[str], *,
                  model: str | None = None) -> dict[str, dict[str, str]]:
        """id -> {model: version} for the ids among ``ids`` in the log (of ``model``)."""
        import sqlalchemy as sa

        found: dict[str, dict[str, str]] = {}
        for start in range(0, len(ids), _CHUNK):
            query = (sa.select(table.c.id, table.c.model_name, table.c.model_version)
                     .where(table.c.id.in_(ids[start:start + _CHUNK])))
            if model is not None:
                query = query.where(table.c.model_name == str(model))
            for i, name, version in conn.execute(query):
                found.setdefault(i, {})[name] = str(version)
        return found

    @staticmethod
    def _existing(conn: Connection, table: Table, ids: Sequence[str], *, model: str | None = None) -> set[str]:
        return set(PredictionLog._owners(conn, table, ids, model=model))

    @staticmethod
    def _owners(conn: Connection, table: Table, ids: Sequence[str], *, model: str | None = None) -> dict[str, set[str]]:
        """id -> the models that logged it, for the ids among ``ids`` in the log (of ``model``)."""
        import sqlalchemy as sa

        found: dict[str, set[str]] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            query = sa.select(table.c.id, table.c.model_name).where(table.c.id.in_(chunk))
            if model is not None:
                query = query.where(table.c.model_name == str(model))
            for i, name in conn.execute(query):
                found.setdefault(i, set()).add(name)
        return found

    def append(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert rows already built and checked by a batching writer (``nbt serve``) in one transaction.

        Each row has the table's columns (``id, model_name, model_version, alias, ts, inputs,
        prediction, confidence, routed_to_human``). An id already in the log rejects the whole
        batch with :class:`BadInput`; an unreachable database raises :class:`StoreUnavailable`.
        """
        if not rows:
            return 0
        from sqlalchemy import exc

        _, table = self._connect()
        try:
            with self._writer().begin() as conn:
                conn.execute(table.insert(), list(rows))
        except exc.IntegrityError:
            raise BadInput("Some ids of the batch are already in the prediction log; nothing was written.") from None
        except exc.OperationalError as err:
            raise self._unavailable(err) from None
        return len(rows)

    def existing_ids(self, ids: Sequence[str], *, model: str | None = None) -> set[str]:
        """The ids among ``ids`` that are already in the log (logged by ``model`` when given)."""
        from sqlalchemy import exc

        engine, table = self._connect()
        try:
            with engine.connect() as conn:
                return self._existing(conn, table, [str(i) for i in ids], model=model)
        except exc.OperationalError as err:
            raise self._unavailable(err) from None


def _hide_password(uri: str) -> str:
    """``uri`` with the password of its user part hidden (for messages)."""
    import re

    return re.sub(r"(://[^/:@]*):[^/@]*@", r"\1:***@", str(uri))
