"""Per-deployment rpm/tpm limits shared by every replica: the ``limits`` library's moving window
in Redis (its own atomic Lua scripts), through this process's connection pool.

A deployment without limits costs no round trip. While Redis is down the per-process limiter of
:class:`~hybridllm.dispatch.limiter.DeploymentLimiter` takes over, each process allowed
``limit / state_options.fallback_replicas``.
"""

from __future__ import annotations

from typing import Any

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from hybridllm.config.models import Deployment
from hybridllm.dispatch.limiter import DeploymentLimiter
from hybridllm.state.client import LINK_ERRORS, RedisLink

__all__ = ["SharedDeploymentLimiter"]


class SharedDeploymentLimiter(DeploymentLimiter):
    def __init__(self, deployments: dict[str, Deployment], link: RedisLink) -> None:
        super().__init__(deployments, share=link.options.fallback_replicas)
        self.link = link
        pool: dict[str, Any] = {"connection_pool": link.pool}  # this process's, with timeouts
        self.storage = RedisStorage(
            "async+redis://", implementation="redispy", key_prefix=f"{link.prefix}limits", **pool
        )
        self.shared = MovingWindowRateLimiter(self.storage)
        self.rpm: dict[str, RateLimitItem] = {
            n: RateLimitItemPerMinute(d.limits.rpm) for n, d in deployments.items() if d.limits.rpm
        }
        self.tpm: dict[str, RateLimitItem] = {
            n: RateLimitItemPerMinute(d.limits.tpm) for n, d in deployments.items() if d.limits.tpm
        }
        self.fallbacks = 0  # decisions taken per process because Redis was down

    async def acquire(self, name: str, tokens: int) -> bool:
        if not self.limited(name):
            return True
        if not self.link.up:
            self.fallbacks += 1
            return self.admit(name, tokens)
        try:
            return await self._shared(name, max(1, tokens))
        except LINK_ERRORS:
            self.fallbacks += 1
            return self.admit(name, tokens)

    async def _shared(self, name: str, tokens: int) -> bool:
        rpm, tpm, lim = self.rpm.get(name), self.tpm.get(name), self.shared
        if tpm is not None and not await self.link.call(lim.test, tpm, name, "tpm", cost=tokens):
            return False
        if rpm is not None and not await self.link.call(lim.hit, rpm, name, "rpm"):
            return False
        return tpm is None or await self.link.call(lim.hit, tpm, name, "tpm", cost=tokens)
