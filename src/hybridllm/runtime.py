"""One process's moving parts: the pooled HTTP session, the ledger writer, the dispatcher.

The library (``Router.acomplete``), the CLI's ``ask`` and the gateway all run requests through
a :class:`Runtime`. It is bound to the event loop it was started on.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aiohttp

from hybridllm.dispatch.clock import Clock
from hybridllm.dispatch.engine import Dispatcher
from hybridllm.dispatch.record import CallContext
from hybridllm.dispatch.result import Completion, StreamMeta
from hybridllm.features.extract import Hints
from hybridllm.ledger import LedgerWriter, open_store
from hybridllm.router import Plan, RequestLike, Router
from hybridllm.types import ChatChunk

__all__ = ["Runtime", "new_request_id"]


def new_request_id() -> str:
    return uuid.uuid4().hex


class Runtime:
    def __init__(
        self,
        router: Router,
        *,
        ledger_url: str | None = None,
        clock: Clock | None = None,
        durable: bool = True,
    ) -> None:
        self.router = router
        self.ledger_url = ledger_url or router.config.ledger
        self.clock = clock
        self.durable = durable
        self.session: aiohttp.ClientSession | None = None
        self.writer: LedgerWriter | None = None
        self.dispatcher: Dispatcher | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> Runtime:
        if self.dispatcher is not None:
            return self
        self.loop = asyncio.get_running_loop()
        url = self.ledger_url
        writer = LedgerWriter(lambda: open_store(url))
        await asyncio.to_thread(writer.start)
        self.writer = writer
        connector = aiohttp.TCPConnector(
            limit=0, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=30
        )
        self.session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=None)
        )
        self.dispatcher = Dispatcher(
            self.router, self.session, writer, clock=self.clock, durable=self.durable
        )
        return self

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None
        if self.writer is not None:
            writer, self.writer = self.writer, None
            await asyncio.to_thread(writer.close)
        self.dispatcher = None

    async def __aenter__(self) -> Runtime:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def _ready(self) -> Dispatcher:
        if self.dispatcher is None:
            raise RuntimeError("Runtime.start() has not been awaited")
        return self.dispatcher

    def _context(self, plan: Plan, request_id: str | None) -> CallContext:
        f = plan.decision.features
        return CallContext(request_id or new_request_id(), f.cost_center, f.key_name)

    async def complete(
        self, request: RequestLike, hints: Hints | None = None, *, request_id: str | None = None
    ) -> Completion:
        dispatcher = self._ready()
        plan = self.router.plan(request, hints)
        return await dispatcher.complete(plan, self._context(plan, request_id))

    async def complete_plan(self, plan: Plan, ctx: CallContext) -> Completion:
        return await self._ready().complete(plan, ctx)

    def stream_plan(
        self, plan: Plan, ctx: CallContext, meta: StreamMeta
    ) -> AsyncIterator[ChatChunk]:
        return self._ready().stream(plan, ctx, meta)

    async def stream(
        self, request: RequestLike, hints: Hints | None = None, *, request_id: str | None = None
    ) -> tuple[StreamMeta, AsyncIterator[ChatChunk]]:
        dispatcher = self._ready()
        plan = self.router.plan(request, hints)
        ctx = self._context(plan, request_id)
        meta = StreamMeta(ctx.request_id, plan.decision)
        return meta, dispatcher.stream(plan, ctx, meta)
