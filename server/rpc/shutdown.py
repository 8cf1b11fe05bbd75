"""Graceful shutdown of in-flight calls: let them finish within the grace period, then end them clearly.

grpc.aio's own `server.stop(grace)` cancels whatever still runs when the grace
ends, and the client sees a bare CANCELLED. The gateway interceptor (server/rpc/pipeline.py) tracks every call's
task instead; `CallTracker.drain(grace)` waits for them to finish and, when the
grace is up, cancels each remaining one itself. The handler sees the cancellation
like a client disconnect (a chat stream records its usage so far with outcome
`cancelled`), and raise_if_shutdown turns it into ShuttingDown, which the error
mapping sends as UNAVAILABLE "the gateway is shutting down".
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from llmgw.wire.errors import ShuttingDown

SHUTTING_DOWN_MESSAGE = "The gateway is shutting down; retry the request."


@dataclass(eq=False, slots=True)
class TrackedCall:
    """One call being served: its task, and where it stands."""

    task: asyncio.Task[object]
    sending: bool = False  # a stream suspended while grpc writes its last message
    ending: bool = False  # drain asked it to end

    def sent(self) -> None:
        """Note that grpc has written the stream's message; end the stream now if drain asked it to."""
        self.sending = False
        if self.ending:
            raise ShuttingDown(SHUTTING_DOWN_MESSAGE)


class CallTracker:
    """The calls being served, and the means to end them at shutdown."""

    def __init__(self) -> None:
        self._calls: dict[asyncio.Task[object], TrackedCall] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    def __len__(self) -> int:
        return len(self._calls)

    def enter(self) -> TrackedCall | None:
        """Track the current call."""
        task = asyncio.current_task()
        if task is None:
            return None
        call = self._calls[task] = TrackedCall(task)
        self._idle.clear()
        return call

    def leave(self, call: TrackedCall | None) -> None:
        """Stop tracking a call."""
        if call is None:
            return
        self._calls.pop(call.task, None)
        if not self._calls:
            self._idle.set()

    async def drain(self, grace: float, cancel_wait: float = 2.0) -> int:
        """Wait up to `grace` seconds for calls to finish, then end the rest; returns how many were ended.

        A call waiting inside its handler is cancelled there. A stream suspended while
        grpc writes a message is not (a cancellation inside grpc's write would drop the
        call without a status); it ends itself as soon as the write returns.
        """
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout=grace)
        remaining = list(self._calls.values())
        for call in remaining:
            call.ending = True
            if not call.sending:
                call.task.cancel()
        if remaining:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout=cancel_wait)
        return len(remaining)


def raise_if_shutdown(call: TrackedCall | None) -> None:
    """Turn our own cancellation into ShuttingDown; leave a client's cancellation alone."""
    if call is not None and call.ending:
        call.task.uncancel()
        raise ShuttingDown(SHUTTING_DOWN_MESSAGE) from None
