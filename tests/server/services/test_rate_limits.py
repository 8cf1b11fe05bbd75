"""Rate limits through the Quotas service and over HTTP: 429 with Retry-After past the limit, all pass under it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx2 as httpx
import pytest

from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.v1 import quota_service_pb2, quota_service_pb2_grpc
from tests.bridge.conftest import BRIDGE_MODES, gateway_bridge
from tests.model_ids import HAIKU
from tests.server.services.conftest import Clock, Gov, ask, field_of, md, reason, rows, start_gateway

CHAT = {"model": HAIKU, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(params=BRIDGE_MODES)
def bridge_url(request: pytest.FixtureRequest, gov: Gov) -> Iterator[str]:
    """The HTTP bridge in front of this test's gateway, over the network and in-process."""
    with gateway_bridge(gov.gateway, request.param) as url:
        yield url


def _outcomes(user: str, count: int) -> list[str]:
    deadline = time.monotonic() + 5
    while len(rows(user)) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return sorted(row.outcome for row in rows(user))


def test_burst_over_the_rpm_limit_gets_429_with_retry_after(gov: Gov, bridge_url: str) -> None:
    """With 3 requests per minute, a burst of 5 gets 3 answers and 2 x 429 rate_limit_exceeded with Retry-After."""
    limit = gov.stubs.quotas.SetRateLimit(
        quota_service_pb2.SetRateLimitRequest(user="alice", requests_per_minute=3), metadata=md(gov.root)
    ).rate_limit
    assert (limit.requests_per_minute, limit.tokens_per_minute, limit.is_default) == (3, 0, False)
    statuses: list[int] = []
    with httpx.Client(base_url=bridge_url, headers={"authorization": f"Bearer {gov.alice}"}, timeout=30) as client:
        for _ in range(5):
            response = client.post("/v1/chat/completions", json=CHAT)
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert response.json()["error"]["code"] == "rate_limit_exceeded"
                assert 1 <= int(response.headers["retry-after"]) <= 60
    assert statuses.count(200) == 3
    assert statuses.count(429) == 2
    assert _outcomes("alice", 5) == ["rate_limited"] * 2 + ["success"] * 3


def test_claude_paths_are_rate_limited_like_chat(gov: Gov, bridge_url: str) -> None:
    """/v1/messages and the /bedrock passthrough count against the same RPM as chat; past it, a 429 in each shape."""
    gov.stubs.quotas.SetRateLimit(
        quota_service_pb2.SetRateLimitRequest(user="alice", requests_per_minute=2), metadata=md(gov.root)
    )
    message = {"max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    invoke = ("/bedrock/model/" + HAIKU + "/invoke", {"anthropic_version": "bedrock-2023-05-31", **message})
    messages = ("/v1/messages", {"model": HAIKU, **message})
    with httpx.Client(base_url=bridge_url, headers={"x-api-key": gov.alice}, timeout=30) as client:
        statuses = [client.post(path, json=body).status_code for path, body in (messages, invoke)]
        limited_messages = client.post(messages[0], json=messages[1])
        limited_invoke = client.post(invoke[0], json=invoke[1])
    assert statuses == [200, 200]
    assert limited_messages.status_code == limited_invoke.status_code == 429
    assert limited_messages.json()["error"]["type"] == "rate_limit_error"
    assert limited_invoke.headers["x-amzn-errortype"] == "ThrottlingException"
    for response in (limited_messages, limited_invoke):
        assert 1 <= int(response.headers["retry-after"]) <= 60
    assert _outcomes("alice", 4) == ["rate_limited"] * 2 + ["success"] * 2


def test_under_the_limit_every_request_passes(gov: Gov, bridge_url: str) -> None:
    """Users under their limit (or without one) are never refused."""
    gov.stubs.quotas.SetRateLimit(
        quota_service_pb2.SetRateLimitRequest(user="alice", requests_per_minute=10, tokens_per_minute=100000),
        metadata=md(gov.root),
    )
    with httpx.Client(base_url=bridge_url, timeout=30) as client:
        for key in (gov.alice, gov.bob):
            for _ in range(5):
                response = client.post("/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {key}"})
                assert response.status_code == 200


def test_rate_limit_admin_rpcs(gov: Gov) -> None:
    """Get/Set/Reset are for admins, validate their values and fall back to the defaults."""
    quotas = gov.stubs.quotas
    with pytest.raises(grpc.RpcError) as denied:
        quotas.GetRateLimit(quota_service_pb2.GetRateLimitRequest(user="me"), metadata=md(gov.alice))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as bad:
        quotas.SetRateLimit(
            quota_service_pb2.SetRateLimitRequest(user="alice", requests_per_minute=-1), metadata=md(gov.root)
        )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_of(bad.value) == "requests_per_minute"
    quotas.SetRateLimit(quota_service_pb2.SetRateLimitRequest(user="alice", tokens_per_minute=5), metadata=md(gov.root))
    reset = quotas.ResetRateLimit(quota_service_pb2.ResetRateLimitRequest(user="alice"), metadata=md(gov.root))
    assert (reset.rate_limit.tokens_per_minute, reset.rate_limit.is_default) == (0, True)


def test_default_rpm_applies_to_everyone_and_grpc_carries_retry_info(
    store_url: str, tmp_path: Path, fake_bedrock: FakeBedrockServer
) -> None:
    """DEFAULT_RPM limits users without their own limit; the gRPC status has RATE_LIMIT_EXCEEDED and RetryInfo."""
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    from llmgw.v1 import chat_service_pb2_grpc

    running = start_gateway(store_url, tmp_path / "gateway", fake_bedrock.url, Clock(), default_rpm=1)
    try:
        key = running.create_key("carol", "main")
        with running.channel() as channel:
            chat = chat_service_pb2_grpc.ChatServiceStub(channel)
            chat.CreateChatCompletion(ask(), metadata=md(key))
            with pytest.raises(grpc.RpcError) as limited:
                chat.CreateChatCompletion(ask(), metadata=md(key))
            limit = quota_service_pb2_grpc.QuotaServiceStub(channel).GetRateLimit(
                quota_service_pb2.GetRateLimitRequest(user="carol"), metadata=md(running.create_key("root", "a"))
            )
    finally:
        running.stop()
    assert limited.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert reason(limited.value) == "RATE_LIMIT_EXCEEDED"
    status = rpc_status.from_call(limited.value)  # type: ignore[arg-type]
    assert status is not None
    retry = error_details_pb2.RetryInfo()
    assert any(detail.Unpack(retry) for detail in status.details)
    assert 1 <= retry.retry_delay.seconds <= 60
    assert (limit.rate_limit.requests_per_minute, limit.rate_limit.is_default) == (1, True)
