"""A streaming ASGI response that cancels its producer when the client goes away.

Starlette's ``StreamingResponse`` does the same with an anyio task group; this one uses a single
watcher task on ``receive()`` that cancels the task sending the stream. The cancellation lands in
the body iterator's ``await`` on the upstream, so dispatch closes the upstream stream and writes its
ledger row (status ``partial``, error class ``ClientDisconnected``). ``on_close`` then runs with
whether the client left, for metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

__all__ = ["SSEResponse"]


class SSEResponse(Response):
    # Response's own __init__ renders a body; this one streams.
    def __init__(
        self,
        stream: AsyncIterator[bytes],
        headers: Mapping[str, str],
        on_close: Callable[[bool], None],
    ) -> None:
        self.status_code = 200
        self.background = None
        self.body = b""
        self.stream = stream
        self.on_close = on_close
        raw = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]
        raw += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.raw_headers = raw
        self.disconnected = False
        self._done = False

    async def _watch(self, receive: Receive, task: asyncio.Task[object]) -> None:
        while True:
            message: Message = await receive()
            if message["type"] == "http.disconnect":
                if not self._done:
                    self.disconnected = True
                    task.cancel()
                return

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        watcher = asyncio.get_running_loop().create_task(self._watch(receive, task))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            async for piece in self.stream:
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            self._done = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not self.disconnected:
                raise
            task.uncancel()  # the client left: not an error of ours
        except OSError:
            self.disconnected = True
        finally:
            self._done = True
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            aclose = getattr(self.stream, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
            self.on_close(self.disconnected)
