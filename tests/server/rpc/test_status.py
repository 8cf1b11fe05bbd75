"""The one error -> status table, row by row, and every reason tied to the ErrorReason proto enum."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

import llmgw.server.app  # noqa: F401  (imports every module that defines a domain error)
from llmgw.server.rpc.status import status_for
from llmgw.v1 import error_reason_pb2
from llmgw.wire import errors
from llmgw.wire.status_details import ERROR_DOMAIN, status_details

ENUM_REASONS = {
    name.removeprefix("ERROR_REASON_")
    for name in error_reason_pb2.ErrorReason.keys()  # noqa: SIM118 (an enum wrapper, not a dict)
    if name != "ERROR_REASON_UNSPECIFIED"
}


def every_error_class() -> list[type[errors.GatewayError]]:
    found: list[type[errors.GatewayError]] = []
    pending = list(errors.GatewayError.__subclasses__())
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


@pytest.mark.parametrize(
    ("error", "code", "reason"),
    [
        (errors.Unauthenticated("no key"), grpc.StatusCode.UNAUTHENTICATED, "INVALID_API_KEY"),
        (errors.PermissionDenied("admins only"), grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED"),
        (errors.ModelAccessDenied("not yours"), grpc.StatusCode.PERMISSION_DENIED, "MODEL_ACCESS_DENIED"),
        (errors.NotFound("no such key"), grpc.StatusCode.NOT_FOUND, "NOT_FOUND"),
        (errors.ModelNotFound("no such model"), grpc.StatusCode.NOT_FOUND, "MODEL_NOT_FOUND"),
        (errors.InvalidArgument("bad"), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST"),
        (errors.QuotaExceeded("spent"), grpc.StatusCode.RESOURCE_EXHAUSTED, "QUOTA_EXCEEDED"),
        (errors.RateLimited("slow down", 7), grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMIT_EXCEEDED"),
        (errors.ShuttingDown("bye"), grpc.StatusCode.UNAVAILABLE, "SHUTTING_DOWN"),
        (errors.Overloaded("busy"), grpc.StatusCode.UNAVAILABLE, "OVERLOADED"),
        (errors.UpstreamError("bedrock failed"), grpc.StatusCode.UNAVAILABLE, "UPSTREAM_ERROR"),
        (errors.UpstreamThrottled("throttled"), grpc.StatusCode.UNAVAILABLE, "UPSTREAM_THROTTLED"),
        (errors.UpstreamTimeout("too slow"), grpc.StatusCode.DEADLINE_EXCEEDED, "UPSTREAM_TIMEOUT"),
    ],
)
def test_each_error_becomes_its_status(error: errors.GatewayError, code: grpc.StatusCode, reason: str) -> None:
    status = status_for(error)
    assert status.code == code
    assert status.details == error.message
    details = status_details(status.trailing_metadata)
    assert details.reason == reason


def test_field_and_retry_delay_travel_as_details() -> None:
    status = status_for(errors.InvalidArgument("temperature must be 0 to 2", field="temperature"))
    assert status_details(status.trailing_metadata).field == "temperature"
    limited = status_details(status_for(errors.RateLimited("slow down", 7)).trailing_metadata)
    assert limited.retry_after_seconds == 7


def test_the_error_info_names_our_domain() -> None:
    status = status_for(errors.QuotaExceeded("spent"))
    proto = rpc_status.from_call(_Call(status))  # type: ignore[arg-type]  # duck-typed like grpc.Call
    assert proto is not None
    info = error_details_pb2.ErrorInfo()
    assert proto.details[0].Unpack(info)
    assert info.domain == ERROR_DOMAIN


def test_every_reason_the_server_can_raise_is_in_the_proto_enum() -> None:
    raised = {cls.reason for cls in every_error_class()}
    assert raised <= ENUM_REASONS, raised - ENUM_REASONS


def test_every_enum_reason_is_raised_by_some_error() -> None:
    raised = {cls.reason for cls in every_error_class()}
    assert raised >= ENUM_REASONS, ENUM_REASONS - raised


class _Call:
    """The two methods rpc_status.from_call reads, over a ready-made status."""

    def __init__(self, status: grpc.Status) -> None:
        self._status = status

    def code(self) -> grpc.StatusCode:
        return self._status.code

    def details(self) -> str:
        return self._status.details

    def trailing_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        return tuple(self._status.trailing_metadata)


def test_unreadable_details_are_empty() -> None:
    garbage = (("grpc-status-details-bin", b"\xff\x00not a status"),)
    assert not status_details(garbage).from_gateway
    other_domain = status_pb2.Status(code=3, message="x")
    info = error_details_pb2.ErrorInfo(reason="NOPE", domain="example.com")
    other_domain.details.add().Pack(info)
    assert not status_details((("grpc-status-details-bin", other_domain.SerializeToString()),)).from_gateway
