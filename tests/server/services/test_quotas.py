"""QuotaService and the ledger through the gateway: limits, refusals, exact bound under concurrency, roll-over."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import grpc
import pytest

from llmgw.server.core.money import format_usd
from llmgw.server.store.models import QuotaLedger, RequestRecord, UserQuota
from llmgw.v1 import chat_pb2, chat_service_pb2, chat_service_pb2_grpc, quota_pb2, quota_service_pb2
from tests.server.services.conftest import Gov, ask, field_of, ledger, md, reason, rows
from tests.support import picodollars


def _set(
    gov: Gov, user: str, limit: str, frequency: quota_pb2.QuotaFrequency.ValueType = quota_pb2.QUOTA_FREQUENCY_DAILY
) -> quota_pb2.Quota:
    request = quota_service_pb2.SetQuotaRequest(user=user, frequency=frequency, limit_usd=limit)
    quota: quota_pb2.Quota = gov.stubs.quotas.SetQuota(request, metadata=md(gov.root)).quota
    return quota


def _status(gov: Gov, key: str, user: str = "me") -> quota_pb2.QuotaStatus:
    request = quota_service_pb2.GetQuotaStatusRequest(user=user)
    status: quota_pb2.QuotaStatus = gov.stubs.quotas.GetQuotaStatus(request, metadata=md(key)).status
    return status


def _wait_settled(user: str) -> None:
    deadline = time.monotonic() + 5
    while ledger(user).reserved_picodollars and time.monotonic() < deadline:
        time.sleep(0.02)


def test_quota_round_trip_and_status(gov: Gov) -> None:
    """Defaults apply until set; status shows spend after a request; reset restores the default."""
    got = gov.stubs.quotas.GetQuota(quota_service_pb2.GetQuotaRequest(user="alice"), metadata=md(gov.root)).quota
    assert (got.frequency, got.limit_usd, got.is_default) == (quota_pb2.QUOTA_FREQUENCY_WEEKLY, "25", True)
    assert _set(gov, "alice", "1.5").limit_usd == "1.5"
    gov.stubs.chat.CreateChatCompletion(ask(), metadata=md(gov.alice))
    status = _status(gov, gov.alice)
    spent = sum(row.cost_picodollars for row in rows("alice"))
    assert spent > 0
    assert status.spent_usd == format_usd(spent)
    assert status.remaining_usd == format_usd(picodollars("1.5") - spent)
    assert status.reserved_usd == "0"
    assert not status.exceeded
    assert status.period_end.ToDatetime() - status.period_start.ToDatetime() == timedelta(days=1)
    reset = gov.stubs.quotas.ResetQuota(quota_service_pb2.ResetQuotaRequest(user="alice"), metadata=md(gov.root))
    assert reset.quota.is_default
    assert _status(gov, gov.root, "alice").frequency == quota_pb2.QUOTA_FREQUENCY_WEEKLY


def test_exceeded_quota_is_refused_and_recorded(gov: Gov) -> None:
    """A zero limit refuses chat with RESOURCE_EXHAUSTED / QUOTA_EXCEEDED, recorded as quota_exceeded."""
    _set(gov, "bob", "0")
    with pytest.raises(grpc.RpcError) as caught:
        gov.stubs.chat.CreateChatCompletion(ask(), metadata=md(gov.bob))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert reason(caught.value) == "QUOTA_EXCEEDED"
    assert _status(gov, gov.bob).exceeded
    deadline = time.monotonic() + 5
    while not rows("bob") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [(row.outcome, row.cost_picodollars) for row in rows("bob")] == [("quota_exceeded", 0)]


@pytest.mark.parametrize(
    ("user", "frequency", "limit", "field"),
    [
        ("alice", quota_pb2.QUOTA_FREQUENCY_DAILY, "-1", "limit_usd"),
        ("alice", quota_pb2.QUOTA_FREQUENCY_DAILY, "1000000000.01", "limit_usd"),
        ("alice", quota_pb2.QUOTA_FREQUENCY_DAILY, "1e12", "limit_usd"),
        ("alice", quota_pb2.QUOTA_FREQUENCY_DAILY, "ten", "limit_usd"),
        ("alice", quota_pb2.QUOTA_FREQUENCY_DAILY, "", "limit_usd"),
        ("alice", quota_pb2.QUOTA_FREQUENCY_DAILY, "NaN", "limit_usd"),
        ("alice", quota_pb2.QUOTA_FREQUENCY_DAILY, "0.0000001", "limit_usd"),
        ("alice", quota_pb2.QUOTA_FREQUENCY_UNSPECIFIED, "1", "frequency"),
        ("alice", 99, "1", "frequency"),
        ("stranger", quota_pb2.QUOTA_FREQUENCY_DAILY, "1", "user"),
        ("bad user", quota_pb2.QUOTA_FREQUENCY_DAILY, "1", "user"),
    ],
)
def test_bad_quota_input_writes_nothing(
    gov: Gov, user: str, frequency: quota_pb2.QuotaFrequency.ValueType, limit: str, field: str
) -> None:
    """Negative, absurd, malformed or too precise limits, bad frequencies and unknown users: INVALID_ARGUMENT."""
    with pytest.raises(grpc.RpcError) as caught:
        _set(gov, user, limit, frequency)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_of(caught.value) == field
    assert UserQuota.select().count() == 0


def test_non_admins_get_permission_denied_on_admin_calls(gov: Gov) -> None:
    """GetQuota, SetQuota, ResetQuota (even for themselves) and another user's status are admin-only."""
    quotas = gov.stubs.quotas
    calls: tuple[tuple[Any, Any], ...] = (
        (quotas.GetQuota, quota_service_pb2.GetQuotaRequest(user="me")),
        (
            quotas.SetQuota,
            quota_service_pb2.SetQuotaRequest(user="me", frequency=quota_pb2.QUOTA_FREQUENCY_DAILY, limit_usd="9"),
        ),
        (quotas.ResetQuota, quota_service_pb2.ResetQuotaRequest(user="me")),
        (quotas.GetQuotaStatus, quota_service_pb2.GetQuotaStatusRequest(user="bob")),
    )
    for call, request in calls:
        with pytest.raises(grpc.RpcError) as caught:
            call(request, metadata=md(gov.alice))
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert UserQuota.select().count() == 0


def test_period_roll_over_resets_spend(gov: Gov) -> None:
    """With the clock moved into the next day, a daily quota spent to its limit admits requests again."""
    _set(gov, "alice", "0.000001")
    gov.stubs.chat.CreateChatCompletion(ask(), metadata=md(gov.alice))
    _wait_settled("alice")
    with pytest.raises(grpc.RpcError) as caught:
        gov.stubs.chat.CreateChatCompletion(ask(), metadata=md(gov.alice))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    before = _status(gov, gov.alice)
    assert before.exceeded
    gov.clock.advance(timedelta(days=1))
    after = _status(gov, gov.alice)
    assert (after.spent_usd, after.exceeded) == ("0", False)
    assert after.period_start.ToDatetime() == before.period_end.ToDatetime()
    assert gov.stubs.chat.CreateChatCompletion(ask(), metadata=md(gov.alice)).completion.choices


def test_concurrent_requests_overshoot_by_at_most_one_request(gov: Gov) -> None:
    """50 concurrent requests whose quota covers about 3: final spend <= limit + one request's cost."""
    probe = gov.stubs.chat.CreateChatCompletion(ask("[[tokens:40]] go", max_tokens=40), metadata=md(gov.bob))
    one_cost = picodollars(probe.completion.usage.cost_usd)
    _wait_settled("bob")
    already = ledger("bob").spent_picodollars
    limit = already + 3 * one_cost
    _set(gov, "bob", format_usd(limit))

    async def burst() -> list[grpc.StatusCode]:
        async with grpc.aio.insecure_channel(gov.gateway.grpc_target) as channel:
            stub = chat_service_pb2_grpc.ChatServiceStub(channel)

            async def one() -> grpc.StatusCode:
                try:
                    await stub.CreateChatCompletion(ask("[[tokens:40]] go", max_tokens=40), metadata=md(gov.bob))
                except grpc.aio.AioRpcError as error:
                    return error.code()
                return grpc.StatusCode.OK

            return await asyncio.gather(*(one() for _ in range(50)))

    codes = asyncio.run(burst())
    assert set(codes) == {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
    _wait_settled("bob")
    deadline = time.monotonic() + 5  # refusals are queued without waiting: let them land
    while len(rows("bob")) < 51 and time.monotonic() < deadline:
        time.sleep(0.02)
    final = ledger("bob")
    assert final.reserved_picodollars == 0
    assert final.spent_picodollars <= limit + one_cost
    logged = RequestRecord.select().where(RequestRecord.user == "bob")
    assert final.spent_picodollars == sum(row.cost_picodollars for row in logged)
    assert sum(1 for row in logged if row.outcome == "quota_exceeded") == codes.count(
        grpc.StatusCode.RESOURCE_EXHAUSTED
    )


def test_abandoned_stream_is_charged_in_the_ledger(gov: Gov) -> None:
    """A stream the client drops after a few chunks is charged in the ledger, not only in the log row."""
    message = chat_pb2.ChatMessage(
        role=chat_pb2.ROLE_USER, content=[chat_pb2.ContentPart(text="[[token_delay_ms:30]] [[tokens:200]] talk")]
    )
    request = chat_service_pb2.StreamChatCompletionRequest(
        params=chat_pb2.ChatCompletionParams(model=ask().params.model, messages=[message])
    )
    stream = gov.stubs.chat.StreamChatCompletion(request, metadata=md(gov.alice))
    received = 0
    for response in stream:
        received += len(response.chunk.choices)
        if received >= 5:
            break
    stream.cancel()
    deadline = time.monotonic() + 5
    while not rows("alice") and time.monotonic() < deadline:
        time.sleep(0.02)
    _wait_settled("alice")
    [row] = rows("alice")
    assert row.outcome == "cancelled"
    assert row.output_tokens >= 5
    assert row.cost_picodollars > 0
    assert ledger("alice") == type(ledger("alice"))(row.cost_picodollars, 0)
    assert QuotaLedger.select().where(QuotaLedger.user == "alice").count() == 1
