"""``state: redis://...``: the shared state of several gateway replicas, wired into one process.

What lives in Redis, and what a request pays for it::

    breakers, failure windows   snapshot refreshed every sync_interval; 0 round trips per request
                                (1 for the half-open probe claim, once per cool-down)
    Retry-After cool-downs      written off the request path; read with the breaker snapshot
    rpm/tpm limits              1-3 round trips, only for deployments that have limits
    budget holds and spend      1 round trip to reserve, 1 to settle, only under a budget
    alert de-duplication        1 SET NX per threshold per period, when a threshold is crossed

Redis is a cache of the truth (the ledger): spend is rebuilt from the ledger at start, every
``rebuild_interval`` and when Redis comes back. See :mod:`hybridllm.state.client` for outages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from hybridllm.config.models import Config
from hybridllm.dispatch.breaker import BreakerSettings
from hybridllm.dispatch.clock import Clock, SystemClock
from hybridllm.dispatch.engine import Dispatcher
from hybridllm.state.breakers import BreakerSync
from hybridllm.state.budgets import RedisBudgetState
from hybridllm.state.client import LINK_ERRORS, RedisLink
from hybridllm.state.limits import SharedDeploymentLimiter

__all__ = ["RedisSharedState", "is_redis_url"]

log = logging.getLogger("hybridllm.state")


def is_redis_url(url: str) -> bool:
    return url.startswith(("redis://", "rediss://"))


class RedisSharedState:
    def __init__(self, config: Config, *, clock: Clock | None = None) -> None:
        self.config = config
        self.options = config.state_options
        self.clock: Clock = clock or SystemClock()
        self.link = RedisLink(config.state, self.options)
        d = config.dispatch
        settings = BreakerSettings(
            d.breaker_window,
            d.breaker_min_calls,
            d.breaker_failure_rate,
            d.breaker_cooldown,
            d.breaker_cooldown_max,
        )
        self.sync = BreakerSync(self.link, settings, self.clock, {})
        hold_ttl = self.options.hold_ttl or max(900.0, 2 * d.deadline)
        self.budgets = RedisBudgetState(self.link, hold_ttl=hold_ttl)
        self.limiter: SharedDeploymentLimiter | None = None
        self._rebuild: asyncio.Task[None] | None = None

    def attach(self, dispatcher: Dispatcher) -> None:
        """Swap the dispatcher's per-process breakers, limiter and cool-downs for shared ones."""
        selector = dispatcher.selector
        d = self.config.dispatch
        for name, dep in self.config.deployments.items():
            probe_ttl = min(dep.timeout.total, d.deadline) + 5.0
            dispatcher.breakers[name] = self.sync.add(name, probe_ttl)  # the selector's dict too
        self.sync.cooling = selector.cooling
        self.limiter = SharedDeploymentLimiter(dict(self.config.deployments), self.link)
        selector.limiter = self.limiter
        selector.on_cooldown = self.sync.note_cooldown

    async def start(self, ledger_spend: Callable[[], Awaitable[dict[str, float]]] | None) -> None:
        self.budgets.ledger_spend = ledger_spend
        try:
            await self.sync.tick()
        except LINK_ERRORS:
            log.error(
                "shared state at redis %s is unreachable at start: serving with per-process "
                "state until it comes back",
                self.link.where,
            )
        self.sync.start()
        if ledger_spend is not None:
            self._rebuild = asyncio.get_running_loop().create_task(self._rebuild_loop())

    async def rebuild_now(self) -> None:
        if self.link.up:
            await self.budgets.rebuild()

    async def _rebuild_loop(self) -> None:
        while True:
            try:
                await self.rebuild_now()
            except LINK_ERRORS:
                pass  # counted by the link; retried on recovery and at the next interval
            except Exception:
                log.exception("rebuilding budget spend from the ledger failed")
            await asyncio.sleep(self.options.rebuild_interval)

    def status(self) -> dict[str, Any]:
        """For ``/readyz``: where each piece of shared state is kept right now."""
        st = self.link.status()
        live = self.sync.live
        fail_open = self.options.budgets_on_outage == "fail_open"
        budgets = "shared" if st.up else ("unchecked (fail open)" if fail_open else "refused")
        per_process = "per-process (fallback)"
        out: dict[str, Any] = {
            "backend": "redis",
            "where": st.where,
            "up": st.up and live,
            "breakers": "shared" if live else per_process,
            "rate_limits": "shared" if st.up else per_process,
            "budgets": budgets,
            "outages": st.outages,
            "errors": st.errors,
            "pending_settles": self.budgets.pending,
        }
        if st.down_since is not None:
            out["down_since"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(st.down_since))
        if st.last_error is not None and not st.up:
            out["last_error"] = st.last_error
        return out

    async def close(self) -> None:
        await self.sync.stop()
        if self._rebuild is not None:
            self._rebuild.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._rebuild
        await self.link.close()
