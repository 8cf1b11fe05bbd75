"""MessagesService and the Bedrock passthrough against a real gateway, its store and an in-process fake Bedrock.

These read what the HTTP tests cannot see from outside: the ledger, the rows, and which betas
reached the fake.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import anthropic
import httpx2 as httpx
import pytest

from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.server.core.accounting import request_cost
from llmgw.server.core.catalog import Catalog
from llmgw.server.store.models import RequestRecord
from tests.bridge.conftest import LoopThread, running_bridge
from tests.server.services.conftest import Gov, ledger, rows

HAIKU45 = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
SONNET5 = "global.anthropic.claude-sonnet-5"
ALLOWED_BETA = "context-1m-2025-08-07"
FOREIGN_BETAS = ("claude-code-20250219", "interleaved-thinking-2025-05-14", "made-up-beta-2026-01-01")
CATALOG = Catalog.load()


@pytest.fixture
def bridge_url(gov: Gov) -> Iterator[str]:
    """The HTTP bridge in front of this test's gateway."""
    loop = LoopThread()
    try:
        with running_bridge(loop, gov.gateway.grpc_target) as url:
            yield url
    finally:
        loop.close()


def settled(user: str, count: int) -> list[RequestRecord]:
    """The user's rows once `count` exist and no reservation is held (bounded wait)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = rows(user)
        if len(found) >= count and ledger(user).reserved_picodollars == 0:
            return found
        time.sleep(0.02)
    raise AssertionError(f"{user}: {len(rows(user))} rows, {ledger(user).reserved_picodollars} still reserved")


def cost(model: str, usage: dict[str, Any]) -> int:
    """Picodollars of an Anthropic usage object on a model."""
    return request_cost(
        CATALOG.get(model),
        usage["input_tokens"],
        usage["output_tokens"],
        usage.get("cache_read_input_tokens") or 0,
        usage.get("cache_creation_input_tokens") or 0,
    )


def test_passthrough_stream_is_charged_exactly_from_its_final_usage(
    gov: Gov, bridge_url: str, fake_bedrock: FakeBedrockServer
) -> None:
    """The ledger and the row hold exactly the cost of the usage the stream reported, cache writes included."""
    with anthropic.AnthropicBedrock(
        base_url=f"{bridge_url}/bedrock", aws_region="us-east-1", api_key=gov.alice, max_retries=0
    ) as sdk:
        rules = "Rules. " * 49 + secrets.token_hex(4)  # a prefix no earlier test wrote to the fake's cache
        system: Any = [{"type": "text", "text": rules, "cache_control": {"type": "ephemeral"}}]
        with sdk.messages.stream(
            model=HAIKU45,
            max_tokens=64,
            system=system,
            messages=[{"role": "user", "content": "go [[tokens:7]]"}],
            extra_headers={"x-claude-code-session-id": "sess-1"},
        ) as stream:
            final = stream.get_final_message()
    usage = final.usage.model_dump()
    assert usage["cache_creation_input_tokens"] == 50
    (row,) = settled("alice", 1)
    assert row.api == "bedrock_invoke_stream"
    assert (row.input_tokens, row.output_tokens) == (usage["input_tokens"], usage["output_tokens"])
    assert row.cache_write_tokens == 50
    assert row.session_id == "sess-1"
    assert row.cost_picodollars == cost(HAIKU45, usage)
    assert ledger("alice").spent_picodollars == row.cost_picodollars


def test_abandoned_passthrough_stream_is_charged(gov: Gov, bridge_url: str, fake_bedrock: FakeBedrockServer) -> None:
    """A caller that leaves mid-stream pays for the prompt and what was generated; the reservation is released."""
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 500,
        "messages": [{"role": "user", "content": "long answer [[tokens:300]] [[token_delay_ms:20]]"}],
    }
    url = f"{bridge_url}/bedrock/model/{HAIKU45}/invoke-with-response-stream"
    with httpx.stream("POST", url, json=body, headers={"x-api-key": gov.alice}, timeout=30) as response:
        assert response.status_code == 200
        received = 0
        for piece in response.iter_bytes():
            received += len(piece)
            if received > 600:
                break
    (row,) = settled("alice", 1)
    assert row.outcome == "cancelled"
    assert row.input_tokens > 0
    assert 0 < row.output_tokens < 300
    assert row.cost_picodollars == request_cost(CATALOG.get(HAIKU45), row.input_tokens, row.output_tokens)
    assert ledger("alice").spent_picodollars == row.cost_picodollars


@pytest.mark.parametrize("path", ["messages", "passthrough"])
def test_betas_off_the_allowlist_never_reach_bedrock(
    gov: Gov, bridge_url: str, fake_bedrock: FakeBedrockServer, path: str
) -> None:
    """Only the catalog's allowed betas reach the fake, from the header or the body; the others are dropped."""
    seen_before = len(fake_bedrock.app.stats.betas_seen)
    betas = [ALLOWED_BETA, *FOREIGN_BETAS]
    if path == "messages":
        body: dict[str, Any] = {
            "model": SONNET5,
            "max_tokens": 16,
            "anthropic_beta": betas[:2],
            "messages": [{"role": "user", "content": "hi [[tokens:2]]"}],
        }
        headers = {"x-api-key": gov.alice, "anthropic-beta": ",".join(betas[2:])}
        response = httpx.post(f"{bridge_url}/v1/messages", json=body, headers=headers, timeout=10)
    else:
        body = {
            "anthropic_version": "bedrock-2023-05-31",
            "anthropic_beta": betas,
            "max_tokens": 16,
            "messages": [{"role": "user", "content": "hi [[tokens:2]]"}],
        }
        url = f"{bridge_url}/bedrock/model/{SONNET5}/invoke"
        response = httpx.post(url, json=body, headers={"x-api-key": gov.alice}, timeout=10)
    assert response.status_code == 200, response.text
    assert fake_bedrock.app.stats.betas_seen[seen_before:] == [ALLOWED_BETA]


def test_a_model_without_betas_gets_none(gov: Gov, bridge_url: str, fake_bedrock: FakeBedrockServer) -> None:
    """Haiku 4.5's catalog entry allows no beta, so even a runtime-valid one is dropped for it."""
    seen_before = len(fake_bedrock.app.stats.betas_seen)
    body = {"model": HAIKU45, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"x-api-key": gov.alice, "anthropic-beta": ALLOWED_BETA}
    response = httpx.post(f"{bridge_url}/v1/messages", json=body, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert fake_bedrock.app.stats.betas_seen[seen_before:] == []


def test_the_fake_rejects_a_beta_the_model_does_not_accept(fake_bedrock: FakeBedrockServer) -> None:
    """What the gateway guards against: Bedrock answers 400 "invalid beta flag" to an unknown beta."""
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "anthropic_beta": [FOREIGN_BETAS[0]],
        "max_tokens": 8,
        "messages": [{"role": "user", "content": "hi"}],
    }
    response = httpx.post(f"{fake_bedrock.url}/model/{HAIKU45}/invoke", json=body, timeout=10)
    assert response.status_code == 400
    assert "invalid beta flag" in response.json()["message"]


def test_messages_refusals_are_recorded_with_the_session(gov: Gov, bridge_url: str) -> None:
    """Quota refusals on /v1/messages are logged, with the Claude Code session, and charge nothing."""
    from llmgw.v1 import quota_pb2, quota_service_pb2
    from tests.server.services.conftest import md

    gov.stubs.quotas.SetQuota(
        quota_service_pb2.SetQuotaRequest(user="bob", frequency=quota_pb2.QUOTA_FREQUENCY_DAILY, limit_usd="0"),
        metadata=md(gov.root),
    )
    body = {"model": HAIKU45, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"x-api-key": gov.bob, "x-claude-code-session-id": "sess-bob"}
    response = httpx.post(f"{bridge_url}/v1/messages", json=body, headers=headers, timeout=10)
    assert response.status_code == 429
    (row,) = settled("bob", 1)
    assert (row.outcome, row.session_id, row.cost_picodollars) == ("quota_exceeded", "sess-bob", 0)
    assert ledger("bob").spent_picodollars == 0
    assert Decimal(0) == Decimal(ledger("bob").reserved_picodollars)


def test_thinking_the_model_would_refuse_is_fitted_to_it(
    gov: Gov, bridge_url: str, fake_bedrock: FakeBedrockServer
) -> None:
    """Opus 4.7 refuses `enabled` (the fake answers 400 as Bedrock does); through the gateway it thinks adaptively."""
    opus = "global.anthropic.claude-opus-4-7"
    body = {
        "model": opus,
        "max_tokens": 8000,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "messages": [{"role": "user", "content": "think [[tokens:3]]"}],
    }
    direct = httpx.post(f"{fake_bedrock.url}/anthropic/v1/messages", json=body, timeout=10)
    assert direct.status_code == 400
    assert "not supported" in direct.json()["message"]
    through = httpx.post(f"{bridge_url}/v1/messages", json=body, headers={"x-api-key": gov.alice}, timeout=10)
    assert through.status_code == 200, through.text
    assert through.json()["content"][0]["type"] == "thinking"


def test_the_openai_path_reaches_messages_models_on_the_native_route(
    gov: Gov, bridge_url: str, fake_bedrock: FakeBedrockServer
) -> None:
    """Opus 4.7 (`api = "messages"`) answers the OpenAI SDK via /anthropic/v1/messages: text, stream, tools, image."""
    import openai

    opus = "global.anthropic.claude-opus-4-7"
    before = fake_bedrock.app.stats.native_messages
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    with openai.OpenAI(base_url=f"{bridge_url}/v1", api_key=gov.alice, max_retries=0) as sdk:
        unary = sdk.chat.completions.create(model=opus, messages=[{"role": "user", "content": "hi [[tokens:4]]"}])
        text = unary.choices[0].message.content or ""
        streamed = "".join(
            chunk.choices[0].delta.content or ""
            for chunk in sdk.chat.completions.create(
                model=opus, messages=[{"role": "user", "content": "hi [[tokens:4]]"}], stream=True
            )
            if chunk.choices
        )
        tool: Any = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
        called = sdk.chat.completions.create(model=opus, messages=[{"role": "user", "content": "go"}], tools=[tool])
        image: Any = [
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
            {"type": "text", "text": "see"},
        ]
        seen = sdk.chat.completions.create(model=opus, messages=[{"role": "user", "content": image}])
    assert len(text.split()) == 4
    assert streamed == text
    assert unary.usage is not None
    assert unary.usage.completion_tokens == 4
    assert called.choices[0].finish_reason == "tool_calls"
    assert "Seen image/png" in (seen.choices[0].message.content or "")
    assert fake_bedrock.app.stats.native_messages - before == 4


@pytest.mark.parametrize(
    ("asked", "model", "sent"),
    [
        ("2026-10-21", SONNET5, "2026-10-21"),
        ("2023-06-01", SONNET5, "2023-06-01"),
    ],
)
def test_native_route_speaks_the_version_the_client_asked_for(
    gov: Gov, bridge_url: str, fake_bedrock: FakeBedrockServer, asked: str, model: str, sent: str
) -> None:
    """A 4.7+ model is called in 2026-10-21 when the client speaks it (sampling left out), else 2023-06-01."""
    seen_before = len(fake_bedrock.app.stats.versions_seen)
    body = {"model": model, "max_tokens": 8, "temperature": 0.2, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"x-api-key": gov.alice, "anthropic-version": asked}
    response = httpx.post(f"{bridge_url}/v1/messages", json=body, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert fake_bedrock.app.stats.versions_seen[seen_before:] == [sent]


def test_the_fake_refuses_sampling_under_2026_10_21(fake_bedrock: FakeBedrockServer) -> None:
    """What the gateway guards against: under 2026-10-21 Bedrock answers 400 to `temperature`."""
    body = {"model": SONNET5, "max_tokens": 8, "temperature": 0.2, "messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(
        f"{fake_bedrock.url}/anthropic/v1/messages", json=body, headers={"anthropic-version": "2026-10-21"}, timeout=10
    )
    assert response.status_code == 400
    assert "temperature" in response.text
