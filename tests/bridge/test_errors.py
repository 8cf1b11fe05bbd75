"""The gRPC status -> OpenAI error table and the reading of google.rpc.ErrorInfo details."""

from __future__ import annotations

import json

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from llmgw.bridge.errors import FALLBACK_BODY, STATUS_TABLE, ClientError, OpenAIError, from_status


def details(reason: str, domain: str = "llmgw.dev", **metadata: str) -> list[tuple[str, str | bytes]]:
    packed = any_pb2.Any()
    packed.Pack(error_details_pb2.ErrorInfo(reason=reason, domain=domain, metadata=metadata))
    status = status_pb2.Status(code=1, message="m", details=[packed])
    return [("grpc-status-details-bin", status.SerializeToString())]


@pytest.mark.parametrize(
    ("code", "http_status", "kind", "default_code"),
    [
        (grpc.StatusCode.UNAUTHENTICATED, 401, "invalid_request_error", "invalid_api_key"),
        (grpc.StatusCode.PERMISSION_DENIED, 403, "permission_denied", "permission_denied"),
        (grpc.StatusCode.NOT_FOUND, 404, "invalid_request_error", "model_not_found"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 429, "insufficient_quota", "quota_exceeded"),
        (grpc.StatusCode.INVALID_ARGUMENT, 400, "invalid_request_error", None),
        (grpc.StatusCode.UNAVAILABLE, 503, "api_error", None),
        (grpc.StatusCode.DEADLINE_EXCEEDED, 504, "api_error", None),
    ],
)
def test_table_matches_design(code: grpc.StatusCode, http_status: int, kind: str, default_code: str | None) -> None:
    """Each status maps to DESIGN.md's HTTP status, type and default code."""
    mapping = STATUS_TABLE[code]
    assert (mapping.http_status, mapping.type, mapping.default_code) == (http_status, kind, default_code)
    ours = details("QUOTA_EXCEEDED") if code == grpc.StatusCode.RESOURCE_EXHAUSTED else []
    error = from_status(code, "server says", ours)
    expected_code = "quota_exceeded" if ours else default_code
    assert (error.http_status, error.type, error.code) == (http_status, kind, expected_code)


def test_transport_limit_is_never_a_quota() -> None:
    """RESOURCE_EXHAUSTED without the gateway's ErrorInfo (gRPC's metadata limit) is a 431, not a 429 quota error."""
    error = from_status(grpc.StatusCode.RESOURCE_EXHAUSTED, "received metadata size exceeds limit", [])
    assert (error.http_status, error.code) == (431, "request_headers_too_large")
    assert "metadata" not in error.message


def test_table_has_only_design_rows() -> None:
    """No status beyond DESIGN.md's table is mapped; the rest fall to 500."""
    assert len(STATUS_TABLE) == 7


def test_code_and_param_come_from_error_info() -> None:
    """`code` is the lowercased ErrorInfo reason, `param` its field metadata, and the message passes through."""
    error = from_status(
        grpc.StatusCode.PERMISSION_DENIED, "no access to m", details("MODEL_ACCESS_DENIED", field="model")
    )
    assert error == OpenAIError(403, "no access to m", "permission_denied", "model", "model_access_denied")


def test_message_without_error_info_is_generic() -> None:
    """A status without our ErrorInfo (transport failure) never leaks its message."""
    error = from_status(grpc.StatusCode.UNAVAILABLE, "failed to connect to 10.0.0.3:50051", [])
    assert "10.0.0.3" not in error.message
    foreign = from_status(grpc.StatusCode.NOT_FOUND, "internal path /x", details("X", domain="other.dev"))
    assert foreign.message == "not found"
    assert foreign.code == "model_not_found"


@pytest.mark.parametrize("code", [grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.CANCELLED])
def test_unknown_codes_are_500(code: grpc.StatusCode, caplog: pytest.LogCaptureFixture) -> None:
    """Unmapped statuses become a generic 500 api_error and are logged."""
    error = from_status(code, "Traceback (most recent call last): ...", details("X"))
    assert (error.http_status, error.type, error.message) == (500, "api_error", "internal error")
    assert code.name in caplog.text


def test_garbage_details_are_ignored() -> None:
    """Unparseable status details fall back to the table's defaults."""
    error = from_status(grpc.StatusCode.NOT_FOUND, "x", [("grpc-status-details-bin", b"\xff\xff")])
    assert error.code == "model_not_found"


def test_bodies() -> None:
    """Bodies are OpenAI's shape; the constant fallback is valid JSON too."""
    body = json.loads(OpenAIError(400, "m", "invalid_request_error", "p", None).body())
    assert body == {"error": {"message": "m", "type": "invalid_request_error", "param": "p", "code": None}}
    assert json.loads(FALLBACK_BODY)["error"]["type"] == "api_error"
    assert OpenAIError(500, "bad \udc80 surrogate", "api_error").body().startswith(b'{"error"')
    assert ClientError("x", http_status=413).to_openai().http_status == 413


def test_retry_info_becomes_retry_after() -> None:
    """A RetryInfo detail beside the ErrorInfo gives the Retry-After seconds (rounded up)."""
    info, retry = any_pb2.Any(), any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason="RATE_LIMIT_EXCEEDED", domain="llmgw.dev"))
    retry.Pack(error_details_pb2.RetryInfo(retry_delay={"seconds": 12, "nanos": 5}))
    status = status_pb2.Status(code=8, message="slow down", details=[info, retry])
    error = from_status(
        grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down", [("grpc-status-details-bin", status.SerializeToString())]
    )
    assert (error.http_status, error.code, error.retry_after) == (429, "rate_limit_exceeded", 13)
    assert from_status(grpc.StatusCode.RESOURCE_EXHAUSTED, "m", details("QUOTA_EXCEEDED")).retry_after is None
