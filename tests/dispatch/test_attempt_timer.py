"""AttemptTimer keeps asyncio.timeout's contract: the limit cancels the work and is reported as
the timer's; a cancellation from elsewhere is never mistaken for it, and still propagates."""

from __future__ import annotations

import asyncio

import pytest

from hybridllm.dispatch.timer import AttemptTimer


async def _guarded(seconds: float, work: float) -> str:
    timer = AttemptTimer(seconds)
    try:
        try:
            await asyncio.sleep(work)
        finally:
            expired = timer.stop()
    except asyncio.CancelledError:
        if not expired:
            raise
        return "timed out"
    return "done"


def test_work_within_the_limit_finishes_and_is_not_cancelled_later() -> None:
    async def main() -> tuple[str, int]:
        result = await _guarded(0.05, 0.001)
        await asyncio.sleep(0.1)  # past the limit: a timer left armed would cancel us here
        task = asyncio.current_task()
        assert task is not None
        return result, task.cancelling()

    assert asyncio.run(main()) == ("done", 0)


def test_work_past_the_limit_is_cancelled_and_reported_as_timed_out() -> None:
    async def main() -> tuple[str, int]:
        result = await _guarded(0.01, 5)
        task = asyncio.current_task()
        assert task is not None
        return result, task.cancelling()  # the timer's cancellation is withdrawn

    assert asyncio.run(main()) == ("timed out", 0)


def test_a_cancellation_from_outside_propagates_and_is_not_a_timeout() -> None:
    async def main() -> None:
        task = asyncio.create_task(_guarded(5, 5))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_an_outside_cancellation_racing_the_limit_is_not_taken_for_a_timeout() -> None:
    async def main() -> bool:
        task = asyncio.current_task()
        assert task is not None
        timer = AttemptTimer(5)
        timer._fire()  # the limit is reached ...
        task.cancel()  # ... and somebody else cancels the task before it runs again
        try:
            await asyncio.sleep(1)
        except asyncio.CancelledError:
            return timer.stop()
        raise AssertionError("not cancelled")

    assert asyncio.run(main()) is False


def test_the_timer_needs_a_task() -> None:
    async def main() -> list[BaseException]:
        errors: list[BaseException] = []

        def outside_a_task() -> None:
            try:
                AttemptTimer(1.0)
            except RuntimeError as exc:
                errors.append(exc)

        asyncio.get_running_loop().call_soon(outside_a_task)
        await asyncio.sleep(0.01)
        return errors

    (error,) = asyncio.run(main())
    assert "inside a task" in str(error)
