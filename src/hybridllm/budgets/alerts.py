"""Budget alerts: a log line always, and a webhook POST sent off the request path with retries."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

import aiohttp
import orjson

from hybridllm.budgets.periods import Period
from hybridllm.config.models import Budget
from hybridllm.redact import redact

__all__ = ["WebhookAlerts"]

log = logging.getLogger("hybridllm.budgets")


class WebhookAlerts:
    """Queue alerts from any thread; one task posts them, retrying with backoff, never blocking."""

    def __init__(self, url: str, session: aiohttp.ClientSession, *, attempts: int = 4) -> None:
        self.url = url
        self.session = session
        self.attempts = attempts
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.sent = 0
        self.failed = 0
        self._task = self.loop.create_task(self._run())

    def __call__(
        self, budget: Budget, period: Period, spent: float, limit: float, at: float
    ) -> None:
        body = orjson.dumps(
            {
                "budget": budget.cost_center or budget.key,
                "scope": "cost_center" if budget.cost_center else "key",
                "period": period,
                "spent": round(spent, 6),
                "limit": limit,
                "threshold": at,
                "action": budget.action,
            }
        )
        self.loop.call_soon_threadsafe(self.queue.put_nowait, body)

    async def _run(self) -> None:
        while True:
            body = await self.queue.get()
            try:
                await self._send(body)
            finally:
                self.queue.task_done()

    async def _send(self, body: bytes) -> None:
        delay = 0.2
        for attempt in range(1, self.attempts + 1):
            try:
                async with self.session.post(
                    self.url,
                    data=body,
                    headers={"content-type": "application/json"},
                    timeout=aiohttp.ClientTimeout(total=10),
                ) as resp:
                    if resp.status < 300:
                        self.sent += 1
                        return
                    problem = f"status {resp.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = type(exc).__name__
            if attempt < self.attempts:
                await asyncio.sleep(random.uniform(0, delay))
                delay *= 2
        self.failed += 1
        log.error(
            "budget alert webhook failed after %d attempts: %s", self.attempts, redact(problem)
        )

    async def drain(self, seconds: float = 5.0) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.queue.join()

    async def close(self) -> None:
        await self.drain()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
