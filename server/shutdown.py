"""Graceful shutdown of in-flight calls: let them finish within the grace period, then end them clearly.

grpc.aio's own `server.stop(grace)` cancels whatever still runs when the grace
ends, and the client sees a bare CANCELLED. The DrainInterceptor tracks every call's
task instead; `CallTracker.drain(grace)` waits for them to finish and, when the
grace is up, cancels each remaining one itself. The handler sees the cancellation
like a client disconnect (a chat stream records its usage so far with outcome
`cancelled`), and the interceptor turns it into ShuttingDown, which the error
interceptor sends as UNAVAILABLE "the gateway is shutting down".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import TypeVar, cast

import grpc

from llmgw.server.errors import ShuttingDown
from llmgw.server.interceptors import Context, Continuation, Streaming, Unary, wrap_handler

_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")

SHUTTING_DOWN_MESSAGE = "The gateway is shutting down; retry the request."


@dataclass(eq=False, slots=True)
class _Call:
    """One call being served: its task, and where it stands."""

    task: asyncio.Task[object]
    sending: bool = False  # a stream suspended while grpc writes its last message
    ending: bool = False  # drain asked it to end


class CallTracker:
    """The calls being served, and the means to end them at shutdown."""

    def __init__(self) -> None:
        self._calls: dict[asyncio.Task[object], _Call] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    def __len__(self) -> int:
        return len(self._calls)

    def enter(self) -> _Call | None:
        """Track the current call."""
        task = asyncio.current_task()
        if task is None:
            return None
        call = self._calls[task] = _Call(task)
        self._idle.clear()
        return call

    def leave(self, call: _Call | None) -> None:
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


class DrainInterceptor(grpc.aio.ServerInterceptor):
    """Tracks each call for CallTracker.drain and reports a shutdown cancellation as ShuttingDown."""

    def __init__(self, tracker: CallTracker) -> None:
        self._tracker = tracker

    async def intercept_service(
        self,
        continuation: Continuation[_Req, _Resp],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[_Req, _Resp] | None:
        """Wrap the handler so that it is tracked and a shutdown ends it with a clear error."""
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        tracker = self._tracker

        def unary(behavior: Unary) -> Unary:
            async def call(request: object, context: Context) -> object:
                state = tracker.enter()
                try:
                    return await behavior(request, context)
                except asyncio.CancelledError:
                    _raise_if_shutdown(state)
                    raise
                finally:
                    tracker.leave(state)

            return call

        def streaming(behavior: Streaming) -> Streaming:
            async def call(request: object, context: Context) -> AsyncIterator[object]:
                state = tracker.enter()
                try:
                    # Ending early must close the handler (an async generator here) so it records its usage.
                    handler_responses = cast("AsyncGenerator[object, None]", behavior(request, context))
                    async with contextlib.aclosing(handler_responses) as responses:
                        async for response in responses:
                            if state is not None:
                                state.sending = True
                            yield response
                            if state is not None:
                                state.sending = False
                                if state.ending:
                                    raise ShuttingDown(SHUTTING_DOWN_MESSAGE)
                except asyncio.CancelledError:
                    _raise_if_shutdown(state)
                    raise
                finally:
                    tracker.leave(state)

            return call

        return wrap_handler(handler, unary, streaming)


def _raise_if_shutdown(call: _Call | None) -> None:
    """Turn our own cancellation into ShuttingDown; leave a client's cancellation alone."""
    if call is not None and call.ending:
        call.task.uncancel()
        raise ShuttingDown(SHUTTING_DOWN_MESSAGE) from None
