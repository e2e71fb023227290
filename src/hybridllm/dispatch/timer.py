"""A time limit on one await of dispatch: what ``asyncio.timeout`` does, with less work.

Dispatch sets a limit on every attempt (its total time; for a stream, the first token) and on
every chunk of a stream (the idle gap). ``async with asyncio.timeout(t)`` builds a ``Timeout``
object, two coroutines (enter and exit) and a state machine per use: ~26 k instructions per
request in the gateway (about 2% of its CPU per request, ``bench/gateway/instr.py``). This timer
does the same with one object and plain calls (~12 k)::

    timer = AttemptTimer(seconds)
    try:
        try:
            answer = await work()
        finally:
            expired = timer.stop()
    except asyncio.CancelledError:
        if not expired:
            raise  # somebody else cancelled the task: not a timeout
        ...  # the time limit was reached

As with ``asyncio.timeout``: when the limit is reached the task is cancelled; ``stop()`` withdraws
that cancellation (``Task.uncancel``) and says whether it was the timer's, so a cancellation from
elsewhere (the client left, the server shuts down) still propagates.
"""

from __future__ import annotations

import asyncio

__all__ = ["AttemptTimer"]


class AttemptTimer:
    """Cancels the current task ``seconds`` from now unless :meth:`stop` is called first."""

    __slots__ = ("_cancelling", "_fired", "_handle", "_task")

    def __init__(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("AttemptTimer must be used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._fired = False
        self._handle = loop.call_at(loop.time() + seconds, self._fire)

    def _fire(self) -> None:
        self._fired = True
        self._task.cancel()

    def stop(self) -> bool:
        """Disarm the timer. True when it fired: the task's cancellation came from it (and is
        withdrawn), so the ``CancelledError`` the work raised means "time limit reached"."""
        self._handle.cancel()
        if not self._fired:
            return False
        return self._task.uncancel() <= self._cancelling
