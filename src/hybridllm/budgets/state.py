"""Where budget counters live. One process: memory. Several replicas: a shared store.

The contract is one atomic step each: ``try_reserve`` checks every limit and reserves in all of
them or in none, returning a hold id (None: over a limit); ``settle`` turns the hold into spend;
``release`` drops it. Shared stores give holds a time to live, so a crashed process's holds
expire instead of shrinking the budget forever.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

__all__ = ["BudgetState", "Counter", "Limit", "MemoryBudgetState"]


@dataclass(frozen=True, slots=True)
class Limit:
    """One budget in one period: ``key`` is e.g. ``cost_center:research:daily:2026-11-23``."""

    key: str
    limit_usd: float


@dataclass(slots=True)
class Counter:
    spent: float = 0.0
    reserved: float = 0.0


class BudgetState(Protocol):
    async def try_reserve(
        self, limits: list[Limit], amount: float, *, force: bool = False
    ) -> str | None: ...

    async def settle(self, hold: str, keys: list[str], reserved: float, actual: float) -> None: ...

    async def release(self, hold: str, keys: list[str], reserved: float) -> None: ...

    async def counter(self, key: str) -> Counter: ...

    async def seed_spent(self, key: str, spent: float) -> None: ...

    async def close(self) -> None: ...


class MemoryBudgetState:
    """Counters in this process, guarded by one lock (reservations come from any thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, Counter] = {}

    def _get(self, key: str) -> Counter:
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = Counter()
        return counter

    async def try_reserve(
        self, limits: list[Limit], amount: float, *, force: bool = False
    ) -> str | None:
        with self._lock:
            counters = [self._get(limit.key) for limit in limits]
            if not force:
                for limit, c in zip(limits, counters, strict=True):
                    if c.spent + c.reserved + amount > limit.limit_usd + 1e-12:
                        return None
            for c in counters:
                c.reserved += amount
            return "memory"

    async def settle(self, hold: str, keys: list[str], reserved: float, actual: float) -> None:
        with self._lock:
            for key in keys:
                c = self._get(key)
                c.reserved = max(0.0, c.reserved - reserved)
                c.spent += actual

    async def release(self, hold: str, keys: list[str], reserved: float) -> None:
        await self.settle(hold, keys, reserved, 0.0)

    async def counter(self, key: str) -> Counter:
        with self._lock:
            c = self._get(key)
            return Counter(c.spent, c.reserved)

    async def seed_spent(self, key: str, spent: float) -> None:
        with self._lock:
            self._get(key).spent = spent

    async def close(self) -> None:
        return None
