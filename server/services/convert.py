"""Timestamps and money as they cross the wire, the same in every service.

Times are aware UTC datetimes inside and `google.protobuf.Timestamp` outside; money is
integer picodollars inside and a decimal USD string outside (DESIGN.md's JSON contract).
"""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import timestamp_pb2
from google.protobuf.message import Message

from llmgw.server.core.money import format_usd


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    """A protobuf Timestamp for an aware datetime."""
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(value)
    return message


def optional_datetime(message: Message, field: str) -> datetime | None:
    """The aware UTC datetime in a Timestamp field, or None when the field is not set."""
    if not message.HasField(field):
        return None
    value: datetime = getattr(message, field).ToDatetime(tzinfo=UTC)
    return value


def usd(picodollars: int) -> str:
    """An amount as the API writes it: a decimal USD string without trailing zeros."""
    return format_usd(picodollars)
