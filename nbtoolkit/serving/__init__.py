"""``nbt serve``: a registered model over HTTP, with the production loop around it.

::

    server.py     serve(): start-up checks, uvicorn in the foreground, or a background process
    app.py        the FastAPI app: routes, bearer token, body limit, request metrics
    service.py    what the routes do: score (route, predict, hand off, log), outcomes, health, version
    protocol.py   MLflow's scoring protocol → validated columns, ids, timestamps
    columns.py    request values checked against the version's signature (BadRequest names column and row)
    swap.py       the served versions; alias polling; load + integrity check before a swap
    shipper.py    the log written by a helper process: journal, hand over, acknowledgements (503 when full)
    logwriter.py  batched prediction-log writes (in the helper), back-off, duplicate-id retries
    journal.py    served rows journaled until logged; recovery after a killed server
    alerts.py     the alert rules of ``nbt monitor`` over a rolling window, in the server
    metrics.py    Prometheus metrics (``GET /metrics``)
    settings.py   the settings, described once: each field its default, flag and help (the parser is
                  generated from them), checked once, handed to other processes as JSON
    __main__.py   the background server's process: serves the settings it was handed

The settings' way, on every surface::

    nbt serve / %nbt serve NAME --flags    (the parser is generated from the fields)
        --from_namespace--> nbt.serve(**keywords)
    nbt.serve(**keywords) --> ServeSettings.checked(): the one check
        --> run() in this process, or
        --> start_background() --NBT_SERVE_SETTINGS (JSON)--> python -m nbtoolkit.serving --> run()
    run() with --workers N --NBT_SERVE_SETTINGS (JSON)--> each worker (app.app_from_env)

A receiving process (:meth:`ServeSettings.from_json`) takes every field as given: nothing is
re-parsed or re-checked, and ``GET /version`` shows what it runs with (tests/test_serve_settings.py).

FastAPI, uvicorn and prometheus_client are base dependencies (``pip install -e .`` has them); all are
imported when a server starts, never by ``import nbtoolkit`` or ``%load_ext nbtoolkit``.
"""

from __future__ import annotations

from .server import ServerHandle, serve

__all__ = ["ServerHandle", "serve"]
