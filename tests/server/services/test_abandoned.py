"""Nothing free: a unary call whose client left is charged exactly what Bedrock generated."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import grpc
import httpx2 as httpx
import openai
import pytest
from google.api import httpbody_pb2

from llmgw.server.store.models import RequestRecord
from llmgw.v1 import (
    bedrock_service_pb2,
    bedrock_service_pb2_grpc,
    embedding_service_pb2,
    messages_pb2,
    messages_service_pb2,
    messages_service_pb2_grpc,
    quota_pb2,
    quota_service_pb2,
)
from tests.bridge.conftest import LoopThread, running_bridge
from tests.model_ids import HAIKU, TITAN
from tests.server.services.conftest import Gov, ask, ledger, md, rows

SLOW = "[[ttft_ms:2500]] tell me a story"
GIVE_UP_S = 1.0  # well after admission, well before Bedrock answers, even on a loaded machine
SETTLE_WAIT_S = 20.0
QUIET_S = 0.3  # how long rows and ledger must stay unchanged to count as settled


def _settled(user: str, count: int) -> list[RequestRecord]:
    """The user's rows once `count` exist and nothing is reserved any more (bounded wait)."""
    deadline = time.monotonic() + SETTLE_WAIT_S
    while time.monotonic() < deadline:
        found = rows(user)
        if len(found) >= count and ledger(user).reserved_picodollars == 0:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{user}: {len(rows(user))} rows, ledger {ledger(user)} after {SETTLE_WAIT_S} s")


def _quiet(user: str) -> list[RequestRecord]:
    """The user's rows once every call has settled and stayed settled for QUIET_S (bounded wait).

    Settled: something charged, nothing reserved, the ledger's spend equal to the rows' sum.
    Calls the server takes up after their client gave up are admitted and settled late, so one
    settled look is not enough: the same rows and spend must be seen twice, QUIET_S apart.
    """
    deadline = time.monotonic() + SETTLE_WAIT_S
    previous: tuple[int, int] | None = None
    while time.monotonic() < deadline:
        found, entry = rows(user), ledger(user)
        state = (len(found), entry.spent_picodollars)
        settled = entry.reserved_picodollars == 0 and entry.spent_picodollars == sum(r.cost_picodollars for r in found)
        if settled and any(r.cost_picodollars > 0 for r in found) and state == previous:
            return found
        previous = state
        time.sleep(QUIET_S)
    raise AssertionError(f"{user}: {len(rows(user))} rows, ledger {ledger(user)} never settled in {SETTLE_WAIT_S} s")


def _reference(gov: Gov, prompt: str) -> RequestRecord:
    """The row of the same request completed normally by bob, for the exact expected charge."""
    gov.stubs.chat.CreateChatCompletion(ask(prompt, max_tokens=40), metadata=md(gov.bob))
    return _settled("bob", 1)[-1]


@pytest.fixture
def bridge_url(gov: Gov) -> Iterator[str]:
    """The HTTP bridge in front of this test's gateway."""
    loop = LoopThread()
    try:
        with running_bridge(loop, gov.gateway.grpc_target) as url:
            yield url
    finally:
        loop.close()


def test_grpc_deadline_is_charged_exactly(gov: Gov) -> None:
    """A gRPC deadline that passes before Bedrock answers: the call settles later, charged what was generated."""
    with pytest.raises(grpc.RpcError) as caught:
        gov.stubs.chat.CreateChatCompletion(ask(SLOW, max_tokens=40), metadata=md(gov.alice), timeout=GIVE_UP_S)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    [row] = _settled("alice", 1)
    expected = _reference(gov, SLOW)
    assert row.outcome == "cancelled"
    assert (row.input_tokens, row.output_tokens) == (expected.input_tokens, expected.output_tokens)
    assert row.output_tokens > 0
    assert row.cost_picodollars == expected.cost_picodollars
    assert ledger("alice").spent_picodollars == row.cost_picodollars


def test_http_disconnect_is_charged_exactly(gov: Gov, bridge_url: str) -> None:
    """An OpenAI SDK client that gives up over HTTP: the same exact charge."""
    with (
        openai.OpenAI(base_url=f"{bridge_url}/v1", api_key=gov.alice, max_retries=0, timeout=GIVE_UP_S) as sdk,
        pytest.raises(openai.APITimeoutError),
    ):
        sdk.chat.completions.create(model=HAIKU, max_tokens=40, messages=[{"role": "user", "content": SLOW}])
    [row] = _settled("alice", 1)
    expected = _reference(gov, SLOW)
    assert row.outcome == "cancelled"
    assert (row.input_tokens, row.output_tokens, row.cost_picodollars) == (
        expected.input_tokens,
        expected.output_tokens,
        expected.cost_picodollars,
    )
    assert ledger("alice").spent_picodollars == row.cost_picodollars


def test_abandoned_embedding_is_charged(gov: Gov) -> None:
    """An embedding call whose deadline passed is charged its input tokens too."""
    request = embedding_service_pb2.CreateEmbeddingRequest(model=TITAN, input=["[[ttft_ms:2500]] some text"])
    with pytest.raises(grpc.RpcError):
        gov.stubs.embeddings.CreateEmbedding(request, metadata=md(gov.alice), timeout=GIVE_UP_S)
    [row] = _settled("alice", 1)
    assert row.outcome == "cancelled"
    assert row.input_tokens > 0
    assert ledger("alice").spent_picodollars == row.cost_picodollars > 0


def test_upstream_timeout_is_charged_the_bound(gov: Gov) -> None:
    """A Bedrock call that never answers (504) is charged its reservation's bound, not $0."""
    with pytest.raises(grpc.RpcError) as caught:
        gov.stubs.chat.CreateChatCompletion(ask("[[fault:timeout]] hi", max_tokens=40), metadata=md(gov.alice))
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    [row] = _settled("alice", 1)
    assert row.error_reason == "UPSTREAM_TIMEOUT"
    assert row.cost_picodollars > 0
    assert ledger("alice").spent_picodollars == row.cost_picodollars


def test_hundred_abandoned_calls_stay_within_one_request_of_the_quota(gov: Gov) -> None:
    """The probe: 100 abandoned calls on a $0.002 daily quota overspend by at most one request."""
    limit = Decimal("0.002")
    gov.stubs.quotas.SetQuota(
        quota_service_pb2.SetQuotaRequest(
            user="alice", frequency=quota_pb2.QUOTA_FREQUENCY_DAILY, limit_usd=str(limit)
        ),
        metadata=md(gov.root),
    )
    prompt = "[[ttft_ms:300]] [[tokens:400]] write at length"

    def abandon(_: int) -> grpc.StatusCode:
        try:
            gov.stubs.chat.CreateChatCompletion(ask(prompt, max_tokens=500), metadata=md(gov.alice), timeout=0.1)
        except grpc.RpcError as exc:
            return exc.code()
        return grpc.StatusCode.OK

    with ThreadPoolExecutor(max_workers=10) as pool:
        codes = list(pool.map(abandon, range(100)))
    assert set(codes) <= {grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}
    # A call whose deadline passed before the server took it up never ran, so never left a row.
    settled = _quiet("alice")
    charged = [row for row in settled if row.cost_picodollars > 0]
    one_request = max(row.cost_picodollars for row in charged)
    spent = ledger("alice").spent_picodollars
    assert spent == sum(row.cost_picodollars for row in settled)
    assert spent <= limit * 10**12 + one_request
    assert all(row.output_tokens == 400 for row in charged), "each admitted call is charged its whole answer"


CLAUDE_BODY = {"max_tokens": 40, "messages": [{"role": "user", "content": SLOW}]}
INVOKE_BODY = {"anthropic_version": "bedrock-2023-05-31", **CLAUDE_BODY}
INVOKE_PATH = f"/bedrock/model/{HAIKU}/invoke"


def _claude_reference(bridge_url: str, key: str, path: str, body: dict[str, object]) -> RequestRecord:
    """Bob's row for the same Claude call completed normally: what Bedrock's answer reports, priced."""
    answer = httpx.post(f"{bridge_url}{path}", json=body, headers={"x-api-key": key}, timeout=30)
    assert answer.status_code == 200, answer.text
    (row,) = _settled("bob", 1)
    usage = answer.json()["usage"]
    assert (row.input_tokens, row.output_tokens) == (usage["input_tokens"], usage["output_tokens"])
    return row


def _charged_as(row: RequestRecord, expected: RequestRecord) -> None:
    assert row.outcome == "cancelled"
    assert row.output_tokens > 0
    assert (row.input_tokens, row.output_tokens, row.cost_picodollars) == (
        expected.input_tokens,
        expected.output_tokens,
        expected.cost_picodollars,
    )
    assert ledger("alice").spent_picodollars == row.cost_picodollars


@pytest.mark.parametrize(
    ("path", "body"),
    [("/v1/messages", {"model": HAIKU, **CLAUDE_BODY}), (INVOKE_PATH, INVOKE_BODY)],
    ids=["messages", "passthrough"],
)
def test_claude_http_client_that_gives_up_is_charged_exactly(
    gov: Gov, bridge_url: str, path: str, body: dict[str, object]
) -> None:
    """A Messages or passthrough call whose HTTP client timed out settles when Bedrock answers, charged its usage."""
    with pytest.raises(httpx.TimeoutException):
        httpx.post(f"{bridge_url}{path}", json=body, headers={"x-api-key": gov.alice}, timeout=GIVE_UP_S)
    [row] = _settled("alice", 1)
    _charged_as(row, _claude_reference(bridge_url, gov.bob, path, body))


def test_passthrough_grpc_deadline_is_charged_exactly(gov: Gov, bridge_url: str) -> None:
    """InvokeModel over gRPC with a deadline that passes before Bedrock answers: charged what the answer reports."""
    stub = bedrock_service_pb2_grpc.BedrockServiceStub(gov.stubs.channel)
    request = bedrock_service_pb2.InvokeModelRequest(
        model_id=HAIKU,
        body=httpbody_pb2.HttpBody(content_type="application/json", data=json.dumps(INVOKE_BODY).encode()),
    )
    with pytest.raises(grpc.RpcError) as caught:
        stub.InvokeModel(request, metadata=md(gov.alice), timeout=GIVE_UP_S)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    [row] = _settled("alice", 1)
    _charged_as(row, _claude_reference(bridge_url, gov.bob, INVOKE_PATH, INVOKE_BODY))


def test_messages_grpc_deadline_is_charged_exactly(gov: Gov, bridge_url: str) -> None:
    """CreateMessage over gRPC with a deadline that passes before Bedrock answers: charged what the answer reports."""
    stub = messages_service_pb2_grpc.MessagesServiceStub(gov.stubs.channel)
    turn = messages_pb2.InputMessage(role="user", content=[messages_pb2.ContentBlock(type="text", text=SLOW)])
    params = messages_pb2.MessageParams(model=HAIKU, max_tokens=40, messages=[turn])
    with pytest.raises(grpc.RpcError) as caught:
        stub.CreateMessage(
            messages_service_pb2.CreateMessageRequest(params=params), metadata=md(gov.alice), timeout=GIVE_UP_S
        )
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    [row] = _settled("alice", 1)
    _charged_as(row, _claude_reference(bridge_url, gov.bob, "/v1/messages", {"model": HAIKU, **CLAUDE_BODY}))
