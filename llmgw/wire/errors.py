"""Domain errors of the gateway, raised by core, providers and services.

None of these modules call grpc to fail a request: they raise one of these, and
one interceptor (server/rpc/status.py) maps each class to its gRPC status and
`google.rpc.ErrorInfo` reason, choosing the most specific class.

GatewayError
├── Unauthenticated          missing, unknown, expired or deleted API key
├── PermissionDenied         admin call by a non-admin
│   └── ModelAccessDenied    model not allowed by the caller's policy
├── NotFound                 unknown resource (e.g. a key name)
│   └── ModelNotFound        the catalog does not know the model
├── InvalidArgument          malformed request, bad value, unsupported feature
├── QuotaExceeded            the caller's spend for the period reached the limit
├── RateLimited              the caller's requests or tokens per minute reached the limit
├── ShuttingDown             the gateway is stopping and ended the call
├── DatabaseUnavailable      the gateway's database did not answer
├── Overloaded               the gateway serves as many calls as it may
└── UpstreamError            Bedrock failed
    ├── UpstreamThrottled    Bedrock kept throttling after retries
    └── UpstreamTimeout      Bedrock did not answer in time
"""

from __future__ import annotations

from typing import ClassVar


class GatewayError(Exception):
    """Base of every error a client may see; its message is safe to show them."""

    reason: ClassVar[str]
    """The `google.rpc.ErrorInfo` reason: a value of the `ErrorReason` proto enum without its prefix."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthenticated(GatewayError):
    """The call carries no valid credential."""

    reason = "INVALID_API_KEY"


class PermissionDenied(GatewayError):
    """The caller is known but may not do this."""

    reason = "PERMISSION_DENIED"


class ModelAccessDenied(PermissionDenied):
    """The caller's model-access policy does not include the model."""

    reason = "MODEL_ACCESS_DENIED"


class NotFound(GatewayError):
    """The named resource does not exist (or is not the caller's to see)."""

    reason = "NOT_FOUND"


class ModelNotFound(NotFound):
    """The catalog has no such model, so it cannot be priced or served."""

    reason = "MODEL_NOT_FOUND"


class InvalidArgument(GatewayError):
    """The request is malformed or asks for something the model cannot do."""

    reason = "INVALID_REQUEST"

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class QuotaExceeded(GatewayError):
    """The caller's spend for the current period has reached its limit."""

    reason = "QUOTA_EXCEEDED"


class RateLimited(GatewayError):
    """The caller's requests or tokens in the current minute reached their rate limit."""

    reason = "RATE_LIMIT_EXCEEDED"

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class ShuttingDown(GatewayError):
    """The gateway is stopping: the call did not finish within the shutdown grace period."""

    reason = "SHUTTING_DOWN"


class DatabaseUnavailable(GatewayError):
    """The gateway's database is unreachable (an outage, a failover); the client should retry."""

    reason = "DATABASE_UNAVAILABLE"


class Overloaded(GatewayError):
    """The worker already serves MAX_CONCURRENT_CALLS calls; nothing was done, the client should retry."""

    reason = "OVERLOADED"


class UpstreamError(GatewayError):
    """Bedrock failed in a way that is not the caller's fault."""

    reason = "UPSTREAM_ERROR"


class UpstreamThrottled(UpstreamError):
    """Bedrock kept throttling after the client's retries."""

    reason = "UPSTREAM_THROTTLED"


class UpstreamTimeout(UpstreamError):
    """Bedrock did not answer within the deadline."""

    reason = "UPSTREAM_TIMEOUT"
