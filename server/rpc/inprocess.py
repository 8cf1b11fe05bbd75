"""The gateway's services as a grpc.aio Channel that stays in the process: what `llmgw serve` gives its bridge.

Like grpc-gateway's Register…HandlerServer.

A call looks up the servicer's method handler, runs it through the same server interceptors
as a network call (tracing, then the gateway pipeline: request id, metrics, the log line,
error mapping, shutdown tracking, authentication; governance is in the servicers), in a task
of its own, as grpc.aio runs each call. Messages are passed as Python objects: no
serialization, no HTTP/2, no copy. Failures reach the caller as `grpc.aio.AioRpcError` with
the status, details and trailing metadata the pipeline set, so the bridge maps them exactly
as it maps network errors. Cancelling the call cancels the handler's task (the servicer
records the request as cancelled and charges what was generated), as a client's
cancellation does over the network.

A stream hands messages over one at a time: the handler runs ahead of the reader by at
most one message, like a gRPC stream whose write has not yet been taken, so a slow reader
slows the handler down and lets the chat service coalesce the deltas that pile up meanwhile.
"""

# ruff: noqa: ANN401  # grpc.aio's abstract Channel, Call and ServicerContext speak Any; this module implements them

from __future__ import annotations

import asyncio
import collections
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Mapping, Sequence
from typing import Any, NoReturn, TypeAlias, cast

import grpc
from grpc.aio import AbortError, AioRpcError, Metadata

from llmgw.server.rpc.context import Context

_PEER = "unix:llmgw-in-process"  # grpc's peer syntax; "unix:" keeps tracing from parsing an IP out of it
_Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
_Continuation = Callable[[grpc.HandlerCallDetails], Awaitable["grpc.RpcMethodHandler[Any, Any] | None"]]


class _CallDetails(grpc.HandlerCallDetails):
    """What interceptors see of a call before it runs: its method and metadata."""

    def __init__(self, method: str, metadata: tuple[tuple[str, str], ...]) -> None:
        self.method = method
        self.invocation_metadata = metadata


class LocalHandlers:
    """The servicers' method handlers by path, collected as the generated add_*_to_server functions register them.

    Pass it where those functions expect a server (they call only the two methods below).
    """

    def __init__(self) -> None:
        self.handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    def add_generic_rpc_handlers(self, generic_handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        """Nothing to do: every generated service also registers its methods one by one (below)."""

    def add_registered_method_handlers(self, service: str, handlers: Mapping[str, Any]) -> None:
        """Keep each method's handler under its path, /package.Service/Method."""
        for name, handler in handlers.items():
            self.handlers[f"/{service}/{name}"] = handler


class _LocalContext(grpc.aio.ServicerContext[Any, Any]):
    """The servicer context of an in-process call: metadata in, status and metadata out."""

    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self._metadata = metadata
        self._code: grpc.StatusCode | None = None
        self._details: str | None = None
        self._initial: tuple[tuple[str, str | bytes], ...] = ()
        self._trailing: tuple[tuple[str, str | bytes], ...] = ()
        self._done = False

    def rpc_error(self, default: grpc.StatusCode = grpc.StatusCode.UNKNOWN) -> AioRpcError:
        """The error the caller sees for a call that ended with this context's status."""
        return AioRpcError(
            self._code or default,
            Metadata(*self._initial),
            Metadata(*self._trailing),
            self._details,
        )

    async def read(self) -> NoReturn:
        """Unary requests arrive as the handler's argument, never read."""
        raise RuntimeError("in-process calls have no request stream")

    async def write(self, message: Any) -> None:
        """Servicers here yield their messages; writing is not supported."""
        raise RuntimeError("in-process calls take streamed messages as yielded, not written")

    async def send_initial_metadata(self, initial_metadata: Any) -> None:
        """Keep the initial metadata (the request id) for the caller."""
        self._initial = tuple(initial_metadata)

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()) -> NoReturn:
        """End the call with this status, as grpc.aio does: by raising AbortError."""
        self._code, self._details = code, details
        if trailing_metadata:
            self._trailing = tuple(trailing_metadata)
        raise AbortError

    async def abort_with_status(self, status: grpc.Status) -> NoReturn:
        """End the call with a rich status (its details in the trailing metadata)."""
        await self.abort(status.code, status.details, status.trailing_metadata)

    def set_trailing_metadata(self, trailing_metadata: Any) -> None:
        """Keep trailing metadata for the caller."""
        self._trailing = tuple(trailing_metadata)

    def trailing_metadata(self) -> Any:
        """The trailing metadata set so far."""
        return self._trailing

    def invocation_metadata(self) -> Any:
        """The caller's metadata."""
        return self._metadata

    def set_code(self, code: grpc.StatusCode) -> None:
        """Set the status the call ends with."""
        self._code = code

    def code(self) -> Any:
        """The status set so far (None: not set)."""
        return self._code

    def set_details(self, details: str) -> None:
        """Set the status message."""
        self._details = details

    def details(self) -> Any:
        """The status message set so far."""
        return self._details

    def set_compression(self, compression: grpc.Compression) -> None:
        """Nothing is compressed in process."""

    def disable_next_message_compression(self) -> None:
        """Nothing is compressed in process."""

    def peer(self) -> str:
        """Who calls: this process."""
        return _PEER

    def peer_identities(self) -> None:
        """No TLS in process."""
        return

    def peer_identity_key(self) -> None:
        """No TLS in process."""
        return

    def auth_context(self) -> Mapping[str, Iterable[bytes]]:
        """No transport security properties in process."""
        return {}

    def time_remaining(self) -> Any:
        """No deadline (None, as grpc says for a call without one)."""
        return None

    def add_done_callback(self, callback: Any) -> None:
        """Not used by the gateway's servicers."""
        raise NotImplementedError

    def cancelled(self) -> bool:
        """Whether the caller cancelled (the task is cancelled instead; always False here)."""
        return False

    def done(self) -> bool:
        """Whether the call has ended."""
        return self._done


class _Call:
    """What in-process unary and streaming calls share: the task, the context, status and metadata."""

    def __init__(self, context: _LocalContext) -> None:
        self._context = context
        self._task: asyncio.Task[Any] | None = None

    def cancelled(self) -> bool:
        """Whether the call was cancelled."""
        return self._task is not None and self._task.cancelled()

    def done(self) -> bool:
        """Whether the call has ended."""
        return self._task is not None and self._task.done()

    def time_remaining(self) -> None:
        """No deadline."""
        return

    def cancel(self) -> bool:
        """Cancel the handler's task; True if it was still running."""
        return self._task is not None and self._task.cancel()

    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        """Call `callback(self)` when the call ends."""
        assert self._task is not None  # noqa: S101 - set by the constructor of each call kind
        self._task.add_done_callback(lambda _: callback(self))

    async def initial_metadata(self) -> Metadata:
        """The metadata the handler sent first (the request id)."""
        return Metadata(*self._context._initial)

    async def trailing_metadata(self) -> Metadata:
        """The metadata the call ended with."""
        return Metadata(*self._context._trailing)

    async def code(self) -> grpc.StatusCode:
        """The status code the call ended with."""
        return self._context._code or grpc.StatusCode.OK

    async def details(self) -> str:
        """The status message the call ended with."""
        return self._context._details or ""

    async def wait_for_connection(self) -> None:
        """Always connected."""


async def _settle(context: _LocalContext, running: Awaitable[Any]) -> Any:
    """Run a handler step, turning an abort or a stray exception into the caller's AioRpcError."""
    try:
        return await running
    except AbortError:
        raise context.rpc_error() from None
    except AioRpcError:
        raise
    except Exception as exc:  # the pipeline maps every error; this is only a safety net
        raise AioRpcError(grpc.StatusCode.UNKNOWN, Metadata(), Metadata(), str(exc)) from exc


class _UnaryCall(_Call, grpc.aio.UnaryUnaryCall[Any, Any]):
    def __init__(
        self, context: _LocalContext, handler: Awaitable[_Handler | None], request: Any, timeout: float | None
    ) -> None:
        super().__init__(context)
        self._task = asyncio.ensure_future(self._run(handler, request, deadline_s=timeout))

    async def _run(self, handler_lookup: Awaitable[_Handler | None], request: Any, *, deadline_s: float | None) -> Any:
        handler = await handler_lookup
        if handler is None or handler.unary_unary is None:
            raise AioRpcError(grpc.StatusCode.UNIMPLEMENTED, Metadata(), Metadata(), "Method not found!")
        behaviour = cast("Callable[[Any, Context], Awaitable[Any]]", handler.unary_unary)
        try:
            async with asyncio.timeout(deadline_s):
                return await _settle(self._context, behaviour(request, self._context))
        except TimeoutError:
            raise AioRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, Metadata(), Metadata(), "Deadline Exceeded") from None
        finally:
            self._context._done = True

    def __await__(self) -> Generator[Any, None, Any]:
        assert self._task is not None  # noqa: S101 - set in __init__
        return self._task.__await__()


class _End:
    """Marks the end of a stream in the handoff."""


_END = _End()


class _StreamCall(_Call, grpc.aio.UnaryStreamCall[Any, Any]):
    def __init__(self, context: _LocalContext, handler: Awaitable[_Handler | None], request: Any) -> None:
        super().__init__(context)
        self._items: collections.deque[Any] = collections.deque()
        self._reader: asyncio.Future[None] | None = None
        self._writer: asyncio.Future[None] | None = None
        self._task = asyncio.ensure_future(self._run(handler, request))
        self._task.add_done_callback(lambda _: self._wake_reader())

    def _wake_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None and not reader.done():
            reader.set_result(None)

    async def _run(self, handler_lookup: Awaitable[_Handler | None], request: Any) -> None:
        handler = await handler_lookup
        if handler is None or handler.unary_stream is None:
            raise AioRpcError(grpc.StatusCode.UNIMPLEMENTED, Metadata(), Metadata(), "Method not found!")
        behaviour = cast("Callable[[Any, Context], AsyncIterator[Any]]", handler.unary_stream)
        responses = behaviour(request, self._context)
        try:
            await _settle(self._context, self._pump(responses))
        finally:
            self._context._done = True

    async def _pump(self, responses: AsyncIterator[Any]) -> None:
        loop = asyncio.get_running_loop()
        async for message in responses:
            self._items.append(message)
            self._wake_reader()
            if len(self._items) > 1:  # the reader has not taken the previous one yet: wait for it
                self._writer = loop.create_future()
                await self._writer
        self._items.append(_END)
        self._wake_reader()

    async def read(self) -> Any:
        """The next message, or grpc.aio.EOF; raises the call's AioRpcError, or CancelledError if cancelled."""
        task = self._task
        assert task is not None  # noqa: S101 - set in __init__
        while not self._items:
            if task.done():
                task.result()  # raises the call's error or CancelledError
                return grpc.aio.EOF
            self._reader = asyncio.get_running_loop().create_future()
            await self._reader
        item = self._items.popleft()
        writer, self._writer = self._writer, None
        if writer is not None and not writer.done():
            writer.set_result(None)
        return grpc.aio.EOF if item is _END else item

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        while (message := await self.read()) is not grpc.aio.EOF:
            yield message


class _Multicallable:
    """channel.unary_unary(...) / unary_stream(...): calls one method in process."""

    def __init__(self, channel: InProcessChannel, method: str, streaming: bool) -> None:
        self._channel = channel
        self._method = method
        self._streaming = streaming

    def __call__(
        self, request: Any, *, timeout: float | None = None, metadata: Sequence[tuple[str, str]] | None = None, **_: Any
    ) -> grpc.aio.Call:
        pairs = tuple(metadata or ())
        context = _LocalContext(pairs)
        handler = self._channel.handler(self._method, pairs)
        if self._streaming:
            return _StreamCall(context, handler, request)
        return _UnaryCall(context, handler, request, timeout)


class InProcessChannel(grpc.aio.Channel):
    """A grpc.aio Channel onto this process's servicers, through the server's interceptors."""

    def __init__(self, handlers: LocalHandlers, interceptors: Sequence[grpc.aio.ServerInterceptor]) -> None:
        self._handlers = handlers.handlers
        self._interceptors = tuple(interceptors)

    async def handler(self, method: str, metadata: tuple[tuple[str, str], ...]) -> _Handler | None:
        """The method's handler wrapped by every interceptor, outermost first, as grpc.aio's server does."""

        async def lookup(details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any] | None:
            return self._handlers.get(details.method)

        chain: _Continuation = lookup
        for interceptor in reversed(self._interceptors):
            chain = functools.partial(interceptor.intercept_service, chain)
        return await chain(_CallDetails(method, metadata))

    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """A callable for one unary method (serializers are ignored: messages stay objects)."""
        return _Multicallable(self, method, streaming=False)

    def unary_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """A callable for one server-streaming method."""
        return _Multicallable(self, method, streaming=True)

    def stream_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """The gateway serves no client-streaming methods."""
        raise NotImplementedError("the gateway has no client-streaming methods")

    def stream_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """The gateway serves no bidirectional methods."""
        raise NotImplementedError("the gateway has no bidirectional methods")

    async def __aenter__(self) -> InProcessChannel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self, grace: float | None = None) -> None:
        """Nothing to release: calls in flight belong to the server, which drains them."""

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        """Always ready."""
        return grpc.ChannelConnectivity.READY

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        """The state never changes."""
        await asyncio.Event().wait()

    async def channel_ready(self) -> None:
        """Always ready."""
