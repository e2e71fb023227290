"""The Redis state pieces against the real Redis: budgets, shared breakers, outage behaviour."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from hybridllm.budgets.state import Limit
from hybridllm.config.models import StateOptions
from hybridllm.dispatch.breaker import BreakerSettings, BreakerState
from hybridllm.dispatch.clock import SystemClock
from hybridllm.errors import SharedStateUnavailableError
from hybridllm.state.breakers import BreakerSync
from hybridllm.state.budgets import RedisBudgetState
from hybridllm.state.client import RedisLink
from tests.services import PrivateRedis

URL = "redis://127.0.0.1:6379/0"


async def _link(prefix: str, url: str = URL, **options: object) -> RedisLink:
    return RedisLink(url, StateOptions(key_prefix=prefix, **options))  # type: ignore[arg-type]


@pytest.fixture
async def links(redis_prefix: str) -> AsyncIterator[list[RedisLink]]:
    made = [await _link(redis_prefix) for _ in range(3)]  # three "replicas"
    yield made
    for link in made:
        await link.close()


async def test_concurrent_reservations_over_three_links_admit_exactly_what_fits(
    links: list[RedisLink],
) -> None:
    states = [RedisBudgetState(link, hold_ttl=60) for link in links]
    limits = [Limit("cc:daily", 1.00), Limit("cc:monthly", 5.00)]
    holds = await asyncio.gather(*(states[i % 3].try_reserve(limits, 0.05) for i in range(200)))
    assert sum(h is not None for h in holds) == 20
    counter = await states[0].counter("cc:daily")
    assert (counter.spent, counter.reserved) == (0.0, pytest.approx(1.0))
    assert (await states[0].counter("cc:monthly")).reserved == pytest.approx(1.0)


async def test_settle_is_applied_once_and_release_frees_the_hold(links: list[RedisLink]) -> None:
    state = RedisBudgetState(links[0], hold_ttl=60)
    limits = [Limit("k", 1.0)]
    hold = await state.try_reserve(limits, 0.5)
    assert hold is not None
    await state.settle(hold, ["k"], 0.5, 0.125)
    await state.settle(hold, ["k"], 0.5, 0.125)  # a replay after a timeout: no double count
    other = await state.try_reserve(limits, 0.25)
    assert other is not None
    await state.release(other, ["k"], 0.25)
    counter = await state.counter("k")
    assert (counter.spent, counter.reserved) == (0.125, 0.0)


async def test_holds_of_a_crashed_replica_expire_after_their_ttl(links: list[RedisLink]) -> None:
    state = RedisBudgetState(links[0], hold_ttl=0.3)
    assert await state.try_reserve([Limit("k", 1.0)], 0.75) is not None  # never settled
    assert await state.try_reserve([Limit("k", 1.0)], 0.75) is None
    await asyncio.sleep(0.4)
    assert (await state.counter("k")).reserved == 0.0
    assert await state.try_reserve([Limit("k", 1.0)], 0.75) is not None


async def test_reconcile_restores_lost_spend_without_counting_in_flight_twice(
    links: list[RedisLink],
) -> None:
    state = RedisBudgetState(links[0], hold_ttl=60)
    assert await state.reconcile("k", 0.40) == (0.0, pytest.approx(0.40))  # Redis lost it all
    hold = await state.try_reserve([Limit("k", 10.0)], 0.10)
    assert hold is not None
    # The row of the in-flight request is in the ledger (0.40 + 0.10) before its settle: no change.
    assert await state.reconcile("k", 0.50) == (pytest.approx(0.40), pytest.approx(0.40))
    await state.settle(hold, ["k"], 0.10, 0.10)
    assert (await state.counter("k")).spent == pytest.approx(0.50)


async def test_alerts_are_claimed_by_one_replica(links: list[RedisLink]) -> None:
    states = [RedisBudgetState(link, hold_ttl=60) for link in links]
    claims = await asyncio.gather(*(s.claim_alert("k:daily", 0.8) for s in states))
    assert sorted(claims) == [False, False, True]


async def test_budgets_fail_closed_then_recover_and_replay_settles(
    private_redis: PrivateRedis, redis_prefix: str
) -> None:
    link = await _link(redis_prefix, private_redis.url, socket_timeout=0.2, connect_timeout=0.2)
    try:
        state = RedisBudgetState(link, hold_ttl=60)
        hold = await state.try_reserve([Limit("k", 1.0)], 0.5)
        assert hold is not None
        private_redis.stop()
        await state.settle(hold, ["k"], 0.5, 0.25)  # never raises: queued
        assert state.pending == 1
        with pytest.raises(SharedStateUnavailableError, match=r"redis at 127\.0\.0\.1:\d+"):
            await state.try_reserve([Limit("k", 1.0)], 0.1)
        assert not link.up
        private_redis.start()  # empty: no persistence
        link.succeeded()  # what the sync loop does on its next successful call
        for _ in range(100):
            if state.pending == 0:
                break
            await asyncio.sleep(0.02)
        assert (await state.counter("k")).spent == 0.25
    finally:
        await link.close()


async def test_budgets_fail_open_lets_requests_through_unchecked(
    private_redis: PrivateRedis, redis_prefix: str
) -> None:
    link = await _link(
        redis_prefix, private_redis.url, socket_timeout=0.2, budgets_on_outage="fail_open"
    )
    try:
        state = RedisBudgetState(link, hold_ttl=60)
        private_redis.stop()
        assert await state.try_reserve([Limit("k", 1.0)], 0.5) == "unchecked"
        assert state.unchecked == 1
    finally:
        await link.close()


SETTINGS = BreakerSettings(window=30, min_calls=4, failure_rate=0.5, cooldown=0.3)


async def test_failures_on_one_replica_open_the_breaker_for_all(links: list[RedisLink]) -> None:
    clock = SystemClock()
    syncs = [BreakerSync(link, SETTINGS, clock, {}) for link in links]
    breakers = [s.add("dep", probe_ttl=5) for s in syncs]
    for s in syncs:
        await s.tick()
    for _ in range(4):
        ticket = await breakers[0].acquire()
        assert ticket is not None and ticket.shared
        breakers[0].record(ticket, failed=True)
    await syncs[0].tick()
    for s in syncs[1:]:
        await s.tick()
    assert [b.state for b in breakers] == [BreakerState.OPEN] * 3
    assert [await b.acquire() for b in breakers] == [None, None, None]
    # Half-open: of many callers on three replicas, exactly one gets the probe.
    await asyncio.sleep(0.35)
    tickets = await asyncio.gather(*(breakers[i % 3].acquire() for i in range(30)))
    probes = [t for t in tickets if t is not None]
    assert len(probes) == 1 and probes[0].probe
    owner = next(b for i, b in enumerate(breakers) if tickets[i::3].count(probes[0]))
    owner.record(probes[0], failed=False)
    await asyncio.sleep(0.1)  # the outcome is written off the request path
    for s in syncs:
        await s.tick()
    assert [b.state for b in breakers] == [BreakerState.CLOSED] * 3


async def test_breakers_fall_back_to_per_process_state_while_redis_is_down(
    private_redis: PrivateRedis, redis_prefix: str
) -> None:
    link = await _link(redis_prefix, private_redis.url, socket_timeout=0.2, connect_timeout=0.2)
    try:
        sync = BreakerSync(link, SETTINGS, SystemClock(), {})
        breaker = sync.add("dep", probe_ttl=5)
        await sync.tick()
        assert sync.live
        private_redis.stop()
        with pytest.raises(Exception):  # noqa: B017 (any link error)
            await sync.tick()
        assert not sync.live
        for _ in range(4):  # per-process tickets, per-process state
            ticket = await breaker.acquire()
            assert ticket is not None and not ticket.shared
            breaker.record(ticket, failed=True)
        assert breaker.state is BreakerState.OPEN
        private_redis.start()
        await sync.tick()
        assert sync.live and breaker.state is BreakerState.CLOSED  # Redis is the truth again
    finally:
        await link.close()


async def test_rate_limits_are_shared_and_fall_back_to_a_per_process_share(
    private_redis: PrivateRedis, redis_prefix: str
) -> None:
    from hybridllm.config.models import Deployment, Limits
    from hybridllm.state.limits import SharedDeploymentLimiter

    dep = Deployment(provider="openai", model="m", limits=Limits(rpm=6))
    links = [
        await _link(redis_prefix, private_redis.url, socket_timeout=0.2, fallback_replicas=3)
        for _ in range(2)
    ]
    try:
        limiters = [SharedDeploymentLimiter({"d": dep}, link) for link in links]
        admitted = [await limiters[i % 2].acquire("d", 10) for i in range(10)]
        assert admitted.count(True) == 6  # one window over both processes
        assert await limiters[0].acquire("other", 10)  # no limit: no round trip
        private_redis.stop()
        fallback = [await limiters[0].acquire("d", 10) for _ in range(5)]
        assert fallback.count(True) == 2  # 6 / fallback_replicas, in this process
        assert limiters[0].fallbacks == 5
    finally:
        for link in links:
            await link.close()
