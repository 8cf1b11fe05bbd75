"""SilenceTimer: each wait is limited, time between waits is not, and other cancellations stay cancellations."""

from __future__ import annotations

import asyncio

import pytest

from llmgw.server.routing.silence import SilenceTimer


async def _after(seconds: float, value: str) -> str:
    await asyncio.sleep(seconds)
    return value


async def test_waits_in_time_return_their_results() -> None:
    """A thousand quick waits on one timer all return, in order."""
    timer = SilenceTimer()
    try:
        results = [await timer.wait(_after(0, str(index)), 1.0) for index in range(1000)]
    finally:
        timer.close()
    assert results == [str(index) for index in range(1000)]


async def test_a_wait_past_its_deadline_raises_timeout() -> None:
    """A wait that outlasts its limit raises TimeoutError near the limit, and what it waited on is cancelled."""
    timer = SilenceTimer()
    loop = asyncio.get_running_loop()
    started = loop.time()
    waited = asyncio.ensure_future(_after(30, "late"))
    try:
        with pytest.raises(TimeoutError):
            await timer.wait(waited, 0.2)
    finally:
        timer.close()
    assert 0.2 <= loop.time() - started < 5
    assert waited.cancelled()
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_time_between_waits_does_not_count() -> None:
    """A consumer that is slow between events (its own sends) is not timed out; only waiting is."""
    timer = SilenceTimer()
    try:
        assert await timer.wait(_after(0.05, "first"), 0.2) == "first"
        await asyncio.sleep(0.5)  # the timer fires meanwhile, finds nobody waiting, and rests
        assert await timer.wait(_after(0.05, "second"), 0.2) == "second"
    finally:
        timer.close()


async def test_a_shorter_deadline_moves_the_timer_earlier() -> None:
    """A long first wait arms the timer late; a later, shorter wait still times out on time."""
    timer = SilenceTimer()
    loop = asyncio.get_running_loop()
    try:
        assert await timer.wait(_after(0, "quick"), 60) == "quick"
        started = loop.time()
        with pytest.raises(TimeoutError):
            await timer.wait(_after(30, "late"), 0.2)
    finally:
        timer.close()
    assert loop.time() - started < 5


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    """Cancelling the waiting task (the client left) raises CancelledError, never TimeoutError."""
    timer = SilenceTimer()

    async def waiting() -> str:
        return await timer.wait(_after(30, "late"), 10)

    task = asyncio.ensure_future(waiting())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    timer.close()
