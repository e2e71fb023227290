"""The ASGI app: routes, lifespan (the runtime starts and closes with the server), error pages.

``create_app()`` is also the uvicorn factory for ``--workers N``: with no router given it loads
the config named by ``$HYBRIDLLM_CONFIG`` (``hybridllm serve`` sets it for its workers).

Routes::

    POST /v1/chat/completions   OpenAI chat completions (stream and not)
    POST /v1/messages           Anthropic Messages (stream and not)
    POST /v1/route              the routing decision only
    POST /v1/feedback           a score for an answer, for `hybridllm learn` (server/feedback.py)
    GET  /v1/models             "auto" and every deployment
    GET  /healthz               the process is up (no key needed)
    GET  /readyz                per-deployment breaker state; 200 if one is usable (no key needed);
                                with state: redis://, where shared state is kept right now
    GET  /metrics               Prometheus
    GET  /openapi.json          this API's OpenAPI 3.1 document
    GET  /dashboard             the dashboard, and its JSON API under /dashboard/api/ (an admin
                                key when server.keys is set; else loopback clients only)
"""

from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from hybridllm.dashboard.auth import DashboardAuth
from hybridllm.dashboard.routes import Dashboard
from hybridllm.dispatch.breaker import BreakerState
from hybridllm.router import Router
from hybridllm.server.envelope import Flavor, GatewayError
from hybridllm.server.feedback import FeedbackEndpoint
from hybridllm.server.gateway import JSON, Gateway
from hybridllm.server.metrics import CONTENT_TYPE
from hybridllm.server.openapi import openapi_document

__all__ = ["create_app"]

log = logging.getLogger("hybridllm.server")


def _flavor(request: Request) -> Flavor:
    return Flavor.ANTHROPIC if request.url.path.startswith("/v1/messages") else Flavor.OPENAI


Handler = Callable[[Request], Awaitable[Response]]
ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


class GatewayApp(Starlette):
    """Starlette, with the model routes taken off its middleware stack.

    ``POST`` on a model route is the hot path: it goes straight to its handler, which already
    answers every error in the caller's envelope. What Starlette's exception middleware would do
    for anything else (an unexpected exception: the 500 envelope, then re-raise so the server logs
    it) is done here the same way. Every other request takes Starlette's router as before.
    """

    def __init__(
        self, *, fast: dict[str, Handler], internal_error: ErrorHandler, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._fast = fast
        self._internal_error = internal_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            handler = self._fast.get(scope["path"])
            if handler is not None:
                scope["app"] = self
                request = Request(scope, receive, send)
                try:
                    response = await handler(request)
                except Exception as exc:
                    response = await self._internal_error(request, exc)
                    await response(scope, receive, send)
                    raise
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


# Young-generation collections: every 700 container allocations by default, i.e. every few
# requests, each walking every young object. At 20,000 they run every ~100 requests; the
# objects a request leaves behind are freed by reference counting anyway.
GC_THRESHOLD = (20_000, 20, 20)
# Process-wide settings: only `hybridllm serve` (which owns its worker processes) asks for them;
# an app embedded in someone else's process leaves their collector alone.
SETTLE_GC_ENV = "HYBRIDLLM_SETTLE_GC"


def _settle_gc() -> None:
    """After start-up: move what start-up built (config, router, databases, modules) out of the
    collector's sight (``gc.freeze``) and make young collections rarer. A full collection then
    walks the objects of requests in flight, not the whole process."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


def _durable_from_env() -> bool:
    """``HYBRIDLLM_LEDGER_DURABLE=0`` answers before the ledger row is committed (for measuring
    what the durable wait costs; see docs/performance.md). Anything else, or unset: durable."""
    return os.environ.get("HYBRIDLLM_LEDGER_DURABLE", "1").strip().lower() not in (
        "0",
        "false",
        "no",
        "off",
    )


def create_app(router: Router | None = None, *, ledger_url: str | None = None) -> Starlette:
    """The app over ``router`` (else the config of ``$HYBRIDLLM_CONFIG``); ``ledger_url``
    overrides the config's ledger."""
    router = router or Router.from_config()
    gateway = Gateway(router, ledger_url=ledger_url, durable=_durable_from_env())
    feedback = FeedbackEndpoint(gateway, ledger_url or router.config.ledger)
    config = router.config
    openapi = orjson.dumps(openapi_document(config))
    created = int(time.time())
    models = orjson.dumps(
        {
            "object": "list",
            "data": [
                {
                    "id": name,
                    "object": "model",
                    "type": "model",
                    "created": created,
                    "created_at": "1970-01-01T00:00:00Z",
                    "owned_by": owner,
                    "display_name": name,
                }
                for name, owner in [
                    ("auto", "hybridllm"),
                    *((n, d.provider) for n, d in config.deployments.items()),
                ]
            ],
            "has_more": False,
            "first_id": "auto",
            "last_id": next(reversed(config.deployments)),
        }
    )

    def guarded(request: Request) -> Response | None:
        try:
            gateway.keys.authenticate(request.headers)
        except GatewayError as err:
            return gateway.error(_flavor(request), err)
        return None

    async def list_models(request: Request) -> Response:
        return guarded(request) or Response(models, 200, media_type=JSON)

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', 200, media_type=JSON)

    async def readyz(request: Request) -> Response:
        runtime = gateway.runtime
        dispatcher = runtime.dispatcher if runtime is not None else None
        if dispatcher is None:
            return Response(b'{"ready":false,"deployments":{}}', 503, media_type=JSON)
        states = gateway.metrics.set_breakers(dispatcher.breakers)
        deployments = {
            name: {
                "state": state,
                "usable": state != BreakerState.OPEN.value,
                "provider": config.deployments[name].provider,
                "tier": config.deployments[name].tier,
                "locality": config.deployments[name].where,
            }
            for name, state in states.items()
        }
        ready = any(d["usable"] for d in deployments.values())
        found: dict[str, object] = {"ready": ready, "deployments": deployments}
        if runtime is not None and runtime.shared is not None:
            found["shared_state"] = runtime.shared.status()  # Redis down: still ready, degraded
        body = orjson.dumps(found)
        return Response(body, 200 if ready else 503, media_type=JSON)

    async def metrics(request: Request) -> Response:
        denied = guarded(request)
        if denied is not None:
            return denied
        runtime = gateway.runtime
        if runtime is not None and runtime.dispatcher is not None:
            gateway.metrics.set_breakers(runtime.dispatcher.breakers)
        return Response(gateway.metrics.exposition(), 200, media_type=CONTENT_TYPE)

    async def openapi_json(request: Request) -> Response:
        return guarded(request) or Response(openapi, 200, media_type=JSON)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 404:
            message = f"no route {request.method} {request.url.path}"
        elif status == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        else:
            message = str(getattr(exc, "detail", "")) or "request failed"
        err = GatewayError(
            status, message, "invalid_request_error", "not_found" if status == 404 else None
        )
        return gateway.error(_flavor(request), err, getattr(exc, "headers", None))

    async def internal_error(request: Request, exc: Exception) -> Response:
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        err = GatewayError(500, "internal error in the gateway", "internal_error", "internal_error")
        return gateway.error(_flavor(request), err)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await gateway.start()
        if os.environ.get(SETTLE_GC_ENV) == "1":  # set by `hybridllm serve`: the process is ours
            _settle_gc()
        try:
            yield
        finally:
            await gateway.close()
            await feedback.close()

    routes = [
        Route("/v1/chat/completions", gateway.chat_completions, methods=["POST"]),
        Route("/chat/completions", gateway.chat_completions, methods=["POST"]),
        Route("/v1/messages", gateway.messages, methods=["POST"]),
        Route("/v1/route", gateway.route, methods=["POST"]),
        Route("/v1/feedback", feedback.post, methods=["POST"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        *Dashboard(
            ledger_url or config.ledger, DashboardAuth(config.server.keys), config.budgets
        ).routes(),
    ]
    fast: dict[str, Handler] = {
        "/v1/chat/completions": gateway.chat_completions,
        "/chat/completions": gateway.chat_completions,
        "/v1/messages": gateway.messages,
        "/v1/route": gateway.route,
    }
    app = GatewayApp(
        fast=fast,
        internal_error=internal_error,
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: internal_error},
    )
    app.state.gateway = gateway
    return app
