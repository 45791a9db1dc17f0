"""``nbt serve``: a registered model over HTTP, with the production loop around it.

::

    server.py     serve(): start-up checks, uvicorn in the foreground, or a background process
    app.py        the FastAPI app: routes, bearer token, body limit, request metrics
    service.py    what the routes do: score (route, predict, hand off, log), outcomes, health, version
    protocol.py   MLflow's scoring protocol → validated columns, ids, timestamps (signature checks)
    swap.py       the served versions; alias polling; load + integrity check before a swap
    shipper.py    the log written by a helper process: journal, hand over, acknowledgements (503 when full)
    logwriter.py  batched prediction-log writes (in the helper), back-off, duplicate-id retries
    journal.py    served rows journaled until logged; recovery after a killed server
    alerts.py     the alert rules of ``nbt monitor`` over a rolling window, in the server
    metrics.py    Prometheus metrics (``GET /metrics``)
    settings.py   the settings, checked up front

FastAPI, uvicorn and prometheus_client are base dependencies (``pip install -e .`` has them); all are
imported when a server starts, never by ``import nbtoolkit`` or ``%load_ext nbtoolkit``.
"""

from __future__ import annotations

from .server import ServerHandle, serve

__all__ = ["ServerHandle", "serve"]
