"""A fixed number of slots (model instances) and a FIFO queue of requests waiting for one.

Thread-safe and not bound to an event loop: a slot is released from the worker thread that ran
the generation (when it has really stopped), and handed to the next waiter on that waiter's loop.
A waiter that gives up (timeout, cancellation) passes a slot it was handed in the meantime on.

The queue decides nothing about spilling: :meth:`SlotPool.acquire` either gets a slot within
``max_wait`` seconds or raises :class:`QueueWaitExceeded`; it raises at once when the requests
already queued ahead hold more whole generations than ``max_wait`` could cover, judged by the
average time a slot is held.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from dataclasses import dataclass

__all__ = ["QueueWaitExceeded", "SlotPool"]

_EWMA = 0.3  # weight of the newest generation time in the running average


class QueueWaitExceeded(Exception):
    """No slot within the allowed wait. ``waited``: seconds spent queueing (0: predicted)."""

    def __init__(self, waited: float, queued: int) -> None:
        self.waited = waited
        self.queued = queued
        super().__init__(f"waited {waited:.2f}s, {queued} ahead")


@dataclass(eq=False, slots=True)
class _Waiter:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[int]


class SlotPool:
    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._free: list[int] = list(range(size - 1, -1, -1))  # pop() gives slot 0 first
        self._waiters: deque[_Waiter] = deque()
        self._held_since: dict[int, float] = {}
        self._avg_hold: float | None = None

    @property
    def busy(self) -> int:
        with self._lock:
            return self.size - len(self._free)

    @property
    def queued(self) -> int:
        with self._lock:
            return len(self._waiters)

    def _take(self) -> int:
        slot = self._free.pop()
        self._held_since[slot] = time.monotonic()
        return slot

    async def acquire(self, max_wait: float | None) -> int:
        """A free slot; ``max_wait`` None waits as long as it takes (until cancelled)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._free and not self._waiters:
                return self._take()
            ahead = len(self._waiters)
            if max_wait is not None:
                whole_rounds = ahead // self.size
                avg = self._avg_hold
                if max_wait <= 0 or (avg is not None and whole_rounds * avg > max_wait):
                    raise QueueWaitExceeded(0.0, ahead)
            waiter = _Waiter(loop, loop.create_future())
            self._waiters.append(waiter)
        started = time.monotonic()
        try:
            async with asyncio.timeout(max_wait):
                return await waiter.future
        except BaseException as exc:
            with self._lock, contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
            fut = waiter.future
            if fut.done() and not fut.cancelled():
                self._hand_over(fut.result())  # handed a slot just as we gave up: pass it on
            if isinstance(exc, TimeoutError):
                raise QueueWaitExceeded(time.monotonic() - started, ahead) from None
            raise

    def release(self, slot: int) -> None:
        """Free ``slot`` after a generation (any thread): the next live waiter gets it."""
        with self._lock:
            since = self._held_since.pop(slot, None)
            if since is not None:
                held = time.monotonic() - since
                avg = self._avg_hold
                self._avg_hold = held if avg is None else (1 - _EWMA) * avg + _EWMA * held
        self._hand_over(slot)

    def _hand_over(self, slot: int) -> None:
        with self._lock:
            while self._waiters:
                waiter = self._waiters.popleft()
                if waiter.future.done():
                    continue
                self._held_since[slot] = time.monotonic()
                try:
                    waiter.loop.call_soon_threadsafe(self._deliver, waiter, slot)
                except RuntimeError:  # that waiter's loop is closed
                    continue
                return
            self._held_since.pop(slot, None)
            self._free.append(slot)

    def _deliver(self, waiter: _Waiter, slot: int) -> None:
        if waiter.future.done():
            self._hand_over(slot)
        else:
            waiter.future.set_result(slot)
