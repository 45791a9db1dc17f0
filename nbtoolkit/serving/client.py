"""A client of a running ``nbt serve``: predictions, outcomes, and waiting for the server to catch up.

For notebooks and scripts that send their traffic through the server (the support-ticket example's
daily step does): MLflow's scoring protocol with ``params.ids`` and ``params.timestamps``, the
``/outcomes`` route, and :meth:`ServeClient.settle`, which returns once what was sent is in the
prediction log, a staged rollout has decided on it, and the server routes as the registry now says
— so the next batch meets the versions and shares that follow from the last one::

    client = ServeClient("http://127.0.0.1:8080")
    out = client.predict(batch[FEATURES], ids=batch.ticket_id, timestamps=batch.created_at)
    client.record_outcomes(yesterday.ticket_id, yesterday.category, source="human")
    health = client.settle()
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from ..errors import BadInput, NbtError

POLL_S = 0.05


class ServeClient:
    """Talks to ``nbt serve`` at ``url`` (``token``: its bearer token, default ``NBT_SERVE_TOKEN``)."""

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 120.0) -> None:
        import requests

        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise BadInput(f"The server URL must start with http:// or https://, got {url!r}; "
                           "e.g. http://127.0.0.1:8080.")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        token = token if token is not None else os.environ.get("NBT_SERVE_TOKEN")
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def predict(self, frame: Any, *, ids: Any = None, timestamps: Any = None) -> Any:
        """Predictions for the rows of ``frame`` (a DataFrame) as a DataFrame: ``prediction``,
        ``confidence``, ``needs_human``, ``alias``, ``version``, ``id`` ... as the server answers."""
        import pandas as pd

        params: dict[str, Any] = {}
        if ids is not None:
            params["ids"] = [str(i) for i in ids]
        if timestamps is not None:
            params["timestamps"] = [pd.Timestamp(t).isoformat() for t in timestamps]
        body = {"dataframe_split": {"columns": [str(c) for c in frame.columns],
                                    "data": frame.astype(object).where(frame.notna(), None).to_numpy().tolist()},
                "params": params}
        return pd.DataFrame(self._post("/invocations", body)["predictions"])

    def record_outcomes(self, ids: Sequence[Any], labels: Sequence[Any], *, source: str = "human") -> int:
        """Send the true labels of logged predictions; returns how many the server recorded."""
        body = {"ids": [str(i) for i in ids], "labels": [_plain(v) for v in labels], "source": source}
        return int(self._post("/outcomes", body)["recorded"])

    def health(self) -> dict[str, Any]:
        """``/health`` as a dict (also when the server says it is degraded)."""
        import requests

        try:
            r = self.session.get(f"{self.url}/health", timeout=self.timeout)
        except requests.RequestException as exc:
            raise NbtError(f"nbt serve at {self.url} did not answer /health ({type(exc).__name__}).") from None
        body: dict[str, Any] = r.json()
        return body

    def settle(self, *, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until the server has written every prediction sent so far to the log and, with a
        staged rollout, has decided on the outcomes sent so far and serves the versions and shares
        that decision left in the registry. Returns the last ``/health``."""
        deadline = time.monotonic() + timeout
        health = self._until(lambda h: not h["log"]["queued_rows"], deadline, "write its queued predictions")
        if "rollout" not in health:
            return health
        # the server decides when outcomes arrive: wait for the decision on ours, then for a poll of
        # the registry that began after it (the move it made is what the server then serves)
        sent = health["rollout"]["outcome_batches"]
        health = self._until(lambda h: h["rollout"]["decided"] >= sent, deadline, "decide on the rollout")
        decided = health["rollout"]["decided_at"] or 0.0
        return self._until(lambda h: (h["registry"].get("applied_at") or 0.0) > decided, deadline,
                           "apply the rollout's decision")

    # ------------------------------------------------------------------ internals
    def _until(self, done: Any, deadline: float, what: str) -> dict[str, Any]:
        while True:
            health = self.health()
            if done(health):
                return health
            if time.monotonic() > deadline:
                raise NbtError(f"nbt serve at {self.url} did not {what} in time; its /health says: "
                               f"{health.get('status')} {'; '.join(health.get('problems') or [])}".rstrip())
            time.sleep(POLL_S)

    def _post(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        import requests

        try:
            r = self.session.post(f"{self.url}{route}", json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            raise NbtError(f"nbt serve at {self.url} did not answer {route} ({type(exc).__name__}).") from None
        if r.status_code != 200:
            try:
                message = r.json().get("message") or r.text
            except ValueError:
                message = r.text
            raise NbtError(f"nbt serve answered {route} with {r.status_code}: {' '.join(str(message).split())}")
        out: dict[str, Any] = r.json()
        return out


def _plain(value: Any) -> Any:
    """A label as JSON has it (numpy scalars to Python)."""
    return value.item() if hasattr(value, "item") else value
