"""Money and retries: a frequency change keeps the period's spend; attempts are attempts; a deadline bounds them."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import grpc
import pytest

from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.v1 import chat_service_pb2_grpc, quota_pb2, quota_service_pb2
from tests.server.services.conftest import Gov, ask, ledger, md, rows, start_gateway

DAILY, WEEKLY = quota_pb2.QUOTA_FREQUENCY_DAILY, quota_pb2.QUOTA_FREQUENCY_WEEKLY


def _status(gov: Gov) -> quota_pb2.QuotaStatus:
    return gov.stubs.quotas.GetQuotaStatus(
        quota_service_pb2.GetQuotaStatusRequest(user="alice"), metadata=md(gov.root)
    ).status


def _set(gov: Gov, frequency: quota_pb2.QuotaFrequency.ValueType) -> None:
    gov.stubs.quotas.SetQuota(
        quota_service_pb2.SetQuotaRequest(user="alice", frequency=frequency, limit_usd="5"), metadata=md(gov.root)
    )


def test_frequency_change_keeps_the_period_spend(gov: Gov) -> None:
    """Weekly to daily to weekly: today's spend follows each change; the ledger total stays the rows' sum."""
    _set(gov, WEEKLY)
    for _ in range(3):
        gov.stubs.chat.CreateChatCompletion(ask(), metadata=md(gov.alice))
    spent = Decimal(_status(gov).spent_usd)
    assert spent > 0
    _set(gov, DAILY)
    assert Decimal(_status(gov).spent_usd) == spent
    _set(gov, WEEKLY)
    assert Decimal(_status(gov).spent_usd) == spent
    gov.stubs.quotas.ResetQuota(quota_service_pb2.ResetQuotaRequest(user="alice"), metadata=md(gov.root))
    assert Decimal(_status(gov).spent_usd) == spent  # the default is weekly too
    assert ledger("alice").spent_picodollars == sum(row.cost_picodollars for row in rows("alice"))


def test_max_attempts_counts_calls(gov: Gov, fake_bedrock: FakeBedrockServer, store_url: str, tmp_path: object) -> None:
    """BEDROCK_MAX_ATTEMPTS=3 makes exactly 3 calls to a Bedrock that keeps throttling."""
    from pathlib import Path

    running = start_gateway(
        store_url, Path(str(tmp_path)) / "three", fake_bedrock.url, gov.clock, bedrock_max_attempts=3
    )
    try:
        key = running.create_key("carol", "main")
        before = fake_bedrock.app.stats.requests
        with running.channel() as channel:
            from llmgw.v1 import chat_service_pb2_grpc

            with pytest.raises(grpc.RpcError) as throttled:
                chat_service_pb2_grpc.ChatServiceStub(channel).CreateChatCompletion(
                    ask("[[fault:throttle]] again"), metadata=md(key)
                )
        assert throttled.value.code() == grpc.StatusCode.UNAVAILABLE
        assert fake_bedrock.app.stats.requests - before == 3
    finally:
        running.stop()


def test_deadline_bounds_the_retry_loop(
    gov: Gov, fake_bedrock: FakeBedrockServer, store_url: str, tmp_path: Path
) -> None:
    """A hung Bedrock, 2 s read timeout, 3 attempts: 504 at the 1 s total deadline, not after 2 to 6 s; charged."""
    running = start_gateway(
        store_url,
        tmp_path / "deadline",
        fake_bedrock.url,
        gov.clock,
        bedrock_max_attempts=3,
        bedrock_read_timeout_seconds=2,
        bedrock_total_timeout_seconds=1,
    )
    try:
        key = running.create_key("dave", "main")
        with running.channel() as channel, pytest.raises(grpc.RpcError) as hung:
            chat_service_pb2_grpc.ChatServiceStub(channel).CreateChatCompletion(
                ask("[[fault:hang]] hello", max_tokens=20), metadata=md(key), timeout=30
            )
        assert hung.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "deadline of 1 s" in (hung.value.details() or "")
    finally:
        running.stop()
    [row] = rows("dave")
    assert row.error_reason == "UPSTREAM_TIMEOUT"
    assert row.latency_ms < 2000, "the deadline cut off the attempts (one alone would take 2 s)"
    assert row.cost_picodollars > 0, "a call Bedrock never answered is charged its bound"
