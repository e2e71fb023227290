"""B: the practical limit. The same stack as hybridllm (starlette + uvicorn with uvloop and
httptools + one pooled aiohttp session) forwarding bytes with no logic at all.

    python bench/gateway/passthrough.py --port 8401 --upstream http://127.0.0.1:8410
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


def make_app(upstream: str) -> Starlette:
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

    return Starlette(routes=[Route("/{path:path}", forward, methods=["POST"])], lifespan=lifespan)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", required=True)
    a = p.parse_args()
    uvicorn.run(
        make_app(a.upstream.rstrip("/")),
        host="127.0.0.1",
        port=a.port,
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
