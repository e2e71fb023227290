"""Circuit breakers and Retry-After cool-downs shared by every replica, through Redis.

A request never waits on Redis for a closed or open breaker: :class:`SharedBreaker` answers from
a snapshot that :class:`BreakerSync` refreshes every ``sync_interval`` (0.2 s by default), in one
round trip for all deployments that also carries the outcomes recorded since the last one. The
script (:data:`hybridllm.state.breaker_scripts.SYNC`) adds them to the shared failure window and
opens the breaker for everyone once the failure share is reached. Only the half-open probe asks
Redis on the request path: one replica wins it (``SET NX`` with the probe's time limit as TTL, so
a replica that dies holding it frees it).

While Redis is down, or the snapshot is stale, each breaker is its own per-process
:class:`~hybridllm.dispatch.breaker.Breaker` (fed every outcome all along, so it is warm).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from hybridllm.dispatch.breaker import Breaker, BreakerSettings, BreakerState, Ticket
from hybridllm.dispatch.clock import Clock
from hybridllm.state.breaker_scripts import ABANDON, CLAIM, COOL, OUTCOME, SYNC
from hybridllm.state.client import LINK_ERRORS, RedisLink

__all__ = ["BreakerSync", "SharedBreaker"]

log = logging.getLogger("hybridllm.state")


@dataclass(frozen=True, slots=True)
class _Snapshot:
    state: str  # closed | open | half_open
    until: float  # clock time a probe may pass (open)
    gen: int
    opened: int
    probe_held: bool


class SharedBreaker(Breaker):
    """A breaker whose state lives in Redis; ``local`` is the per-process fallback."""

    def __init__(
        self,
        name: str,
        settings: BreakerSettings,
        clock: Clock,
        sync: BreakerSync,
        probe_ttl: float,
    ) -> None:
        super().__init__(settings, clock)
        self.name = name
        self.local = Breaker(settings, clock)
        self.sync = sync
        self.probe_ttl = probe_ttl
        self.snap: _Snapshot | None = None
        self.pending_gen = 0
        self.pending_ok = 0
        self.pending_failed = 0

    @property
    def shared(self) -> bool:
        return self.snap is not None and self.sync.live

    @property
    def state(self) -> BreakerState:
        snap = self.snap
        if snap is None or not self.sync.live:
            return self.local.state
        if snap.state == "closed":
            return BreakerState.CLOSED
        if snap.state == "open" and self.clock.now() < snap.until:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    @property
    def retry_in(self) -> float:
        snap = self.snap
        if snap is None or not self.sync.live:
            return self.local.retry_in
        return max(0.0, snap.until - self.clock.now()) if snap.state == "open" else 0.0

    def allow(self) -> Ticket | None:
        snap = self.snap
        if snap is None or not self.sync.live:
            return self.local.allow()
        if self.state is BreakerState.CLOSED:
            return Ticket(snap.gen, probe=False, shared=True)
        return None  # the half-open probe is claimed in Redis: acquire()

    async def acquire(self) -> Ticket | None:
        snap = self.snap
        if snap is None or not self.sync.live:
            return self.local.allow()
        state = self.state
        if state is BreakerState.CLOSED:
            return Ticket(snap.gen, probe=False, shared=True)
        if state is BreakerState.OPEN or snap.probe_held:
            return None
        try:
            code, gen = await self.sync.claim(self)
        except LINK_ERRORS:
            return self.local.allow()
        if code == 0:
            self.snap = _Snapshot("closed", 0.0, gen, snap.opened, False)
            return Ticket(gen, probe=False, shared=True)
        if code == 1:
            self.snap = _Snapshot("half_open", 0.0, gen, snap.opened, True)
            return Ticket(gen, probe=True, shared=True)
        self.snap = _Snapshot(snap.state, snap.until, snap.gen, snap.opened, True)
        return None

    def record(self, ticket: Ticket, failed: bool) -> None:
        if not ticket.shared:
            self.local.record(ticket, failed)
            return
        if self.local.state is BreakerState.CLOSED:  # keep the fallback warm
            self.local.record(Ticket(self.local._generation, probe=False), failed)
        if ticket.probe:
            self.sync.probe_outcome(self, ticket.generation, failed)
            return
        if ticket.generation != self.pending_gen:
            if ticket.generation < self.pending_gen:
                return  # stale
            self.pending_gen, self.pending_ok, self.pending_failed = ticket.generation, 0, 0
        if failed:
            self.pending_failed += 1
        else:
            self.pending_ok += 1

    def abandon(self, ticket: Ticket) -> None:
        if not ticket.shared:
            self.local.abandon(ticket)
        elif ticket.probe:
            self.sync.abandon(self, ticket.generation)

    def take_pending(self) -> tuple[int, int, int]:
        out = (self.pending_gen, self.pending_ok, self.pending_failed)
        self.pending_ok = self.pending_failed = 0
        return out

    def keys(self) -> list[str]:
        p = self.sync.link.prefix
        return [f"{p}{{br}}:{kind}:{self.name}" for kind in ("s", "w", "p", "c")]


class BreakerSync:
    """The loop that syncs every :class:`SharedBreaker` (and the cool-downs) with Redis."""

    def __init__(
        self,
        link: RedisLink,
        settings: BreakerSettings,
        clock: Clock,
        cooling: dict[str, float],
    ) -> None:
        self.link = link
        self.settings = settings
        self.clock = clock
        self.cooling = cooling  # the selector's: deployment -> clock time it may be called again
        self.interval = link.options.sync_interval
        self.stale_after = max(1.0, 5 * self.interval) + link.options.socket_timeout
        self.breakers: dict[str, SharedBreaker] = {}
        self.last_ok = float("-inf")
        self.syncs = 0
        r = link.client
        self._sync = r.register_script(SYNC)
        self._claim = r.register_script(CLAIM)
        self._outcome = r.register_script(OUTCOME)
        self._abandon = r.register_script(ABANDON)
        self._cool = r.register_script(COOL)
        self._task: asyncio.Task[None] | None = None

    @property
    def live(self) -> bool:
        """The snapshot is current: breakers follow Redis (else each process its own)."""
        return self.link.up and self.clock.now() - self.last_ok < self.stale_after

    def add(self, name: str, probe_ttl: float) -> SharedBreaker:
        breaker = SharedBreaker(name, self.settings, self.clock, self, probe_ttl)
        self.breakers[name] = breaker
        return breaker

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(*LINK_ERRORS):
                await self.tick()
            await asyncio.sleep(self.interval)

    async def tick(self) -> None:
        """One round trip: send the outcomes since the last tick, read every breaker back."""
        s = self.settings
        names = list(self.breakers)
        keys: list[str] = []
        args: list[float | int] = [s.window, s.min_calls, s.failure_rate, s.cooldown]
        taken: list[tuple[int, int, int]] = []
        for name in names:
            breaker = self.breakers[name]
            keys.extend(breaker.keys())
            pending = breaker.take_pending()
            taken.append(pending)
            args.extend(pending)
        try:
            rows = await self.link.call(self._sync, keys=keys, args=args)
        except LINK_ERRORS:
            for name, (gen, ok, failed) in zip(names, taken, strict=True):
                b = self.breakers[name]  # put the outcomes back for the next tick
                if b.pending_gen == gen:
                    b.pending_ok += ok
                    b.pending_failed += failed
            raise
        now = self.clock.now()
        for name, row in zip(names, rows, strict=True):
            state, remaining, gen, opened, cool_ms, held = row
            state = state.decode() if isinstance(state, bytes) else str(state)
            breaker = self.breakers[name]
            before = breaker.snap
            breaker.snap = _Snapshot(
                state, now + int(remaining) / 1000, int(gen), int(opened), bool(int(held))
            )
            if before is not None and before.state != state:
                log.info("breaker %s is %s (shared)", name, state)
            if int(cool_ms) > 0:
                self.cooling[name] = max(self.cooling.get(name, 0.0), now + int(cool_ms) / 1000)
        self.last_ok = now
        self.syncs += 1

    async def claim(self, breaker: SharedBreaker) -> tuple[int, int]:
        p_ms = max(1000, round(breaker.probe_ttl * 1000))
        code, gen = await self.link.call(
            self._claim,
            keys=breaker.keys()[::2],  # s, p
            args=[p_ms, self.settings.cooldown],
        )
        return int(code), int(gen)

    def probe_outcome(self, breaker: SharedBreaker, gen: int, failed: bool) -> None:
        s = self.settings
        keys = breaker.keys()
        self.link.spawn(self._probe_outcome(breaker, [keys[0], keys[2], keys[1]], gen, failed, s))

    async def _probe_outcome(
        self, breaker: SharedBreaker, keys: list[str], gen: int, failed: bool, s: BreakerSettings
    ) -> None:
        args = [gen, 1 if failed else 0, s.cooldown, s.cooldown_max]
        await self.link.call(self._outcome, keys=keys, args=args)
        await self.tick()  # every replica learns within a tick; this one at once

    def abandon(self, breaker: SharedBreaker, gen: int) -> None:
        keys = breaker.keys()
        self.link.spawn(self.link.call(self._abandon, keys=[keys[0], keys[2]], args=[gen]))

    def note_cooldown(self, name: str, seconds: float) -> None:
        breaker = self.breakers.get(name)
        if breaker is None or seconds <= 0:
            return
        key = breaker.keys()[3]
        self.link.spawn(self.link.call(self._cool, keys=[key], args=[round(seconds * 1000)]))
