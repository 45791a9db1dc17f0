"""What the HTTP routes do, without HTTP: score, record outcomes, health, version.

:class:`Service` ties the parts together — the :class:`~.swap.ModelSet` (what is served), the
:class:`~.logwriter.LogWriter` (batched, journaled logging), the :class:`~.metrics.ServingMetrics`
and the :class:`~.alerts.LiveMonitor` — and is built by :meth:`Service.build`, which runs every
start-up check (log reachable, previous journal recovered, champion loadable) before anything
listens.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import time
from pathlib import Path
from collections import Counter
from typing import TYPE_CHECKING, Any

from ..errors import NbtError, StoreUnavailable
from .logwriter import DuplicateId, QueueFull
from .journal import entry as journal_entry
from .protocol import BadRequest, parse_body, parse_outcomes
from .settings import ServeSettings

if TYPE_CHECKING:
    import pandas as pd

    from ..monitoring.log import PredictionLog
    from .alerts import LiveMonitor
    from .journal import Recovery
    from .metrics import ServingMetrics
    from .rowcontract import Contracts
    from .shipper import LogShipper
    from .swap import ModelSet, Snapshot


class Reply:
    """An HTTP answer: status and a JSON-able body."""

    __slots__ = ("body", "status")

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body

    def json(self) -> bytes:
        return _COMPACT.encode(self.body).encode()


_COMPACT = json.JSONEncoder(separators=(",", ":"), default=str)  # json.dumps(...) builds one per call


def error(status: int, message: str, code: str = "BAD_REQUEST") -> Reply:
    """MLflow's error body: ``{"error_code": ..., "message": ...}`` (one line)."""
    return Reply(status, {"error_code": code, "message": " ".join(str(message).split())})


class Service:
    """A running model server's state (see the module docstring)."""

    def __init__(self, settings: ServeSettings, *, plog: PredictionLog, models: ModelSet, writer: LogShipper,
                 metrics: ServingMetrics, monitor: LiveMonitor | None = None, recovery: Recovery | None = None,
                 token: str | None = None, contracts: Contracts | None = None) -> None:
        self.settings = settings
        self.name = settings.name
        self.plog = plog
        self.models = models
        self.writer = writer
        self.metrics = metrics
        self.monitor = monitor
        self.recovery = recovery
        self.token = token
        self.contracts = contracts  # rowcontract.Contracts: rows outside their version's contract are flagged

    # ------------------------------------------------------------------ build / start / stop
    @classmethod
    def build(cls, settings: ServeSettings, *, recover: bool = True, token: str | None = None) -> Service:
        """Run the start-up checks and load the models (raises NbtError: exit 2, one line).

        ``settings`` arrive checked: :meth:`ServeSettings.checked` ran once, where they were given.
        """
        from ..monitoring import PredictionLog
        from .alerts import LiveMonitor
        from .journal import Journal
        from .journal import recover as recover_journal
        from .metrics import ServingMetrics
        from .rollout import rollout_of
        from .rowcontract import Contracts
        from .shipper import LogShipper
        from .swap import ModelSet

        plog = PredictionLog(settings.predictions_url or None)
        plog.existing_ids([])  # connects and creates the table: an unreachable log fails here
        metrics = ServingMetrics()
        folder = journal_folder(settings)
        recovery = recover_journal(folder, plog) if recover else None
        if recovery is not None and recovery.recovered:
            metrics.log_rows_recovered.inc(recovery.recovered)
        writer = LogShipper(plog.url, safe_url=plog.safe_url,
                            journal=Journal(folder, log_url=plog.safe_url, sync=settings.journal_sync),
                            max_rows=settings.log_queue_rows, max_bytes=settings.log_queue_bytes,
                            batch_rows=settings.log_batch, linger=settings.log_linger, metrics=metrics)
        writer.spawn()  # the helper process starts while the models load
        models = ModelSet(settings.name, champion=settings.champion, challenger=settings.challenger,
                          traffic=settings.traffic, threshold=settings.threshold,
                          poll_interval=settings.poll_interval, metrics=metrics,
                          require_signature=settings.require_signature,
                          rollout=settings.rollout or None)
        try:
            models.load()
            writer.start()  # connected to the log, or one line and exit 2 before anything listens
        except BaseException:
            writer.stop(0)
            raise
        contracts = Contracts(settings.name)
        for served in models.snapshot.versions.values():  # read now, not by the first request
            contracts.get(served.version)
        monitor = LiveMonitor(settings.name, plog, rules=list(settings.alerts), window=settings.window,
                              interval=settings.monitor_interval, webhook=settings.webhook, metrics=metrics,
                              lock_path=folder / "monitor.lock", rollout=rollout_of(settings, plog, metrics))
        return cls(settings, plog=plog, models=models, writer=writer, metrics=metrics, monitor=monitor,
                   recovery=recovery, token=token, contracts=contracts)

    def start(self) -> Service:
        self.writer.start()
        self.models.start()
        if self.monitor is not None:
            self.monitor.start()
        return self

    def stop(self) -> int:
        """Stop polling and monitoring, drain the log queue; returns the rows that could not be written."""
        self.models.stop()
        if self.monitor is not None:
            self.monitor.stop()
        return self.writer.stop(self.settings.drain_timeout)

    # ------------------------------------------------------------------ /invocations
    def invocations(self, body: bytes, content_type: str | None) -> Reply:
        snap = self.models.snapshot
        champion = snap.versions[snap.champion]
        try:
            batch = parse_body(body, content_type, champion.signature, max_rows=self.settings.max_rows)
            for served in snap.versions.values():  # a challenger with other columns checks them too
                if served.signature is not None and served.signature != champion.signature:
                    parse_body(body, content_type, served.signature, max_rows=self.settings.max_rows)
        except BadRequest as exc:
            return error(exc.status, str(exc))
        except RecursionError:  # a value nested past what the checks could follow
            return error(400, "The body nests arrays or objects too deeply for a request; send scalars.")
        ids = batch.ids
        if ids is None:
            ids = new_ids(batch.n)
        else:
            try:
                self.writer.check_pending(ids)
                known = self.plog.existing_ids(ids, model=self.name)
            except DuplicateId as exc:
                return error(400, f"Id {exc.ident!r} was already served; ids must be unique, nothing was logged.")
            except StoreUnavailable as exc:
                return error(503, str(exc), "TEMPORARILY_UNAVAILABLE")
            if known:
                return error(400, f"{len(known)} id(s) are already in the prediction log, e.g. "
                                  f"{sorted(known)[0]!r}; ids must be unique, nothing was logged.")
        arms = snap.route(ids)
        flags, broken = self._contract_flags(snap, batch, arms)
        if self.metrics is not None:  # the inputs as received, served or not: a missing value may be why not
            self.metrics.observe_quality(batch.n, {c: sum(v is None or v != v for v in vals)
                                                   for c, vals in batch.values.items()}, broken)
        try:
            frame = batch.frame(champion.signature)
            results = self._predict(snap, frame, arms)
        except Exception as exc:  # the model refused the input (e.g. a type the signature did not pin)
            return error(400, f"The model could not predict on this input ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:200] if str(exc) else ''}){_missing_values(batch)}; "
                              "nothing was logged.")
        preds, confs, humans, versions, probs = results
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        try:
            self.writer.submit(journal_entry(self.name, batch, ids=ids, versions=versions, aliases=arms, ts=now,
                                             predictions=preds, confidences=confs, humans=humans,
                                             probabilities=probs, contract=flags))
        except QueueFull as exc:
            return error(503, f"The prediction log is behind ({exc}); nothing was logged, retry shortly.",
                         "TEMPORARILY_UNAVAILABLE")
        except DuplicateId as exc:
            return error(400, f"Id {exc.ident!r} was already served; ids must be unique, nothing was logged.")
        self._count(arms, versions, preds, confs, humans)
        if self.metrics is not None:  # counted once the rows are served and logged, as the predictions are
            for (column, kind), count in broken.items():
                self.metrics.contract_violations.labels(column, kind).inc(count)
        return Reply(200, {"predictions": [
            {"id": i, "prediction": p, "confidence": c, "needs_human": h, "alias": a, "model_version": v}
            for i, p, c, h, a, v in zip(ids, preds, confs, humans, arms, versions)]})

    def _predict(self, snap: Snapshot, frame: pd.DataFrame,
                 arms: list[str]) -> tuple[list[Any], list[Any], list[Any], list[Any], list[Any]]:
        n = len(arms)
        probs: list[str | None] = [None] * n
        preds: list[Any] = [None] * n
        confs: list[float | None] = [None] * n
        humans = [False] * n
        versions = [""] * n
        for alias in dict.fromkeys(arms):
            served = snap.versions[alias]
            idx = [k for k, a in enumerate(arms) if a == alias]
            part = frame if len(idx) == n else frame.iloc[idx]
            t0 = time.perf_counter()
            p, c, q = _predict(served.model, part)
            if self.metrics is not None:
                self.metrics.predict_seconds.labels(alias, served.version).observe(time.perf_counter() - t0)
            for k, pk, ck, qk in zip(idx, p, c, q):
                preds[k], confs[k], versions[k], probs[k] = pk, ck, served.version, qk
                humans[k] = served.threshold is not None and ck is not None and ck < served.threshold
        return preds, confs, humans, versions, probs

    def _contract_flags(self, snap: Snapshot, batch: Any,
                        arms: list[str]) -> tuple[list[str | None] | None, Counter[tuple[str, str]]]:
        """Per row: None, or what it broke of its version's data contract (JSON; None for the whole
        request when no row broke anything); and the count per (column, kind) for /metrics."""
        broken: Counter[tuple[str, str]] = collections.Counter()
        if self.contracts is None:
            return None, broken
        n = len(arms)
        flags: list[str | None] = [None] * n
        for alias in dict.fromkeys(arms):
            served = snap.versions[alias]
            contract = self.contracts.get(served.version)
            if contract is None:
                continue
            idx = [k for k, a in enumerate(arms) if a == alias]
            values = batch.values if len(idx) == n else {c: [v[k] for k in idx] for c, v in batch.values.items()}
            found, counts = contract.check(values, len(idx))
            for k, f in zip(idx, found):
                flags[k] = f
            broken.update(counts)
        return (flags if broken else None), broken

    def _count(self, arms: list[str], versions: list[str], preds: list[Any], confs: list[Any],
               humans: list[Any]) -> None:
        m = self.metrics
        if m is None:
            return
        by_class = collections.Counter(zip(arms, versions, map(str, preds)))
        for (a, v, p), k in by_class.items():
            m.predictions.labels(a, v, p).inc(k)
        served: dict[tuple[str, str], list[int]] = {}
        for k, key in enumerate(zip(arms, versions)):
            served.setdefault(key, []).append(k)
        for (a, v), rows in served.items():  # one label lookup per served version, not per row
            histogram = m.confidence.labels(a, v)
            for k in rows:
                if confs[k] is not None:
                    histogram.observe(confs[k])
            human = sum(1 for k in rows if humans[k])
            if human:
                m.needs_human.labels(a, v).inc(human)

    # ------------------------------------------------------------------ /outcomes
    def outcomes(self, body: bytes) -> Reply:
        try:
            ids, labels, source = parse_outcomes(body)
        except BadRequest as exc:
            return error(exc.status, str(exc))
        if not self.writer.flush(ids, timeout=10.0):  # outcomes for predictions still in the queue
            return error(503, "The predictions of these ids are not in the log yet; retry shortly.",
                         "TEMPORARILY_UNAVAILABLE")
        try:  # each label checked against the classes of the version that made the prediction
            n = self.plog.record_outcomes(ids, labels, source=source, model=self.name)
        except StoreUnavailable as exc:
            return error(503, str(exc), "TEMPORARILY_UNAVAILABLE")
        except NbtError as exc:  # a refused label, an unknown id: nothing was recorded
            return error(400, str(exc))
        if self.metrics is not None:
            self.metrics.outcomes.labels(source).inc(n)
        if self.monitor is not None and self.monitor.rollout is not None:
            self.monitor.nudge()  # the rollout's evidence changed: decide on it now
        return Reply(200, {"recorded": n, "source": source})

    # ------------------------------------------------------------------ /health, /version
    def health(self) -> Reply:
        problems: list[str] = []
        status = 200
        try:
            self.plog.existing_ids(["-nbt-health-"])
            log_ok = True
        except NbtError as exc:
            log_ok, status = False, 503
            problems.append(" ".join(str(exc).split()))
        if not self.writer.alive:
            status = 503
            problems.append("The prediction-log helper process is not running; what it had not written is "
                            "in the journal for the next start.")
        if self.writer.last_error:
            problems.append(f"Last log write failed (retrying): {self.writer.last_error}")
        if self.models.last_poll_error:
            problems.append(f"The registry could not be reached at the last poll ({self.models.last_poll_error}); "
                            "serving the versions loaded before.")
        problems.extend(self.models.problems.values())
        if self.monitor is not None and self.monitor.last_error:
            problems.append(f"Live monitoring: {self.monitor.last_error}")
        body = {
            "status": "ok" if not problems else ("unavailable" if status != 200 else "degraded"),
            "model": self.name,
            "serving": self.models.snapshot.describe(),
            "log": {"url": self.plog.safe_url, "reachable": log_ok, "queued_rows": self.writer.queued_rows,
                    "written_rows": self.writer.written, "rejected_rows": self.writer.rejected},
            "registry": {"last_poll_age_s": None if self.models.last_poll is None
                         else round(time.time() - self.models.last_poll, 3),
                         "applied_at": self.models.applied_at,
                         "reachable": self.models.last_poll_error is None},
            "alerts_active": sorted(self.monitor.active) if self.monitor is not None else [],
            "problems": problems,
        }
        if self.monitor is not None and self.monitor.rollout is not None:
            body["rollout"] = {**self.monitor.rollout.describe(), "outcome_batches": self.monitor.outcome_batches,
                               "decided": self.monitor.decided, "decided_at": self.monitor.decided_at}
        if self.recovery is not None and self.recovery.found:
            body["previous_run"] = self.recovery.to_dict()
        return Reply(status, body)

    def version(self) -> Reply:
        from importlib.metadata import PackageNotFoundError, version

        def v(pkg: str) -> str | None:
            try:
                return version(pkg)
            except PackageNotFoundError:
                return None

        snap = self.models.snapshot
        return Reply(200, {"nbtoolkit": v("nbtoolkit"), "mlflow": v("mlflow"), "model": self.name,
                           "pid": os.getpid(),  # with --workers N: which worker answered
                           "settings": self.settings.public(),  # what this process was handed
                           "aliases": {"champion": snap.champion, "challenger": snap.challenger},
                           "traffic": snap.traffic, "serving": snap.describe()})

    def check_token(self, header: str | None) -> bool:
        if not self.token:
            return True
        import hmac

        scheme, _, given = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode())


def journal_folder(settings: ServeSettings) -> Path:
    if settings.journal_dir:
        return Path(settings.journal_dir)
    from .. import config

    return config.home() / "serve" / settings.name


def _predict(model: Any, frame: Any) -> tuple[list[Any], list[float | None], list[str | None]]:
    """Predicted labels, top-class probabilities and every class's probability (JSON) per row."""
    import numpy as np

    if hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(frame), dtype="float64")
        classes = np.asarray(model.classes_)
        names = [str(c) for c in classes.tolist()]
        rounded = proba.round(6).tolist()
        probs: list[str | None]
        if np.isfinite(proba).all():  # json.dumps(dict(zip(names, row))) without a dict and an encoder per row
            template = "{" + ", ".join(json.dumps(n).replace("%", "%%") + ": %r" for n in names) + "}"
            probs = [template % tuple(row) for row in rounded]
        else:
            probs = [json.dumps(dict(zip(names, row))) for row in rounded]
        return classes[proba.argmax(axis=1)].tolist(), proba.max(axis=1).tolist(), probs
    out = model.predict(frame)
    values = out.tolist() if hasattr(out, "tolist") else list(out)
    return values, [None] * len(values), [None] * len(values)


def _missing_values(batch: Any) -> str:
    """``; column 'x' has a missing value (null or NaN) in row 3`` when a column has one, else ``""``."""
    for column in batch.columns:
        for i, v in enumerate(batch.values[column]):
            if v is None or (isinstance(v, float) and v != v):
                return (f"; column {column!r} has a missing value (null or NaN) in row {i}, which the model "
                        "may not take")
    return ""


def new_ids(n: int) -> list[str]:
    """``n`` random ids, as ``uuid.uuid4().hex`` spells them, from one read of the random source."""
    raw = bytearray(os.urandom(16 * n))
    out = []
    for k in range(0, 16 * n, 16):
        raw[k + 6] = (raw[k + 6] & 0x0F) | 0x40  # version 4
        raw[k + 8] = (raw[k + 8] & 0x3F) | 0x80  # RFC 4122 variant
        out.append(raw[k:k + 16].hex())
    return out
