"""Timestamps and money on the wire."""

from __future__ import annotations

from datetime import UTC, datetime

from llmgw.server.services.convert import optional_datetime, timestamp, usd
from llmgw.v1 import key_service_pb2


def test_a_timestamp_round_trips_to_an_aware_datetime() -> None:
    moment = datetime(2026, 12, 1, 12, 30, 15, 250_000, tzinfo=UTC)
    request = key_service_pb2.CreateKeyRequest(name="laptop", expires_at=timestamp(moment))
    assert optional_datetime(request, "expires_at") == moment


def test_an_unset_timestamp_is_none() -> None:
    assert optional_datetime(key_service_pb2.CreateKeyRequest(name="laptop"), "expires_at") is None


def test_money_is_a_decimal_string_without_trailing_zeros() -> None:
    assert usd(0) == "0"
    assert usd(1_500_000_000_000) == "1.5"
    assert usd(123) == "0.000000000123"
