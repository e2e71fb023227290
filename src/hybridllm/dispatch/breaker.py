"""A circuit breaker per deployment.

Closed: calls pass; outcomes go into a sliding time window, counted in one-second buckets (an
outcome at time t counts while ``floor(t) >= now - window``), so memory stays ~``window`` buckets
whatever the request rate: at 2,000 requests/s a 60 s window of single outcomes held ~12 MB.
Once the window holds at least ``min_calls`` outcomes and the failure share reaches
``failure_rate``, the breaker opens.
Open: no call passes for ``cooldown`` seconds; each time it re-opens without a success in
between, the cool-down doubles, up to ``cooldown_max``.
Half-open (cool-down over): exactly one probe passes; its success closes the breaker (and resets
the cool-down), its failure opens it again. A probe abandoned without an outcome (the caller went
away) frees the slot for the next probe.
Client errors and context-window errors are not failures: dispatch does not report them.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

import msgspec

from hybridllm.dispatch.clock import Clock

__all__ = ["Breaker", "BreakerSettings", "BreakerState", "Ticket"]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    window: float = 60.0
    min_calls: int = 5
    failure_rate: float = 0.5
    cooldown: float = 15.0
    cooldown_max: float = 300.0


class Ticket(msgspec.Struct, frozen=True, gc=False):
    """Leave to make one call; its outcome is reported with it. ``generation`` tells a stale
    outcome (of a call let through before the breaker last changed state) from a current one."""

    generation: int
    probe: bool
    shared: bool = False  # issued from shared state (Redis), reported there


class Breaker:
    def __init__(self, settings: BreakerSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self._buckets: deque[list[int]] = deque()  # [second, calls, failures], oldest first
        self._calls = 0
        self._failures = 0
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._cooldown = settings.cooldown
        self._probe_out = False
        self._generation = 0
        self.opened_count = 0

    @property
    def state(self) -> BreakerState:
        if (
            self._state is BreakerState.OPEN
            and self.clock.now() >= self._opened_at + self._cooldown
        ):
            return BreakerState.HALF_OPEN
        return self._state

    @property
    def retry_in(self) -> float:
        """Seconds until a probe may pass (0 when calls pass now)."""
        if self._state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self._cooldown - self.clock.now())

    def allow(self) -> Ticket | None:
        """Leave for a call now, or None. In half-open, one ticket until the probe reports."""
        state = self.state
        if state is BreakerState.CLOSED:
            return Ticket(self._generation, probe=False)
        if state is BreakerState.OPEN or self._probe_out:
            return None
        self._state = BreakerState.HALF_OPEN
        self._probe_out = True
        self._generation += 1
        return Ticket(self._generation, probe=True)

    async def acquire(self) -> Ticket | None:
        """:meth:`allow`, for dispatch; a shared breaker may ask its store (the half-open probe)."""
        return self.allow()

    def record(self, ticket: Ticket, failed: bool) -> None:
        if ticket.generation != self._generation:
            return  # let through before the breaker last changed state: stale
        now = self.clock.now()
        if ticket.probe:
            self._probe_out = False
            if failed:
                self._cooldown = min(self._cooldown * 2, self.settings.cooldown_max)
                self._open(now)
            else:
                self._state = BreakerState.CLOSED
                self._cooldown = self.settings.cooldown
                self._generation += 1
            return
        second = math.floor(now)
        buckets = self._buckets
        if buckets and buckets[-1][0] == second:
            bucket = buckets[-1]
            bucket[1] += 1
            bucket[2] += failed
        else:
            buckets.append([second, 1, int(failed)])
        self._calls += 1
        self._failures += failed
        self._expire(now)
        total = self._calls
        if (
            total >= self.settings.min_calls
            and self._failures / total >= self.settings.failure_rate
        ):
            self._open(now)

    def abandon(self, ticket: Ticket) -> None:
        """The call ended without an outcome; a probe's slot goes to the next caller."""
        if ticket.probe and ticket.generation == self._generation and self._probe_out:
            self._probe_out = False

    def _open(self, now: float) -> None:
        self._generation += 1
        self._state = BreakerState.OPEN
        self._opened_at = now
        self._buckets.clear()
        self._calls = 0
        self._failures = 0
        self.opened_count += 1

    def _expire(self, now: float) -> None:
        horizon = now - self.settings.window
        buckets = self._buckets
        while buckets and buckets[0][0] < horizon:
            _, calls, failures = buckets.popleft()
            self._calls -= calls
            self._failures -= failures
