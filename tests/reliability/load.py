"""A client load that keeps going through gateway crashes and records every complete reply.

A reply is *complete* when the caller got all of it: a 200 with a JSON body, or a stream that
ended with its terminal event (``[DONE]`` / ``message_stop``) and no error event. Its
``x-request-id`` is what the ledger must hold afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field

import aiohttp
import orjson

from .harness import CHAT, MESSAGES, anthropic_body, anthropic_stream, chat_body, openai_stream

KINDS = ("openai", "openai-stream", "anthropic", "anthropic-stream")


@dataclass
class Received:
    request_id: str
    kind: str
    cost_usd: str | None


@dataclass
class LoadStats:
    received: list[Received] = field(default_factory=list)
    failed: int = 0  # connection refused/reset, a non-200, a broken stream: never recorded
    sent: int = 0


async def one_request(
    session: aiohttp.ClientSession, url: str, kind: str, text: str
) -> Received | None:
    """Send one request of ``kind``; the complete reply, or None (an error of any kind)."""
    stream = kind.endswith("-stream")
    if kind.startswith("openai"):
        path, body = CHAT, chat_body(text, stream=stream)
    else:
        path, body = MESSAGES, anthropic_body(text, stream=stream)
    headers = {"content-type": "application/json"}
    async with session.post(url + path, data=body, headers=headers) as resp:
        payload = await resp.read()
        rid = resp.headers.get("x-request-id")
        if resp.status != 200 or rid is None:
            return None
        if stream:
            shape = (
                openai_stream(payload) if kind.startswith("openai") else anthropic_stream(payload)
            )
            if not shape.complete:
                return None
        else:
            data = orjson.loads(payload)
            if kind == "openai" and not data["choices"][0]["message"]["content"]:
                return None
            if kind == "anthropic" and data.get("type") != "message":
                return None
        return Received(rid, kind, resp.headers.get("x-hybridllm-cost-usd"))


class Load:
    """``workers`` tasks sending requests to ``url`` until :meth:`stop`; errors are counted."""

    def __init__(self, url: str, workers: int, seed: int) -> None:
        self.url = url
        self.workers = workers
        self.rng = random.Random(seed)
        self.stats = LoadStats()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Load:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=90))
        self._tasks = [asyncio.create_task(self._worker(i)) for i in range(self.workers)]
        return self

    async def _worker(self, n: int) -> None:
        assert self._session is not None
        i = 0
        while not self._stop.is_set():
            i += 1
            kind = self.rng.choice(KINDS)
            self.stats.sent += 1
            got: Received | None = None
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError, ValueError):
                got = await one_request(self._session, self.url, kind, f"crash load {n}-{i}")
            if got is None:
                self.stats.failed += 1
                await asyncio.sleep(0.1)  # the gateway is down or restarting
            else:
                self.stats.received.append(got)

    async def stop(self) -> None:
        """Let every in-flight request finish (bounded by the client timeout), then stop."""
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        if self._session is not None:
            await self._session.close()
