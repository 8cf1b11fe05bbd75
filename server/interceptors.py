"""gRPC server interceptors: errors -> status, then API-key authentication.

Domain code raises the typed errors of server/errors.py; ErrorInterceptor is the
one place that turns them into a gRPC status with a google.rpc.ErrorInfo detail,
picking the most specific class. Anything else becomes INTERNAL with a generic
message: the traceback goes to the log, never to the client.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, NoReturn, TypeAlias, TypeVar, cast

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from llmgw.server import errors
from llmgw.server.auth import Authenticator, Principal, reset_principal, set_principal

logger = logging.getLogger(__name__)

ERROR_DOMAIN = "llmgw.dev"

# Most specific class first: the first match wins.
_STATUS_BY_ERROR: tuple[tuple[type[errors.GatewayError], grpc.StatusCode], ...] = (
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.QuotaExceeded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.RateLimited, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.ShuttingDown, grpc.StatusCode.UNAVAILABLE),
    (errors.UpstreamTimeout, grpc.StatusCode.DEADLINE_EXCEEDED),
    (errors.UpstreamError, grpc.StatusCode.UNAVAILABLE),
)

# Calls that need no credential: health checks and reflection.
PUBLIC_SERVICE_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")
# Strings: the grpc classes are generic only in their type stubs.
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
Unary: TypeAlias = "Callable[[Any, Context], Awaitable[Any]]"
Streaming: TypeAlias = "Callable[[Any, Context], AsyncIterator[Any]]"
Continuation: TypeAlias = "Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[_Req, _Resp] | None]]"


def status_for(error: errors.GatewayError) -> grpc.Status:
    """The gRPC status (with ErrorInfo detail) that a domain error becomes."""
    code = next(code for cls, code in _STATUS_BY_ERROR if isinstance(error, cls))
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN)
    field = getattr(error, "field", "")
    if field:
        info.metadata["field"] = field
    detail = any_pb2.Any()
    detail.Pack(info)
    details = [detail]
    if isinstance(error, errors.RateLimited):
        retry = any_pb2.Any()
        retry.Pack(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=error.retry_after_seconds)))
        details.append(retry)
    return rpc_status.to_status(status_pb2.Status(code=code.value[0], message=error.message, details=details))


_INTERNAL = rpc_status.to_status(
    status_pb2.Status(code=code_pb2.INTERNAL, message="Internal error in the gateway; it has been logged.")
)


async def _abort(context: Context, exc: Exception, method: str) -> NoReturn:
    if isinstance(exc, errors.GatewayError):
        await context.abort_with_status(status_for(exc))
    logger.error("unhandled error in %s", method, exc_info=exc)
    await context.abort_with_status(_INTERNAL)


def wrap_handler(
    handler: grpc.RpcMethodHandler[_Req, _Resp],
    unary: Callable[[Unary], Unary],
    streaming: Callable[[Streaming], Streaming],
) -> grpc.RpcMethodHandler[_Req, _Resp]:
    """A copy of `handler` whose behaviour is wrapped, for the two shapes we serve.

    The grpc stubs type behaviours as synchronous; on a grpc.aio server they are
    coroutine functions and async generators, hence the casts.
    """
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            unary(cast(Unary, handler.unary_unary)),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            streaming(cast(Streaming, handler.unary_stream)),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return handler


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Maps domain errors raised by handlers (and the auth interceptor) to gRPC statuses."""

    async def intercept_service(
        self,
        continuation: Continuation[_Req, _Resp],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[_Req, _Resp] | None:
        """Wrap the handler so that domain errors abort the call with their status."""
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method

        def unary(behavior: Unary) -> Unary:
            async def call(request: object, context: Context) -> object:
                try:
                    return await behavior(request, context)
                except grpc.aio.AbortError:
                    raise
                except Exception as exc:
                    await _abort(context, exc, method)

            return call

        def streaming(behavior: Streaming) -> Streaming:
            async def call(request: object, context: Context) -> AsyncIterator[object]:
                try:
                    async for response in behavior(request, context):
                        yield response
                except grpc.aio.AbortError:
                    raise
                except Exception as exc:
                    await _abort(context, exc, method)

            return call

        return wrap_handler(handler, unary, streaming)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Authenticates every call except health and reflection, binding the Principal."""

    def __init__(self, authenticator: Authenticator, on_principal: Callable[[Principal], None] | None = None) -> None:
        self._authenticator = authenticator
        self._on_principal = on_principal

    async def intercept_service(
        self,
        continuation: Continuation[_Req, _Resp],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[_Req, _Resp] | None:
        """Wrap the handler so it runs only for a valid key, with the caller bound."""
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(PUBLIC_SERVICE_PREFIXES):
            return handler
        metadata = handler_call_details.invocation_metadata or ()
        authenticate = self._authenticator.authenticate
        on_principal = self._on_principal

        async def authenticated(metadata: Sequence[tuple[str, str | bytes]]) -> Principal:
            principal = await authenticate(metadata)
            if on_principal is not None:
                on_principal(principal)
            return principal

        def unary(behavior: Unary) -> Unary:
            async def call(request: object, context: Context) -> object:
                token = set_principal(await authenticated(metadata))
                try:
                    return await behavior(request, context)
                finally:
                    reset_principal(token)

            return call

        def streaming(behavior: Streaming) -> Streaming:
            async def call(request: object, context: Context) -> AsyncIterator[object]:
                token = set_principal(await authenticated(metadata))
                try:
                    async for response in behavior(request, context):
                        yield response
                finally:
                    reset_principal(token)

            return call

        return wrap_handler(handler, unary, streaming)
