"""The FastAPI application of ``nbt serve``: routes, bearer token, body limit, request metrics.

Routes (SPEC §9): ``POST /invocations``, ``POST /outcomes``, ``GET /ping``, ``GET /health``,
``GET /version``, ``GET /metrics``. Every route but ``/ping`` needs ``Authorization: Bearer
$NBT_SERVE_TOKEN`` when that variable is set. Errors are MLflow's one-line JSON
``{"error_code": ..., "message": ...}``. Scoring runs in a worker thread (as MLflow's scoring
server does) so ``/ping`` and ``/metrics`` answer while a large batch is scored.
"""

# No `from __future__ import annotations`: FastAPI reads the route annotations (Request) at runtime.
import os
import time
from contextlib import asynccontextmanager
from typing import Any

from .service import Reply, Service, error

ROUTES = ("/invocations", "/outcomes", "/ping", "/health", "/version", "/metrics")


def create_app(service: Service | None = None, *, settings: Any = None) -> Any:
    """The ASGI app serving ``service`` (or a service built from ``settings`` at start-up: workers)."""
    import anyio
    import anyio.to_thread
    from fastapi import FastAPI, Request
    from fastapi.responses import Response
    from starlette.concurrency import run_in_threadpool

    holder: dict[str, Service] = {}
    limiters: dict[str, anyio.CapacityLimiter] = {}  # "predict": set at start-up
    if service is not None:
        holder["service"] = service

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        if "service" not in holder:  # a worker process: build its own (the parent checked everything)
            holder["service"] = await run_in_threadpool(Service.build, settings, recover=False,
                                                        token=_token())
        svc = holder["service"]
        svc.start()
        app.state.service = svc
        # As many predictions at once as there are cores (anyio's default is 40 threads): more
        # predicting threads than cores only wait on each other for the interpreter lock.
        limiters["predict"] = anyio.CapacityLimiter(os.cpu_count() or 2)
        yield
        await run_in_threadpool(svc.stop)

    app = FastAPI(title="nbt serve", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)

    def reply(r: Reply) -> Response:
        return Response(content=r.json(), status_code=r.status, media_type="application/json")

    async def read_body(request: Request, limit: int) -> bytes | None:
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > limit:
            return None
        chunks, total = [], 0
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    def too_large(limit: int) -> Response:
        return reply(error(413, f"The request body is larger than the limit of {limit} bytes "
                                f"(--max-body); split the batch.", "REQUEST_LIMIT_EXCEEDED"))

    @app.post("/invocations")
    async def invocations(request: Request) -> Response:
        svc = holder["service"]
        body = await read_body(request, svc.settings.max_body)
        if body is None:
            return too_large(svc.settings.max_body)
        return reply(await anyio.to_thread.run_sync(svc.invocations, body, request.headers.get("content-type"),
                                                    limiter=limiters["predict"]))

    @app.post("/outcomes")
    async def outcomes(request: Request) -> Response:
        svc = holder["service"]
        body = await read_body(request, svc.settings.max_body)
        if body is None:
            return too_large(svc.settings.max_body)
        return reply(await run_in_threadpool(svc.outcomes, body))

    @app.get("/ping")
    async def ping() -> Response:
        return Response(content="\n", status_code=200, media_type="application/json")

    @app.get("/health")
    async def health() -> Response:
        return reply(await run_in_threadpool(holder["service"].health))

    @app.get("/version")
    async def version() -> Response:
        return reply(holder["service"].version())

    @app.get("/metrics")
    async def metrics() -> Response:
        content, ctype = holder["service"].metrics.render()
        return Response(content=content, media_type=ctype)

    return _Guard(app, holder)


class _Guard:
    """Pure ASGI middleware: bearer token, request count and latency by route."""

    def __init__(self, app: Any, holder: dict[str, Service]) -> None:
        self.app = app
        self.holder = holder

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        svc = self.holder.get("service")
        path = scope.get("path", "")
        route = path if path in ROUTES else "other"
        if svc is not None and svc.token and path != "/ping":
            header = None
            for key, value in scope.get("headers", ()):
                if key == b"authorization":
                    header = value.decode("latin-1")
                    break
            if not svc.check_token(header):
                body = error(401, "Missing or wrong bearer token; send 'Authorization: Bearer <NBT_SERVE_TOKEN>'.",
                             "UNAUTHENTICATED").json()
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"www-authenticate", b"Bearer"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                if svc.metrics is not None:
                    svc.metrics.requests.labels(route, "401").inc()
                return
        status = {"code": 500}
        t0 = time.perf_counter()

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            svc = self.holder.get("service")
            if svc is not None and svc.metrics is not None:
                svc.metrics.requests.labels(route, str(status["code"])).inc()
                svc.metrics.request_seconds.labels(route).observe(time.perf_counter() - t0)


def _token() -> str | None:
    import os

    return os.environ.get("NBT_SERVE_TOKEN") or None


def app_from_env() -> Any:
    """Factory for uvicorn worker processes (``--workers N``): settings from ``NBT_SERVE_SETTINGS``."""
    import os

    from .settings import ENV, ServeSettings

    return create_app(settings=ServeSettings.from_json(os.environ[ENV]))
