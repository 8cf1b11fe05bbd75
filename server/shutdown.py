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
from collections.abc import AsyncIterator
from typing import TypeVar

import grpc

from llmgw.server.errors import ShuttingDown
from llmgw.server.interceptors import Context, Continuation, Streaming, Unary, wrap_handler

_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")

SHUTTING_DOWN_MESSAGE = "The gateway is shutting down; retry the request."


class CallTracker:
    """The tasks of the calls being served, and the means to end them at shutdown."""

    def __init__(self) -> None:
        self._calls: set[asyncio.Task[object]] = set()
        self._ended_by_us: set[asyncio.Task[object]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def __len__(self) -> int:
        return len(self._calls)

    def enter(self) -> asyncio.Task[object] | None:
        """Track the current call's task; returns it for `leave`."""
        task = asyncio.current_task()
        if task is not None:
            self._calls.add(task)
            self._idle.clear()
        return task

    def leave(self, task: asyncio.Task[object] | None) -> None:
        """Stop tracking a call's task."""
        if task is None:
            return
        self._calls.discard(task)
        self._ended_by_us.discard(task)
        if not self._calls:
            self._idle.set()

    def ended_by_shutdown(self, task: asyncio.Task[object] | None) -> bool:
        """Whether this task's cancellation came from `drain` (not from its client)."""
        return task is not None and task in self._ended_by_us

    async def drain(self, grace: float, cancel_wait: float = 2.0) -> int:
        """Wait up to `grace` seconds for calls to finish, then cancel the rest; returns how many were cancelled."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout=grace)
        remaining = list(self._calls)
        for task in remaining:
            self._ended_by_us.add(task)
            task.cancel()
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
                task = tracker.enter()
                try:
                    return await behavior(request, context)
                except asyncio.CancelledError:
                    _raise_if_shutdown(tracker, task)
                    raise
                finally:
                    tracker.leave(task)

            return call

        def streaming(behavior: Streaming) -> Streaming:
            async def call(request: object, context: Context) -> AsyncIterator[object]:
                task = tracker.enter()
                try:
                    async for response in behavior(request, context):
                        yield response
                except asyncio.CancelledError:
                    _raise_if_shutdown(tracker, task)
                    raise
                finally:
                    tracker.leave(task)

            return call

        return wrap_handler(handler, unary, streaming)


def _raise_if_shutdown(tracker: CallTracker, task: asyncio.Task[object] | None) -> None:
    """Turn our own cancellation into ShuttingDown; leave a client's cancellation alone."""
    if task is not None and tracker.ended_by_shutdown(task):
        task.uncancel()
        raise ShuttingDown(SHUTTING_DOWN_MESSAGE) from None
