"""One process's moving parts: the pooled HTTP session, the ledger writer, the dispatcher.

The library (``Router.acomplete``), the CLI's ``ask`` and the gateway all run requests through
a :class:`Runtime`. It is bound to the event loop it was started on.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import aiohttp

from hybridllm.budgets import Admission, BudgetManager, BudgetState, MemoryBudgetState
from hybridllm.budgets.alerts import WebhookAlerts
from hybridllm.budgets.postgres import PostgresBudgetState
from hybridllm.budgets.seed import spend_from_ledger
from hybridllm.dispatch.clock import Clock
from hybridllm.dispatch.engine import Dispatcher
from hybridllm.dispatch.record import CallContext
from hybridllm.dispatch.result import Completion, StreamMeta
from hybridllm.features.extract import Hints
from hybridllm.ledger import LedgerWriter, open_store
from hybridllm.ledger.open import open_spool
from hybridllm.router import Plan, RequestLike, Router
from hybridllm.types import ChatChunk

if TYPE_CHECKING:
    from hybridllm.learned.observer import Learning
    from hybridllm.state.shared import RedisSharedState

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
        self.budgets: BudgetManager | None = None
        self.alerts: WebhookAlerts | None = None
        self.shared: RedisSharedState | None = None  # state: redis://... (several replicas)
        self.learning: Learning | None = None  # learning.record / judge (docs/learning.md)

    async def start(self) -> Runtime:
        if self.dispatcher is not None:
            return self
        self.loop = asyncio.get_running_loop()
        url = self.ledger_url
        spool = open_spool(url) if self.durable else None
        writer = LedgerWriter(lambda: open_store(url), spool=spool)
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
        if self.router.config.state.startswith(("redis://", "rediss://")):
            from hybridllm.state.shared import RedisSharedState

            self.shared = RedisSharedState(self.router.config, clock=self.clock)
            self.shared.attach(self.dispatcher)
        if self.router.config.budgets:
            await self._start_budgets()
        elif self.shared is not None:
            await self.shared.start(None)
        if any(d.warm_up for d in self.router.config.deployments.values()):
            from hybridllm.providers.local_start import warm_up_local

            await warm_up_local(self.router.config.deployments.values(), self.session)
        if self.router.config.learning.observes:
            from hybridllm.learned.observer import Learning

            self.learning = await Learning(self).start()
        return self

    async def _start_budgets(self) -> None:
        assert self.session is not None
        config = self.router.config
        if config.alerts.webhook:
            self.alerts = WebhookAlerts(config.alerts.webhook, self.session)
        if self.shared is not None:
            shared = self.shared
            self.budgets = BudgetManager(
                config,
                self.router.rates,
                shared.budgets,
                on_alert=self.alerts,
                claim_alert=shared.budgets.claim_alert,
            )
            # Redis is a cache of the truth: spend is rebuilt from the ledger at start, on a
            # schedule and whenever Redis comes back (see hybridllm.state.shared).
            await shared.start(self._ledger_spend)
            return
        state: BudgetState = MemoryBudgetState()
        if config.state.startswith(("postgresql://", "postgres://")):
            state = await PostgresBudgetState(config.state).open()
        self.budgets = BudgetManager(config, self.router.rates, state, on_alert=self.alerts)
        # The ledger is the truth: counters start from the spend it records.
        for key, spent in (await self._ledger_spend()).items():
            await self.budgets.state.seed_spent(key, spent)

    async def _ledger_spend(self) -> dict[str, float]:
        """Each budget counter's spend in its current period, summed from the ledger."""
        assert self.writer is not None and self.budgets is not None
        budgets, url = self.budgets, self.ledger_url
        await asyncio.to_thread(self.writer.flush)
        return await asyncio.to_thread(spend_from_ledger, budgets, lambda: open_store(url))

    async def close(self) -> None:
        if self.learning is not None:
            learning, self.learning = self.learning, None
            await learning.close()
        if self.alerts is not None:
            await self.alerts.close()
            self.alerts = None
        if self.budgets is not None:
            await self.budgets.state.close()
            self.budgets = None
        if self.shared is not None:
            shared, self.shared = self.shared, None
            await shared.close()
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

    async def admit(self, plan: Plan, ctx: CallContext) -> Admission:
        """Budget admission (may downgrade the plan or raise BudgetExceededError)."""
        if self.budgets is None:
            return Admission(None, plan)
        return await self.budgets.admit(plan, ctx.cost_center, ctx.key_name)

    async def complete(
        self, request: RequestLike, hints: Hints | None = None, *, request_id: str | None = None
    ) -> Completion:
        plan = self.router.plan(request, hints)
        return await self.complete_plan(plan, self._context(plan, request_id))

    async def complete_plan(self, plan: Plan, ctx: CallContext) -> Completion:
        dispatcher = self._ready()
        if self.budgets is None:  # the hot path without budgets: nothing to reserve
            done = await dispatcher.complete(plan, ctx)
            if self.learning is not None:
                self.learning.observe(plan, done)
            return done
        admission = await self.admit(plan, ctx)
        try:
            done = await dispatcher.complete(admission.plan, ctx)
        except BaseException:
            await asyncio.shield(admission.release())
            raise
        await asyncio.shield(admission.settle(done.cost_usd))
        if self.learning is not None:
            self.learning.observe(admission.plan, done)
        return done

    async def stream_plan(
        self, plan: Plan, ctx: CallContext, meta: StreamMeta
    ) -> AsyncIterator[ChatChunk]:
        dispatcher = self._ready()
        if self.budgets is None:
            async for chunk in dispatcher.stream(plan, ctx, meta):
                yield chunk
            if self.learning is not None:
                self.learning.observe_stream(meta)
            return
        admission = await self.admit(plan, ctx)
        meta.decision = admission.plan.decision
        ok = False
        try:
            async for chunk in dispatcher.stream(admission.plan, ctx, meta):
                yield chunk
            ok = True
            if self.learning is not None:
                self.learning.observe_stream(meta)
        finally:
            if meta.rows and (ok or meta.usage is not None):
                await asyncio.shield(admission.settle(meta.cost_usd))
            else:
                await asyncio.shield(admission.release())

    async def stream(
        self, request: RequestLike, hints: Hints | None = None, *, request_id: str | None = None
    ) -> tuple[StreamMeta, AsyncIterator[ChatChunk]]:
        self._ready()
        plan = self.router.plan(request, hints)
        ctx = self._context(plan, request_id)
        meta = StreamMeta(ctx.request_id, plan.decision)
        return meta, self.stream_plan(plan, ctx, meta)
