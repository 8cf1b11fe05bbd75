"""Table tests of botocore failures -> domain errors (server/providers/bedrock/errors.py)."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    EventStreamError,
    NoCredentialsError,
    ReadTimeoutError,
)

from llmgw.server.providers.bedrock.errors import UpstreamUnavailable, is_retryable, map_bedrock_error
from llmgw.server.providers.bedrock.native import NativeError
from llmgw.wire.errors import (
    GatewayError,
    InvalidArgument,
    ModelNotFound,
    QuotaExceeded,
    UpstreamError,
    UpstreamThrottled,
    UpstreamTimeout,
)

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
SECRET_MESSAGE = "User: arn:aws:iam::123456789012:user/ops is not authorized"


def client_error(code: str, message: str = "details from Bedrock", operation: str = "Converse") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ThrottlingException", UpstreamThrottled),
        ("ServiceUnavailableException", UpstreamThrottled),
        ("ModelNotReadyException", UpstreamThrottled),
        ("ServiceQuotaExceededException", UpstreamThrottled),
        ("ModelTimeoutException", UpstreamTimeout),
        ("AccessDeniedException", UpstreamError),
        ("ResourceNotFoundException", ModelNotFound),
        ("InternalServerException", UpstreamUnavailable),
        ("ModelErrorException", UpstreamUnavailable),
        ("ModelStreamErrorException", UpstreamError),
        ("SomethingNewException", UpstreamError),
        ("", UpstreamError),
    ],
)
def test_client_error_codes(code: str, expected: type[GatewayError]) -> None:
    """Each Bedrock error code maps to exactly its domain error class, naming the model."""
    error = map_bedrock_error(client_error(code, SECRET_MESSAGE), MODEL)
    assert type(error) is expected
    assert MODEL in error.message
    assert "123456789012" not in error.message


@pytest.mark.parametrize(
    "code", ["ThrottlingException", "ValidationException", "ModelStreamErrorException", "InternalServerException"]
)
def test_event_stream_errors_use_the_same_table(code: str) -> None:
    """In-stream errors (EventStreamError) map exactly like the same code before the stream."""
    in_stream = EventStreamError({"Error": {"Code": code, "Message": "m"}}, "ConverseStream")
    before = map_bedrock_error(client_error(code, "m"), MODEL)
    after = map_bedrock_error(in_stream, MODEL)
    assert (type(after), after.message) == (type(before), before.message)


def test_validation_passes_bedrock_message_on() -> None:
    """A ValidationException tells the caller what Bedrock objected to."""
    error = map_bedrock_error(client_error("ValidationException", "temperature: must be <= 1"), MODEL)
    assert isinstance(error, InvalidArgument)
    assert error.message == f"Bedrock rejected the request for '{MODEL}': temperature: must be <= 1"


def test_access_denied_blames_the_operator() -> None:
    """AccessDenied says the gateway's AWS account lacks access, not that the caller does."""
    error = map_bedrock_error(client_error("AccessDeniedException", SECRET_MESSAGE), MODEL)
    assert "gateway's AWS account" in error.message
    assert "operator" in error.message


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        pytest.param(ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), UpstreamTimeout, id="read-timeout"),
        pytest.param(ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"), UpstreamTimeout, id="connect-timeout"),
        pytest.param(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), UpstreamUnavailable, id="unreachable"),
        pytest.param(NoCredentialsError(), UpstreamError, id="other-botocore"),
        pytest.param(OSError("boom"), UpstreamError, id="not-botocore"),
    ],
)
def test_transport_errors(exc: BaseException, expected: type[GatewayError]) -> None:
    """Timeouts become UpstreamTimeout; other transport failures UpstreamError, without their text."""
    error = map_bedrock_error(exc, MODEL)
    assert type(error) is expected
    assert "127.0.0.1:1" not in error.message
    assert "boom" not in error.message


def test_unreachable_message() -> None:
    """An unreachable endpoint says Bedrock could not be reached."""
    assert "Bedrock could not be reached" in map_bedrock_error(EndpointConnectionError(endpoint_url="x"), MODEL).message


def test_gateway_errors_pass_through() -> None:
    """A domain error raised inside a provider call is returned unchanged."""
    original = QuotaExceeded("over")
    assert map_bedrock_error(original, MODEL) is original


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        ("ThrottlingException", True),
        ("ServiceUnavailableException", True),
        ("ModelTimeoutException", True),
        ("InternalServerException", True),
        ("ModelErrorException", True),
        ("ValidationException", False),
        ("AccessDeniedException", False),
        ("ResourceNotFoundException", False),
        ("SomethingNewException", False),
    ],
)
def test_retryable_errors(code: str, retryable: bool) -> None:
    """Throttling, timeouts and Bedrock's own 5xx are worth another attempt; the caller's and access errors are not."""
    assert is_retryable(map_bedrock_error(client_error(code), MODEL)) is retryable


def test_connection_failures_are_retryable() -> None:
    """An endpoint that cannot be reached or times out is worth another attempt (elsewhere)."""
    assert is_retryable(map_bedrock_error(EndpointConnectionError(endpoint_url="x"), MODEL))
    assert is_retryable(map_bedrock_error(ReadTimeoutError(endpoint_url="x"), MODEL))


@pytest.mark.parametrize(
    ("status", "retryable"), [(429, True), (500, True), (503, True), (529, True), (400, False), (403, False)]
)
def test_native_route_statuses_retry_like_their_codes(status: int, retryable: bool) -> None:
    """The native Messages route's HTTP statuses retry as the codes they stand for: a 500 is Bedrock's fault."""
    assert is_retryable(map_bedrock_error(NativeError(status, "from the route"), MODEL)) is retryable
