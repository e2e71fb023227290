"""Per-deployment rpm/tpm limits, with the ``limits`` library's moving windows (in memory).

Several replicas share them in Redis: :class:`hybridllm.state.limits.SharedDeploymentLimiter`
overrides :meth:`DeploymentLimiter.acquire` and falls back to this per-process limiter (each
process then gets ``limit / share``) while Redis is down.
"""

from __future__ import annotations

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from hybridllm.config.models import Deployment

__all__ = ["DeploymentLimiter"]


class DeploymentLimiter:
    """``admit(name, tokens)`` takes one request and ``tokens`` from the deployment's minute."""

    def __init__(self, deployments: dict[str, Deployment], *, share: int = 1) -> None:
        self._storage = MemoryStorage()
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._rpm = {
            n: RateLimitItemPerMinute(max(1, d.limits.rpm // share))
            for n, d in deployments.items()
            if d.limits.rpm
        }
        self._tpm = {
            n: RateLimitItemPerMinute(max(1, d.limits.tpm // share))
            for n, d in deployments.items()
            if d.limits.tpm
        }

    def limited(self, name: str) -> bool:
        return name in self._rpm or name in self._tpm

    async def acquire(self, name: str, tokens: int) -> bool:
        """:meth:`admit`, for dispatch; a shared limiter asks its store."""
        return self.admit(name, tokens)

    def admit(self, name: str, tokens: int) -> bool:
        rpm = self._rpm.get(name)
        tpm = self._tpm.get(name)
        if rpm is None and tpm is None:
            return True
        if tpm is not None and not self._limiter.test(tpm, name, "tpm", cost=max(1, tokens)):
            return False
        if rpm is not None and not self._limiter.hit(rpm, name, "rpm"):
            return False
        return tpm is None or self._limiter.hit(tpm, name, "tpm", cost=max(1, tokens))
