"""Prompt caching over gRPC under a quota: the reservation bound holds when requests write the cache."""

from __future__ import annotations

import asyncio
import secrets
import time

import grpc

from llmgw.server.core.money import format_usd
from llmgw.server.store.models import RequestRecord
from llmgw.v1 import chat_pb2, chat_service_pb2, chat_service_pb2_grpc, messages_pb2, quota_pb2, quota_service_pb2
from tests.model_ids import HAIKU_45
from tests.server.services.conftest import Gov, ledger, md, rows
from tests.support import picodollars

BURST = 50


def _cached_ask(prefix: str) -> chat_service_pb2.CreateChatCompletionRequest:
    """A request whose long system prompt is marked for caching (1h, the dearest write)."""
    marker = messages_pb2.CacheControl(type="ephemeral", ttl="1h")
    system = chat_pb2.ChatMessage(
        role=chat_pb2.ROLE_SYSTEM, content=[chat_pb2.ContentPart(text=prefix, cache_control=marker)]
    )
    user = chat_pb2.ChatMessage(role=chat_pb2.ROLE_USER, content=[chat_pb2.ContentPart(text="go [[tokens:40]]")])
    params = chat_pb2.ChatCompletionParams(model=HAIKU_45, messages=[system, user], max_tokens=40)
    return chat_service_pb2.CreateChatCompletionRequest(params=params)


def _set_daily_quota(gov: Gov, limit_picodollars: int) -> None:
    request = quota_service_pb2.SetQuotaRequest(
        user="bob", frequency=quota_pb2.QUOTA_FREQUENCY_DAILY, limit_usd=format_usd(limit_picodollars)
    )
    gov.stubs.quotas.SetQuota(request, metadata=md(gov.root))


def _wait_settled(user: str, count: int) -> None:
    deadline = time.monotonic() + 10
    while (ledger(user).reserved_picodollars or len(rows(user)) < count) and time.monotonic() < deadline:
        time.sleep(0.02)


def test_cache_writes_under_50_concurrent_requests_overshoot_by_at_most_one_request(gov: Gov) -> None:
    """50 concurrent caching requests, quota for about 3 cache-writing ones: spend <= limit + the dearest request."""
    _set_daily_quota(gov, 10**12)  # the probe is charged to the same (daily) period as the burst
    probe = gov.stubs.chat.CreateChatCompletion(
        _cached_ask(" ".join(secrets.token_hex(4) for _ in range(200))), metadata=md(gov.bob)
    )
    usage = probe.completion.usage
    assert usage.prompt_tokens_details.cache_write_tokens == 200
    write_cost = picodollars(usage.cost_usd)
    _wait_settled("bob", 1)
    # Limits are whole microdollars: round down.
    limit = (ledger("bob").spent_picodollars + 3 * write_cost) // 10**6 * 10**6
    _set_daily_quota(gov, limit)
    shared = " ".join(secrets.token_hex(4) for _ in range(200))

    async def burst() -> list[grpc.StatusCode]:
        async with grpc.aio.insecure_channel(gov.gateway.grpc_target) as channel:
            stub = chat_service_pb2_grpc.ChatServiceStub(channel)

            async def one() -> grpc.StatusCode:
                try:
                    await stub.CreateChatCompletion(_cached_ask(shared), metadata=md(gov.bob))
                except grpc.aio.AioRpcError as error:
                    return error.code()
                return grpc.StatusCode.OK

            return await asyncio.gather(*(one() for _ in range(BURST)))

    codes = asyncio.run(burst())
    assert set(codes) == {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
    _wait_settled("bob", BURST + 1)
    final = ledger("bob")
    assert final.reserved_picodollars == 0
    assert final.spent_picodollars <= limit + write_cost
    logged = list(RequestRecord.select().where(RequestRecord.user == "bob"))
    assert final.spent_picodollars == sum(row.cost_picodollars for row in logged)
    served = [row for row in logged if row.outcome == "success"]
    # The probe's prefix, then the shared one once; every other served request read it.
    assert sum(row.cache_write_tokens for row in served) == 400
    assert all((row.cache_read_tokens, row.cache_write_tokens) in ((0, 200), (200, 0)) for row in served)
