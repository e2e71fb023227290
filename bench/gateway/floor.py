"""F: what Python itself allows. A reference for the benchmark, not a product: a pass-through
written straight on asyncio protocols with httptools on both sides (no ASGI server, no
framework, no aiohttp), so that the cost of the stack hybridllm is built on (B) can be told
apart from the cost of Python, uvloop and the loopback hops.

    python bench/gateway/floor.py --port 8402 --upstream http://127.0.0.1:8410
    python bench/gateway/floor.py ... --client aiohttp     # F-aiohttp: same server, aiohttp out
    python bench/gateway/floor.py ... --server uvicorn     # F-uvicorn: a bare ASGI app in uvicorn

The four combinations (targets F, F-aiohttp, F-uvicorn, F-uvicorn-aiohttp) split B's cost into
its server, its client and Starlette (B minus F-uvicorn-aiohttp).

It speaks just enough HTTP/1.1 for the harness: keep-alive, a Content-Length or chunked body
either way, answers re-framed with Content-Length (so it buffers an SSE stream whole: the
streaming phase skips it). Anything else is out of scope.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, cast
from urllib.parse import urlsplit

import aiohttp
import httptools
import passthrough
import uvloop

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class _Upstream(asyncio.Protocol):
    """One keep-alive connection to the upstream, one request at a time."""

    def __init__(self, pool: RawPool) -> None:
        self.pool = pool
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.parts: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        self.parts.append(body)

    def on_message_complete(self) -> None:
        waiter, self.waiter = self.waiter, None
        body, self.parts = b"".join(self.parts), []
        self.pool.idle.append(self)
        if waiter is not None and not waiter.done():
            waiter.set_result((self.parser.get_status_code(), body))

    def connection_lost(self, exc: Exception | None) -> None:
        if self in self.pool.idle:
            self.pool.idle.remove(self)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("upstream closed the connection"))


class RawPool:
    """Keep-alive connections to one upstream, written with httptools."""

    def __init__(self, upstream: str) -> None:
        u = urlsplit(upstream)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 80
        self.idle: list[_Upstream] = []

    async def post(self, path: bytes, body: bytes) -> tuple[int, bytes]:
        loop = asyncio.get_running_loop()
        if self.idle:
            conn = self.idle.pop()
        else:
            _, conn = await loop.create_connection(lambda: _Upstream(self), self.host, self.port)
        assert conn.transport is not None
        conn.waiter = loop.create_future()
        head = b"POST %s HTTP/1.1\r\nhost: %s\r\ncontent-type: application/json\r\n" % (
            path,
            self.host.encode(),
        )
        conn.transport.write(head + b"content-length: %d\r\n\r\n" % len(body) + body)
        return await conn.waiter

    async def close(self) -> None:
        for conn in self.idle:
            if conn.transport is not None:
                conn.transport.close()


class AiohttpPool:
    """The same calls through one pooled aiohttp session, as B and hybridllm make them."""

    def __init__(self, upstream: str) -> None:
        self.base = upstream
        self.session: aiohttp.ClientSession | None = None

    async def post(self, path: bytes, body: bytes) -> tuple[int, bytes]:
        if self.session is None:
            connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30)
            self.session = aiohttp.ClientSession(connector=connector)
        headers = {"content-type": "application/json"}
        resp = await self.session.post(self.base + path.decode(), data=body, headers=headers)
        data = await resp.read()
        resp.release()
        return resp.status, data

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


Pool = RawPool | AiohttpPool


def make_pool(upstream: str, client: str) -> Pool:
    return RawPool(upstream) if client == "raw" else AiohttpPool(upstream)


async def forward(pool: Pool, path: bytes, body: bytes) -> tuple[int, bytes]:
    """The upstream's status and body; 502 when it cannot be reached."""
    try:
        return await pool.post(path, body)
    except (OSError, aiohttp.ClientError):
        return 502, b'{"error":"upstream"}'


class _Inbound(asyncio.Protocol):
    """One client connection: parse requests, forward each, answer in order."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.parts: list[bytes] = []
        self.last: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_body(self, body: bytes) -> None:
        self.parts.append(body)

    def on_message_complete(self) -> None:
        body, self.parts = b"".join(self.parts), []
        self.last = asyncio.get_running_loop().create_task(self._answer(self.url, body, self.last))

    async def _answer(self, url: bytes, body: bytes, before: asyncio.Task[None] | None) -> None:
        status, data = await forward(self.pool, url, body)
        if before is not None:  # a pipelined request answers after the one before it
            await before
        if self.transport is not None and not self.transport.is_closing():
            head = b"HTTP/1.1 %d OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            self.transport.write(head % (status, len(data)) + b"\r\n" + data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


def asgi_app(pool: Pool) -> Callable[..., Awaitable[None]]:
    """The same pass-through as a bare ASGI app (no framework), for uvicorn."""

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await pool.close()
            await send({"type": "lifespan.shutdown.complete"})
            return
        parts = []
        while True:
            message = await receive()
            parts.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        status, data = await forward(pool, scope["path"].encode(), b"".join(parts))
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    return app


async def serve(port: int, pool: Pool) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Inbound(pool), "127.0.0.1", port, backlog=2048)
    try:
        await server.serve_forever()
    finally:
        await pool.close()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--client", choices=("raw", "aiohttp"), default="raw")
    p.add_argument("--server", choices=("raw", "uvicorn"), default="raw")
    a = p.parse_args()
    pool = make_pool(a.upstream.rstrip("/"), a.client)
    if a.server == "raw":
        uvloop.run(serve(a.port, pool))
        return
    passthrough.run(asgi_app(pool), a.port)  # uvicorn as B runs it


if __name__ == "__main__":
    main()
