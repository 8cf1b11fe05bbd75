"""The gateway's one server interceptor: every call's concerns in a single wrapping layer.

Each concern lives in its own module of this wing (observability, status for errors,
shutdown, authentication); this module only runs them around the handler, in
one layer per call rather than one nested wrapper per concern, so a streamed
token passes through a single extra generator. Outermost first:

1. observability: request id (sent as initial metadata), metrics, the log line;
2. errors: domain error -> status, AbortError passed through, anything else INTERNAL;
3. shutdown: tracking for drain, and a drain cancellation -> ShuttingDown;
4. metadata size (server/rpc/connection_limits.py), the cap on calls in flight
   (MAX_CONCURRENT_CALLS), then authentication; health and reflection skip the cap and
   authentication. Authentication binds the Principal for the handler.

Their end parts run in reverse order, so the log line and metrics see the final status.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias, TypeVar, cast

import grpc

from llmgw.server.rpc.authentication import Authentication
from llmgw.server.rpc.connection_limits import DEFAULT_MAX_METADATA_BYTES, metadata_too_large
from llmgw.server.rpc.context import Context
from llmgw.server.rpc.observability import CallObserver
from llmgw.server.rpc.shutdown import CallTracker, raise_if_shutdown
from llmgw.server.rpc.status import abort_for
from llmgw.server.rpc.validation import check_request, tolerant
from llmgw.server.store.outage import OutageLog
from llmgw.wire.errors import Overloaded

#: MAX_CONCURRENT_CALLS' default.
DEFAULT_MAX_CALLS = 4096

_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")
# Strings: the grpc classes are generic only in their type stubs.
Unary: TypeAlias = "Callable[[Any, Context], Awaitable[Any]]"
Streaming: TypeAlias = "Callable[[Any, Context], AsyncIterator[Any]]"
Continuation: TypeAlias = "Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[_Req, _Resp] | None]]"


class GatewayInterceptor(grpc.aio.ServerInterceptor):
    """Observes, error-maps, tracks and authenticates every unary and server-streaming call."""

    def __init__(
        self,
        observer: CallObserver,
        tracker: CallTracker,
        authentication: Authentication,
        outages: OutageLog | None = None,
        max_metadata_bytes: int = DEFAULT_MAX_METADATA_BYTES,
        max_calls: int = DEFAULT_MAX_CALLS,
    ) -> None:
        self._observer = observer
        self._max_metadata_bytes = max_metadata_bytes
        self._max_calls = max_calls
        self._tracker = tracker
        self._authentication = authentication
        self._outages = outages

    async def intercept_service(
        self,
        continuation: Continuation[_Req, _Resp],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[_Req, _Resp] | None:
        """Wrap the handler once with all of the gateway's per-call concerns."""
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        metadata = handler_call_details.invocation_metadata or ()
        observer = self._observer
        tracker = self._tracker
        authentication = self._authentication if Authentication.required(method) else None
        outages = self._outages
        too_large = metadata_too_large(metadata, self._max_metadata_bytes)
        # Tracked calls include this one once it has entered; health and reflection are never refused.
        max_calls = self._max_calls if authentication is not None else None

        def refusal() -> Exception | None:
            if too_large is not None:
                return too_large
            if max_calls is not None and len(tracker) > max_calls:
                return Overloaded(
                    f"The gateway is serving as many calls as it may ({max_calls}); nothing was done. Retry shortly."
                )
            return None

        async def unary(behavior: Unary, request: object, context: Context) -> object:
            start = await observer.begin(method, metadata, context)
            error: BaseException | None = None
            try:
                try:
                    state = tracker.enter()
                    try:
                        refused = refusal()
                        if refused is not None:
                            raise refused
                        token = None if authentication is None else await authentication.bind(metadata)
                        try:
                            check_request(request)
                            return await behavior(request, context)
                        finally:
                            if authentication is not None:
                                authentication.unbind(token)
                    except asyncio.CancelledError:
                        raise_if_shutdown(state)
                        raise
                    finally:
                        tracker.leave(state)
                except grpc.aio.AbortError:
                    raise
                except Exception as exc:
                    await abort_for(context, exc, method, outages)
            except BaseException as exc:
                error = exc
                raise
            finally:
                observer.end(start, context, error)

        async def streaming(behavior: Streaming, request: object, context: Context) -> AsyncIterator[object]:
            start = await observer.begin(method, metadata, context)
            error: BaseException | None = None
            try:
                try:
                    state = tracker.enter()
                    try:
                        refused = refusal()
                        if refused is not None:
                            raise refused
                        token = None if authentication is None else await authentication.bind(metadata)
                        try:
                            check_request(request)
                            # Ending early must close the handler (an async generator here) so it records its usage.
                            handler_responses = cast("AsyncGenerator[object, None]", behavior(request, context))
                            async with contextlib.aclosing(handler_responses) as responses:
                                async for response in responses:
                                    if state is not None:
                                        state.sending = True
                                    yield response
                                    if state is not None:
                                        state.sent()
                        finally:
                            if authentication is not None:
                                authentication.unbind(token)
                    except asyncio.CancelledError:
                        raise_if_shutdown(state)
                        raise
                    finally:
                        tracker.leave(state)
                except grpc.aio.AbortError:
                    raise
                except Exception as exc:
                    await abort_for(context, exc, method, outages)
            except BaseException as exc:
                error = exc
                raise
            finally:
                observer.end(start, context, error)

        return wrap_handler(handler, unary, streaming)


def wrap_handler(
    handler: grpc.RpcMethodHandler[_Req, _Resp],
    unary: Callable[[Unary, Any, Context], Awaitable[Any]],
    streaming: Callable[[Streaming, Any, Context], AsyncIterator[Any]],
) -> grpc.RpcMethodHandler[_Req, _Resp]:
    """A copy of `handler` whose behaviour runs inside `unary` or `streaming`, for the two shapes we serve.

    The grpc stubs type behaviours as synchronous; on a grpc.aio server they are
    coroutine functions and async generators, hence the casts. grpc.aio tells the two
    apart with inspect, which sees through functools.partial.
    """
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            functools.partial(unary, cast(Unary, handler.unary_unary)),
            request_deserializer=tolerant(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            functools.partial(streaming, cast(Streaming, handler.unary_stream)),
            request_deserializer=tolerant(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )
    return handler
