"""B: the practical limit. The same stack as hybridllm (starlette + uvicorn with uvloop and
httptools + one pooled aiohttp session) forwarding bytes with no logic at all.

    python bench/gateway/passthrough.py --port 8401 --upstream http://127.0.0.1:8410
    python bench/gateway/passthrough.py ... --routing starlette    # B-starlette

B serves a POST the way hybridllm serves its model routes: straight to the handler, with
starlette's ``Request`` and ``Response`` but not its middleware stack or router. B-starlette
(what B was until 2026-12-06) is the same handler in an ordinary Starlette app, which costs
~20-30 us more per request than the path C takes, so C / B-starlette flatters C.
"""

from __future__ import annotations

import argparse
from contextlib import asynccontextmanager

import aiohttp
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send


def make_app(upstream: str, routing: str = "direct") -> ASGIApp:
    """``routing="direct"`` (B): POSTs skip Starlette's middleware and router, as hybridllm's
    model routes do; ``"starlette"`` (B-starlette, B until 2026-12-06): an ordinary Starlette
    app, every request through its middleware stack and a ``{path:path}`` route."""
    state: dict[str, aiohttp.ClientSession] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30)
        state["s"] = aiohttp.ClientSession(connector=connector)
        yield
        await state["s"].close()

    async def forward(request: Request) -> Response:
        body = await request.body()
        headers = {"content-type": "application/json"}
        accept = request.headers.get("accept")
        if accept:
            headers["accept"] = accept
        resp = await state["s"].post(upstream + request.url.path, data=body, headers=headers)
        ctype = resp.headers.get("content-type", "application/json")
        if ctype.startswith("text/event-stream"):

            async def pieces():  # type: ignore[no-untyped-def]
                try:
                    async for chunk in resp.content.iter_any():
                        yield chunk
                finally:
                    resp.release()

            return StreamingResponse(pieces(), resp.status, media_type=ctype)
        data = await resp.read()
        resp.release()
        return Response(data, resp.status, media_type=ctype)

    app = Starlette(routes=[Route("/{path:path}", forward, methods=["POST"])], lifespan=lifespan)
    if routing == "starlette":
        return app

    async def direct(scope: Scope, receive: Receive, send: Send) -> None:
        # as hybridllm's GatewayApp serves its model routes: a POST goes straight to the
        # handler with starlette's Request and Response, off the middleware stack and router
        if scope["type"] == "http" and scope["method"] == "POST":
            response = await forward(Request(scope, receive, send))
            await response(scope, receive, send)
            return
        await app(scope, receive, send)

    return direct


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--routing", choices=("direct", "starlette"), default="direct")
    a = p.parse_args()
    run(make_app(a.upstream.rstrip("/"), a.routing), a.port)


def run(app: ASGIApp, port: int) -> None:
    """uvicorn as B runs it (floor.py's F-uvicorn variants too)."""
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        ws="none",
        lifespan="on",
        access_log=False,
        log_level="warning",
        server_header=False,
    )


if __name__ == "__main__":
    main()
