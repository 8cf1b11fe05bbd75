"""The one error -> status mapping of the gateway interceptor (server/rpc/pipeline.py).

Domain code raises the typed errors of llmgw/wire/errors.py; abort_for is the
one place that turns them into a gRPC status with a google.rpc.ErrorInfo detail,
picking the most specific class. Anything else becomes INTERNAL with a generic
message: the traceback goes to the log, never to the client.
"""

from __future__ import annotations

import logging
from typing import NoReturn

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from llmgw.server.rpc.context import Context
from llmgw.server.store.outage import OutageLog, is_outage
from llmgw.wire import errors
from llmgw.wire.status_details import ERROR_DOMAIN

logger = logging.getLogger(__name__)
# A backstop: messages quote client input only through core/names.echo, but no message may
# push the trailers towards gRPC's metadata limit (which the client would see as a transport error).
MAX_MESSAGE_CHARS = 1024

# Most specific class first: the first match wins.
_STATUS_BY_ERROR: tuple[tuple[type[errors.GatewayError], grpc.StatusCode], ...] = (
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.QuotaExceeded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.RateLimited, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.ShuttingDown, grpc.StatusCode.UNAVAILABLE),
    (errors.DatabaseUnavailable, grpc.StatusCode.UNAVAILABLE),
    (errors.Overloaded, grpc.StatusCode.UNAVAILABLE),
    (errors.UpstreamTimeout, grpc.StatusCode.DEADLINE_EXCEEDED),
    (errors.UpstreamError, grpc.StatusCode.UNAVAILABLE),
)


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
    message = error.message if len(error.message) <= MAX_MESSAGE_CHARS else error.message[:MAX_MESSAGE_CHARS] + "..."
    return rpc_status.to_status(status_pb2.Status(code=code.value[0], message=message, details=details))


_DATABASE_UNAVAILABLE = errors.DatabaseUnavailable(
    "The gateway's database is not answering; nothing was done or charged. Retry shortly."
)
_INTERNAL = rpc_status.to_status(
    status_pb2.Status(code=code_pb2.INTERNAL, message="Internal error in the gateway; it has been logged.")
)


async def abort_for(context: Context, exc: Exception, method: str, outages: OutageLog | None = None) -> NoReturn:
    """End the call with the status of a domain error, or INTERNAL (logged) for anything else.

    A database that does not answer is UNAVAILABLE (DATABASE_UNAVAILABLE), logged once per
    outage through `outages` rather than once per call.
    """
    if is_outage(exc):
        if outages is not None:
            outages.failed(exc)
        exc = _DATABASE_UNAVAILABLE
    if isinstance(exc, errors.GatewayError):
        await context.abort_with_status(status_for(exc))
    logger.error("unhandled error in %s", method, exc_info=exc)
    await context.abort_with_status(_INTERNAL)
