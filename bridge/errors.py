"""The one place where failures become OpenAI error bodies, so the SDKs raise the right exception.

`STATUS_TABLE` maps each gRPC status the gateway uses to (HTTP status, OpenAI `type`, default
`code`), exactly as DESIGN.md's error table. The `code` comes from the `google.rpc.ErrorInfo`
reason in the status details (lowercased), never from message text; `param` comes from the
ErrorInfo's `field` metadata; a `google.rpc.RetryInfo` detail becomes the `Retry-After` header.
A status without an `llmgw.dev` ErrorInfo did not come from our server's error mapping (a
transport failure, a crash), so its message is replaced by the table's generic one: no internal
detail reaches a client. Unknown codes are logged and become 500.

Faults the bridge finds itself (bad JSON, unknown route, oversized body) are `ClientError`s and
take the same path to the wire.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from llmgw.bridge.codec import dumps
from llmgw.wire.status_details import status_details

logger = logging.getLogger(__name__)

#: The body sent when even an error cannot be serialized.
FALLBACK_BODY = b'{"error":{"message":"internal error","type":"api_error","param":null,"code":null}}'


@dataclass(frozen=True, slots=True)
class ErrorMapping:
    """How one gRPC status looks on HTTP."""

    http_status: int
    type: str
    default_code: str | None
    default_message: str


STATUS_TABLE: dict[grpc.StatusCode, ErrorMapping] = {
    grpc.StatusCode.UNAUTHENTICATED: ErrorMapping(
        401, "invalid_request_error", "invalid_api_key", "missing or invalid API key"
    ),
    grpc.StatusCode.PERMISSION_DENIED: ErrorMapping(403, "permission_denied", "permission_denied", "permission denied"),
    grpc.StatusCode.NOT_FOUND: ErrorMapping(404, "invalid_request_error", "model_not_found", "not found"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: ErrorMapping(429, "insufficient_quota", "quota_exceeded", "quota exceeded"),
    grpc.StatusCode.INVALID_ARGUMENT: ErrorMapping(400, "invalid_request_error", None, "invalid request"),
    grpc.StatusCode.UNAVAILABLE: ErrorMapping(503, "api_error", None, "the service is unavailable, retry later"),
    grpc.StatusCode.DEADLINE_EXCEEDED: ErrorMapping(
        504, "api_error", None, "the upstream model did not answer in time"
    ),
}
UNKNOWN_MAPPING = ErrorMapping(500, "api_error", None, "internal error")


@dataclass(frozen=True, slots=True)
class OpenAIError:
    """An error ready for the wire: the HTTP status and the fields of OpenAI's error body."""

    http_status: int
    message: str
    type: str
    param: str | None = None
    code: str | None = None
    retry_after: int | None = None
    """Seconds the client should wait before retrying (the `Retry-After` header), when the server said."""

    def payload(self) -> dict[str, object]:
        """The `{"error": {...}}` object, also used as the in-band SSE error event."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def body(self) -> bytes:
        """The serialized body; the constant FALLBACK_BODY if serialization fails."""
        try:
            return dumps(self.payload())
        except (TypeError, ValueError):
            logger.exception("could not serialize an error body")
            return FALLBACK_BODY


#: A RESOURCE_EXHAUSTED the gateway did not send: a gRPC transport limit (headers too large), never a quota.
TRANSPORT_LIMIT = OpenAIError(
    431, "request headers too large for the gateway", "invalid_request_error", None, "request_headers_too_large"
)


class ClientError(Exception):
    """A fault in what the client sent, found by the bridge before any RPC (400, 404, 405, 413)."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int = 400,
        param: str | None = None,
        code: str | None = None,
        allow: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.param = param
        self.code = code
        self.allow = tuple(allow)

    def to_openai(self) -> OpenAIError:
        """The error as the client sees it."""
        return OpenAIError(self.http_status, self.message, "invalid_request_error", self.param, self.code)


def from_status(
    code: grpc.StatusCode,
    message: str | None,
    trailing_metadata: Sequence[tuple[str, str | bytes]] | None,
) -> OpenAIError:
    """Map a gRPC status and its details onto the OpenAI error the client should see."""
    mapping = STATUS_TABLE.get(code)
    if mapping is None:
        logger.error("gRPC call failed with unmapped status %s", code.name)
        return OpenAIError(UNKNOWN_MAPPING.http_status, UNKNOWN_MAPPING.default_message, UNKNOWN_MAPPING.type)
    details = status_details(trailing_metadata)
    if not details.from_gateway:
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            # Not our quota: gRPC's own limits (metadata or message too large) say so this way.
            logger.warning("gRPC transport limit hit: %s", (message or "")[:200])
            return TRANSPORT_LIMIT
        return OpenAIError(mapping.http_status, mapping.default_message, mapping.type, None, mapping.default_code)
    return OpenAIError(
        mapping.http_status,
        message or mapping.default_message,
        mapping.type,
        details.field or None,
        details.reason.lower(),
        details.retry_after_seconds,
    )


def from_rpc_error(error: grpc.aio.AioRpcError) -> OpenAIError:
    """Map a failed grpc.aio call."""
    return from_status(error.code(), error.details(), tuple(error.trailing_metadata() or ()))
