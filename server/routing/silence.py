"""A limit on how long each wait for a stream's next event may take, with one timer per stream.

`asyncio.timeout` around every wait sets and cancels a timer per event: about 11 µs each on
the benchmark machine, some 3% of a 16-token stream's CPU (bench/RESULTS.md). A
`SilenceTimer` keeps one timer handle for the whole stream; a wait only records its
deadline, and the timer is moved only when it fires before the deadline it finds. Time the
consumer spends between waits (sending the previous event to a slow client) never counts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

_T = TypeVar("_T")


class SilenceTimer:
    """Waits that raise TimeoutError past their deadline, as `asyncio.timeout` would; one per stream, one task."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = None
        self._deadline: float | None = None
        self._waiter: asyncio.Task[object] | None = None
        self._expired = False

    async def wait(self, awaitable: Awaitable[_T], seconds: float) -> _T:
        """`awaitable`'s result, or TimeoutError past `seconds`; a cancellation from elsewhere stays one."""
        deadline = self._loop.time() + seconds
        self._deadline = deadline
        self._waiter = asyncio.current_task()
        handle = self._handle
        if handle is None or handle.when() > deadline:
            if handle is not None:
                handle.cancel()
            self._handle = self._loop.call_at(deadline, self._fire)
        try:
            return await awaitable
        except asyncio.CancelledError:
            if self._expired:
                self._expired = False
                waiter = self._waiter
                if waiter is not None and waiter.uncancel() == 0:
                    raise TimeoutError from None
            raise
        finally:
            self._deadline = None
            self._expired = False

    def _fire(self) -> None:
        """The timer: expire a wait past its deadline, follow one that is not yet, or rest until the next wait."""
        self._handle = None
        deadline = self._deadline
        if deadline is None:
            return
        if self._loop.time() < deadline:
            self._handle = self._loop.call_at(deadline, self._fire)
            return
        if self._waiter is not None:
            self._expired = True
            self._waiter.cancel()

    def close(self) -> None:
        """Drop the timer (the stream has ended)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
