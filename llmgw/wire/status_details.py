"""Reading the machine-readable part of a failed gRPC call: its ErrorInfo and RetryInfo.

The server packs a `google.rpc.ErrorInfo` (domain `llmgw.dev`, the reason, the offending field)
and, for rate limits, a `google.rpc.RetryInfo` into the `grpc-status-details-bin` trailer. The
bridge turns them into OpenAI error bodies and the TUI into messages; both read them here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2

ERROR_DOMAIN = "llmgw.dev"
STATUS_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True, slots=True)
class StatusDetails:
    """What the gateway said about a failure, beyond the status code and message."""

    reason: str = ""
    """The ErrorInfo reason (`QUOTA_EXCEEDED`); empty when the failure did not come from the gateway."""
    field: str = ""
    """The request field at fault, when there is one."""
    retry_after_seconds: int | None = None
    """Whole seconds to wait before retrying (rounded up), when the gateway said."""

    @property
    def from_gateway(self) -> bool:
        """Whether the gateway's error mapping produced the status (not a transport failure)."""
        return bool(self.reason)


def status_details(trailing_metadata: Sequence[tuple[str, str | bytes]] | None) -> StatusDetails:
    """The details in a call's trailing metadata; empty details if absent or unreadable."""
    for key, value in trailing_metadata or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            return _parse(value)
    return StatusDetails()


def _parse(serialized: bytes) -> StatusDetails:
    status = status_pb2.Status()
    try:
        status.ParseFromString(serialized)
    except DecodeError:
        return StatusDetails()
    found: error_details_pb2.ErrorInfo | None = None
    retry_after: int | None = None
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        retry = error_details_pb2.RetryInfo()
        if found is None and detail.Unpack(info) and info.domain == ERROR_DOMAIN:
            found = info
        elif detail.Unpack(retry):
            delay = retry.retry_delay
            retry_after = max(0, delay.seconds + (1 if delay.nanos > 0 else 0))
    if found is None:
        return StatusDetails(retry_after_seconds=retry_after)
    return StatusDetails(found.reason, found.metadata.get("field", ""), retry_after)
