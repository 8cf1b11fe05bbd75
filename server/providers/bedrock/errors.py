"""botocore failures -> the gateway's domain errors, in one table (as ai-gateway reads x-amzn-errortype).

Bedrock's error code decides whose fault a failure is: the caller's request
(InvalidArgument), Bedrock's capacity (UpstreamThrottled, after botocore's own
retries), time (UpstreamTimeout) or something the operator must fix. Messages
name the model and never carry stack traces, account ids or credentials; only a
ValidationException's own text is passed on, since it tells the caller what to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    HTTPClientError,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from llmgw.server.providers.bedrock.native import NativeError
from llmgw.wire.errors import (
    GatewayError,
    InvalidArgument,
    ModelNotFound,
    UpstreamError,
    UpstreamThrottled,
    UpstreamTimeout,
)

# Bedrock's own failures (5xx): worth another attempt, here or in another region.
_SERVER_FAULTS = frozenset({"InternalServerException", "InternalFailure", "ServiceException", "ModelErrorException"})

_THROTTLED = frozenset(
    {
        "ThrottlingException",
        "ServiceUnavailableException",
        "ModelNotReadyException",
        "ServiceQuotaExceededException",
    }
)


class UpstreamUnavailable(UpstreamError):
    """Bedrock failed on its side (a 5xx) or could not be reached: another attempt may succeed.

    Clients see it as UPSTREAM_ERROR, like any UpstreamError; the class exists so the
    router can tell it from failures that no retry will fix (access denied).
    """


def is_retryable(error: BaseException) -> bool:
    """Whether another attempt (after a backoff, or at another target) may succeed where this one failed.

    Throttling, timeouts, 5xx and connection failures are; the caller's mistakes
    (validation), access denials and unknown models are not.
    """
    return isinstance(error, UpstreamThrottled | UpstreamTimeout | UpstreamUnavailable)


def map_bedrock_error(exc: BaseException, model_id: str) -> GatewayError:
    """The domain error to raise for an exception out of boto3 while calling `model_id`."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, NativeError):
        return _from_status(exc.status, exc.message, model_id)
    if isinstance(exc, ClientError):  # also botocore's EventStreamError, raised for in-stream errors
        error: Mapping[str, Any] = exc.response.get("Error", {})
        return _from_code(str(error.get("Code", "")), str(error.get("Message", "")), model_id)
    if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError)):
        return UpstreamTimeout(f"Bedrock did not answer in time for the model '{model_id}'.")
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return UpstreamUnavailable(f"Bedrock could not be reached for the model '{model_id}'.")
    if isinstance(exc, BotoCoreError):
        return UpstreamError(f"Bedrock could not be called for the model '{model_id}'.")
    return UpstreamError(f"The call to Bedrock for the model '{model_id}' failed unexpectedly.")


# The native Messages route answers with HTTP statuses (and Anthropic-style bodies), not
# AWS error codes; each status stands for the code Bedrock gives the same failure elsewhere.
_CODE_BY_STATUS = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    422: "ValidationException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
    504: "ModelTimeoutException",
    529: "ServiceUnavailableException",
}


def _from_status(status: int, message: str, model_id: str) -> GatewayError:
    return _from_code(
        _CODE_BY_STATUS.get(status, "ModelStreamErrorException" if status == 0 else ""), message, model_id
    )


def _from_code(code: str, message: str, model_id: str) -> GatewayError:
    if code == "ValidationException":
        detail = f": {message}" if message else "."
        return InvalidArgument(f"Bedrock rejected the request for '{model_id}'{detail}")
    if code in _THROTTLED:
        return UpstreamThrottled(f"Bedrock is too busy to serve the model '{model_id}' right now; retry later.")
    if code == "ModelTimeoutException":
        return UpstreamTimeout(f"The model '{model_id}' took too long to answer on Bedrock.")
    if code == "AccessDeniedException":
        return UpstreamError(
            f"The gateway's AWS account has no access to the model '{model_id}' on Bedrock; "
            "ask the gateway's operator to enable it."
        )
    if code == "ResourceNotFoundException":
        return ModelNotFound(f"Bedrock does not offer the model '{model_id}' in the gateway's region.")
    if code in _SERVER_FAULTS:
        return UpstreamUnavailable(f"Bedrock failed to serve the model '{model_id}' ({code}).")
    name = code or "an unknown error"
    return UpstreamError(f"Bedrock failed to serve the model '{model_id}' ({name}).")
