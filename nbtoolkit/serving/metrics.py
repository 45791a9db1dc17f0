"""What ``GET /metrics`` exposes (Prometheus text format), on a registry of its own per server.

Per request: ``nbt_http_requests_total{route,status}`` and ``nbt_http_request_duration_seconds{route}``.
Per served version: ``nbt_predictions_total{alias,version,prediction}`` (by class),
``nbt_prediction_duration_seconds{alias,version}``, ``nbt_confidence{alias,version}`` (histogram),
``nbt_needs_human_total{alias,version}``, ``nbt_model_info{alias,version}`` (1 while serving).
Rolling window (evaluated by the live monitor from the prediction log): ``nbt_window_volume``,
``nbt_window_human_share``, ``nbt_window_estimated_accuracy``, ``nbt_window_accuracy``,
``nbt_window_drift_share``; ``nbt_alerts_fired_total{rule}``, ``nbt_alert_active{rule}``.
The log: ``nbt_log_queue_rows``, ``nbt_log_rows_written_total``, ``nbt_log_rows_rejected_total``,
``nbt_log_write_errors_total``, ``nbt_log_write_seconds``, ``nbt_log_rows_recovered_total``;
swaps: ``nbt_model_swaps_total``, ``nbt_model_swaps_refused_total``; ``nbt_outcomes_total{source}``.
The data contract: ``nbt_contract_violations_total{column,kind}`` (rows served outside the version's
stored contract, see :mod:`.rowcontract`); ``nbt_window_contract`` (their share in the window).
Data quality of the inputs: ``nbt_input_quality{column,metric}`` — the ``missing_rate``, ``unseen_rate``
and ``out_of_range_rate`` of each column over the last :data:`QUALITY_ROWS` rows received (per-batch
counts in a rolling window, so a request costs a few additions).
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Mapping
from typing import Any

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
WINDOW_METRICS = ("volume", "labeled", "human_share", "mean_confidence", "estimated_accuracy", "accuracy",
                  "drift_share", "contract")
QUALITY_ROWS = 1000  # rows the nbt_input_quality gauges are computed over
QUALITY_KINDS = {"unseen_category": "unseen_rate", "out_of_range": "out_of_range_rate"}


class ServingMetrics:
    """The Prometheus metrics of one server (its own ``CollectorRegistry``)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

        disable_created_metrics()  # no *_created series: they double the page for nothing a dashboard uses

        r = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("nbt_http_requests", "HTTP requests by route and status", ["route", "status"],
                                registry=r)
        self.request_seconds = Histogram("nbt_http_request_duration_seconds", "HTTP request latency by route",
                                         ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.predictions = Counter("nbt_predictions", "Predictions by alias, version and predicted class",
                                   ["alias", "version", "prediction"], registry=r)
        self.predict_seconds = Histogram("nbt_prediction_duration_seconds",
                                         "Model time per request and serving version", ["alias", "version"],
                                         buckets=LATENCY_BUCKETS, registry=r)
        self.confidence = Histogram("nbt_confidence", "Confidence (top-class probability) of predictions",
                                    ["alias", "version"], buckets=CONFIDENCE_BUCKETS, registry=r)
        self.needs_human = Counter("nbt_needs_human", "Predictions handed to a human (confidence under the threshold)",
                                   ["alias", "version"], registry=r)
        self.model_info = Gauge("nbt_model_info", "1 for each alias/version being served", ["alias", "version"],
                                registry=r)
        self.window = {m: Gauge(f"nbt_window_{m}", f"{m} over the rolling monitoring window", registry=r)
                       for m in WINDOW_METRICS}
        self.alerts_fired = Counter("nbt_alerts_fired", "Alerts fired by the live monitor", ["rule"], registry=r)
        self.alert_active = Gauge("nbt_alert_active", "1 while an alert rule holds", ["rule"], registry=r)
        self.log_queue_rows = Gauge("nbt_log_queue_rows", "Rows waiting to be written to the prediction log",
                                    registry=r)
        self.log_rows_written = Counter("nbt_log_rows_written", "Rows written to the prediction log", registry=r)
        self.log_rows_rejected = Counter("nbt_log_rows_rejected",
                                         "Served rows the log refused (id already logged by another writer)",
                                         registry=r)
        self.log_write_errors = Counter("nbt_log_write_errors", "Failed log transactions (retried)", registry=r)
        self.log_write_seconds = Histogram("nbt_log_write_seconds", "Time per log transaction",
                                           buckets=LATENCY_BUCKETS, registry=r)
        self.log_rows_recovered = Counter("nbt_log_rows_recovered",
                                          "Rows of a previous server's journal written at start-up", registry=r)
        self.swaps = Counter("nbt_model_swaps", "Alias moves picked up by the server", registry=r)
        self.swaps_refused = Counter("nbt_model_swaps_refused",
                                     "Versions refused at swap time (integrity check or load failed)", registry=r)
        self.outcomes = Counter("nbt_outcomes", "Outcomes recorded through /outcomes", ["source"], registry=r)
        self.contract_violations = Counter("nbt_contract_violations",
                                           "Served rows outside their version's data contract, by column and kind "
                                           "(unseen_category, out_of_range, null)", ["column", "kind"], registry=r)
        self.rollout_share = Gauge("nbt_rollout_share", "The challenger's share of ids in a staged rollout "
                                   "(--rollout)", registry=r)
        self.rollout_moves = Counter("nbt_rollout_moves", "Staged-rollout moves (start, advance, promote, rollback)",
                                     ["action"], registry=r)
        self.input_quality = Gauge("nbt_input_quality", "Share of the recent rows' values that are missing, unseen "
                                   f"or out of range, by column (last {QUALITY_ROWS} rows)", ["column", "metric"],
                                   registry=r)
        self._quality: collections.deque[tuple[int, collections.Counter[tuple[str, str]]]] = collections.deque()
        self._quality_total: collections.Counter[tuple[str, str]] = collections.Counter()
        self._quality_rows = 0
        for m in self.window.values():
            m.set(float("nan"))

    def observe_quality(self, n: int, missing: Mapping[str, int], broken: Mapping[tuple[str, str], int]) -> None:
        """Add one request's counts (``missing`` per column; ``broken`` per (column, contract kind)) to
        the rolling window of the last :data:`QUALITY_ROWS` rows and set the gauges it touches."""
        counts: collections.Counter[tuple[str, str]] = collections.Counter()
        for column, k in missing.items():
            counts[(column, "missing_rate")] += k
        for (column, kind), k in broken.items():
            if kind in QUALITY_KINDS:
                counts[(column, QUALITY_KINDS[kind])] += k
        touched = set(counts) | {(c, "missing_rate") for c in missing}
        self._quality.append((n, counts))
        self._quality_total.update(counts)
        self._quality_rows += n
        while len(self._quality) > 1 and self._quality_rows - self._quality[0][0] >= QUALITY_ROWS:
            old_n, old = self._quality.popleft()
            self._quality_rows -= old_n
            self._quality_total.subtract(old)
            touched |= set(old)
        for key in touched:
            self.input_quality.labels(*key).set(self._quality_total[key] / max(self._quality_rows, 1))

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def serving(self, snapshot: Any) -> None:
        """Set ``nbt_model_info`` to the snapshot's alias/version pairs."""
        current = {(alias, v.version) for alias, v in snapshot.versions.items()}
        for labels in list(getattr(self, "_info", set())):
            if labels not in current:
                with contextlib.suppress(KeyError):  # already gone
                    self.model_info.remove(*labels)
        for labels in current:
            self.model_info.labels(*labels).set(1)
        self._info = current
