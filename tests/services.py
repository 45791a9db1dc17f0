"""Session-scoped services on 127.0.0.1, started by the tests themselves.

Each service fixture starts its server once per test session and stops it afterwards.
(PostgreSQL + MLflow server, Dask scheduler/workers, JupyterLab: see the integration issues.)
"""

from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
