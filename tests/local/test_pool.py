"""The slot queue in front of a local model: FIFO hand-over, spill on wait, cancellation."""

from __future__ import annotations

import asyncio
import threading

import pytest

from hybridllm.providers.local_pool import QueueWaitExceeded, SlotPool


async def test_a_free_slot_is_taken_at_once() -> None:
    pool = SlotPool(2)
    assert {await pool.acquire(0), await pool.acquire(0)} == {0, 1}
    assert pool.busy == 2


async def test_with_no_wait_allowed_a_busy_pool_raises_at_once() -> None:
    pool = SlotPool(1)
    await pool.acquire(None)
    with pytest.raises(QueueWaitExceeded) as info:
        await pool.acquire(0)
    assert info.value.waited == 0.0


async def test_a_waiter_gives_up_after_max_wait_and_leaves_the_queue() -> None:
    pool = SlotPool(1)
    await pool.acquire(None)
    with pytest.raises(QueueWaitExceeded) as info:
        await pool.acquire(0.05)
    assert info.value.waited >= 0.04
    assert pool.queued == 0


async def test_waiters_are_served_first_in_first_out() -> None:
    pool = SlotPool(1)
    slot = await pool.acquire(None)
    order: list[str] = []

    async def wait(name: str) -> None:
        got = await pool.acquire(None)
        order.append(name)
        pool.release(got)

    tasks = [asyncio.create_task(wait(n)) for n in ("a", "b", "c")]
    await asyncio.sleep(0.01)
    assert pool.queued == 3
    pool.release(slot)
    await asyncio.gather(*tasks)
    assert order == ["a", "b", "c"]
    assert pool.busy == 0


async def test_a_release_from_another_thread_wakes_the_waiter() -> None:
    pool = SlotPool(1)
    slot = await pool.acquire(None)
    waiter = asyncio.create_task(pool.acquire(None))
    await asyncio.sleep(0.01)
    threading.Thread(target=pool.release, args=(slot,)).start()
    assert await asyncio.wait_for(waiter, 1) == slot


async def test_a_cancelled_waiter_passes_its_turn_on() -> None:
    pool = SlotPool(1)
    slot = await pool.acquire(None)
    gone = asyncio.create_task(pool.acquire(None))
    stays = asyncio.create_task(pool.acquire(None))
    await asyncio.sleep(0.01)
    gone.cancel()
    pool.release(slot)
    assert await asyncio.wait_for(stays, 1) == slot
    assert gone.cancelled()


async def test_a_queue_longer_than_max_wait_spills_without_waiting() -> None:
    pool = SlotPool(1)
    slot = await pool.acquire(None)
    pool.release(slot)  # one generation measured: it held the slot ~0 s
    pool._avg_hold = 1.0  # now say a generation takes a second
    held = await pool.acquire(None)
    queued = asyncio.create_task(pool.acquire(None))  # one whole generation ahead
    await asyncio.sleep(0.01)
    with pytest.raises(QueueWaitExceeded) as info:
        await pool.acquire(0.5)
    assert info.value.waited == 0.0 and info.value.queued == 1
    pool.release(held)
    pool.release(await queued)
