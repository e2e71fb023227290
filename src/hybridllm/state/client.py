"""The Redis connection of one process: a pooled ``redis.asyncio`` client with socket timeouts on
every call, and the health of the link (up, or down since when and why).

Every shared-state call goes through :meth:`RedisLink.call`, which marks the link down on a
connection error or a timeout and up again on the next success. While the link is down, the
sync loop (:mod:`hybridllm.state.breakers`) probes it every ``sync_interval``; recovery is
automatic and runs the ``on_recover`` hooks (spend rebuilt from the ledger, for instance).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from hybridllm.config.models import StateOptions
from hybridllm.redact import redact

__all__ = ["LINK_ERRORS", "LinkStatus", "RedisLink"]

log = logging.getLogger("hybridllm.state")
T = TypeVar("T")

# What counts as "Redis is unreachable" (as opposed to a bug in a script): timeouts, refused or
# dropped connections, a server still loading its data after a restart.
LINK_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    TimeoutError,
    OSError,
)


@dataclass(frozen=True, slots=True)
class LinkStatus:
    up: bool
    where: str  # host:port/db, never a password
    down_since: float | None  # wall time
    last_error: str | None
    errors: int  # calls that failed since start
    outages: int  # times the link went down since start


class RedisLink:
    def __init__(self, url: str, options: StateOptions) -> None:
        parts = urlsplit(url)
        self.where = f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}{parts.path or ''}"
        self.options = options
        self.prefix = options.key_prefix
        # A blocking pool: at max_connections a call waits for a free connection (a burst of
        # requests), up to pool_timeout, instead of failing at once.
        self.pool_timeout = max(1.0, 4 * options.socket_timeout)
        self.pool: aioredis.ConnectionPool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=options.max_connections,
            timeout=self.pool_timeout,
            socket_timeout=options.socket_timeout,
            socket_connect_timeout=options.connect_timeout,
            health_check_interval=30,
            retry=Retry(NoBackoff(), 1),  # one quick retry (a pooled socket Redis closed), no waits
        )
        self.client: aioredis.Redis = aioredis.Redis(connection_pool=self.pool)
        self.up = True  # optimistic until the first call says otherwise
        self.down_since: float | None = None
        self.last_error: str | None = None
        self.errors = 0
        self.outages = 0
        self.on_recover: list[Callable[[], Awaitable[None]]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def status(self) -> LinkStatus:
        return LinkStatus(
            self.up, self.where, self.down_since, self.last_error, self.errors, self.outages
        )

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run one Redis command or script; a link failure marks the link down and re-raises."""
        try:
            limit = self.pool_timeout + self.options.connect_timeout + self.options.socket_timeout
            async with asyncio.timeout(limit):
                result = await fn(*args, **kwargs)
        except LINK_ERRORS as exc:
            self.failed(exc)
            raise
        self.succeeded()
        return result

    def failed(self, exc: BaseException) -> None:
        self.errors += 1
        self.last_error = redact(f"{type(exc).__name__}: {exc}")[:300]
        if self.up:
            self.up = False
            self.down_since = time.time()
            self.outages += 1
            log.error(
                "shared state at redis %s is unreachable (%s): budgets %s, breakers and rate "
                "limits fall back to per-process state until it returns",
                self.where,
                self.last_error,
                "are refused (fail closed)"
                if self.options.budgets_on_outage == "fail_closed"
                else "are let through UNCHECKED (fail open)",
            )

    def succeeded(self) -> None:
        if self.up:
            return
        self.up = True
        down = time.time() - (self.down_since or time.time())
        self.down_since = None
        log.warning("shared state at redis %s is back after %.1fs", self.where, down)
        for hook in self.on_recover:
            task = asyncio.get_running_loop().create_task(self._run_hook(hook))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run_hook(self, hook: Callable[[], Awaitable[None]]) -> None:
        try:
            await hook()
        except LINK_ERRORS as exc:
            log.warning("after redis recovered, a catch-up step failed: %s", redact(str(exc)))
        except Exception:
            log.exception("after redis recovered, a catch-up step failed")

    def spawn(self, coro: Awaitable[None]) -> None:
        """Run a write off the request path; failures only mark the link."""

        async def run() -> None:
            with contextlib.suppress(*LINK_ERRORS):  # already counted by call()
                await coro

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.client.aclose()
        await self.pool.disconnect()
