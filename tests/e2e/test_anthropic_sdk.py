"""The official Anthropic SDK (Anthropic and AnthropicBedrock) against `llmgw serve` and `llmgw fake-bedrock`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import anthropic
import httpx2 as httpx
import pytest

from llmgw.server.core.catalog import Catalog
from tests.e2e.conftest import ServedGateway

HAIKU45 = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
SONNET5 = "global.anthropic.claude-sonnet-5"
NOVA_LITE = "amazon.nova-lite-v1:0"
ALLOWED_BETA = "context-1m-2025-08-07"
FOREIGN_BETA = "claude-code-20250219"  # Bedrock runtime rejects it (reference 10.5)
PNG_1PX = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
WEATHER = {
    "name": "get_weather",
    "description": "Weather of a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(scope="module")
def key(served_gateway: ServedGateway) -> str:
    """A key made by `llmgw keys create` for alice."""
    return served_gateway.create_key("alice", "claude-tests")


@pytest.fixture(scope="module")
def root(served_gateway: ServedGateway) -> str:
    """An admin's key."""
    return served_gateway.create_key("root", "admin")


@pytest.fixture(scope="module")
def client(served_gateway: ServedGateway, key: str) -> Iterator[anthropic.Anthropic]:
    """`Anthropic(base_url=<gateway>)`, no retries."""
    with anthropic.Anthropic(base_url=served_gateway.http_url, api_key=key, max_retries=0, timeout=30) as sdk:
        yield sdk


@pytest.fixture(scope="module")
def bedrock(served_gateway: ServedGateway, key: str) -> Iterator[anthropic.AnthropicBedrock]:
    """`AnthropicBedrock(base_url=<gateway>/bedrock)` without AWS auth: the gateway key as Bearer token, no SigV4."""
    with anthropic.AnthropicBedrock(
        base_url=f"{served_gateway.http_url}/bedrock",
        aws_region="us-east-1",
        api_key=key,
        max_retries=0,
        timeout=30,
    ) as sdk:
        yield sdk


def records(served: ServedGateway, root: str, **filters: str) -> list[dict[str, Any]]:
    """The request log, newest first, as an admin reads it over HTTP."""
    response = httpx.get(
        f"{served.http_url}/v1/requests", params=filters, headers={"Authorization": f"Bearer {root}"}, timeout=10
    )
    response.raise_for_status()
    return list(response.json().get("requests", []))


def wait_for_record(served: ServedGateway, root: str, request_id: str) -> dict[str, Any]:
    """The record with this id, waiting (bounded) for rows written after the response's last byte."""
    deadline = time.monotonic() + 10
    while True:
        found = [row for row in records(served, root, user="alice") if row["id"] == request_id]
        if found or time.monotonic() > deadline:
            assert found, f"no record {request_id}"
            return found[0]
        time.sleep(0.05)


def expected_cost(model_id: str, usage: dict[str, int]) -> Decimal:
    """The exact USD cost of a usage on a model: each kind of token at the catalog's price for it."""
    price = Catalog.load().get(model_id).price
    per_token = Decimal(10) ** -12  # picodollars: tokens x microdollars-per-million
    return per_token * (
        usage["input_tokens"] * price.input
        + usage["output_tokens"] * price.output
        + (usage.get("cache_creation_input_tokens") or 0) * price.cache_write_5m
        + (usage.get("cache_read_input_tokens") or 0) * price.cache_read
    )


@pytest.mark.parametrize("model", [HAIKU45, SONNET5], ids=["invoke-model", "native-messages-route"])
def test_unary_and_streamed_text_agree(client: anthropic.Anthropic, model: str) -> None:
    """A streamed answer's text equals the unary answer's, and usage comes in both (InvokeModel and native route)."""
    request: dict[str, Any] = {
        "model": model,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Say something [[tokens:6]]"}],
    }
    unary = client.messages.create(**request)
    assert unary.type == "message"
    assert unary.role == "assistant"
    assert unary.model == model
    assert unary.stop_reason == "end_turn"
    text = "".join(block.text for block in unary.content if block.type == "text")
    assert len(text.split()) == 6
    with client.messages.stream(**request) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed == text
    assert final.usage.output_tokens == unary.usage.output_tokens
    assert final.usage.input_tokens == unary.usage.input_tokens
    assert final.stop_reason == "end_turn"


def test_a_non_claude_model_through_converse(client: anthropic.Anthropic) -> None:
    """Nova answers the Messages API through Converse: text, streamed text alike, a tool call, an image."""
    request: dict[str, Any] = {
        "model": NOVA_LITE,
        "max_tokens": 64,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "Say something [[tokens:5]]"}],
    }
    unary = client.messages.create(**request)
    text = "".join(block.text for block in unary.content if block.type == "text")
    assert len(text.split()) == 5
    with client.messages.stream(**request) as stream:
        assert "".join(stream.text_stream) == text
        final = stream.get_final_message()
    assert final.usage.output_tokens == unary.usage.output_tokens == 5
    assert final.usage.input_tokens == unary.usage.input_tokens > 0
    called = client.messages.create(
        model=NOVA_LITE,
        max_tokens=64,
        tools=[WEATHER],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "Weather?"}],
    )
    assert called.stop_reason == "tool_use"
    assert next(block for block in called.content if block.type == "tool_use").input == {"city": "sample"}
    image: Any = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_1PX}}
    seen = client.messages.create(
        model=NOVA_LITE, max_tokens=64, messages=[{"role": "user", "content": [image, {"type": "text", "text": "?"}]}]
    )
    assert "Seen image/png" in "".join(block.text for block in seen.content if block.type == "text")


def test_x_api_key_is_accepted(served_gateway: ServedGateway, key: str) -> None:
    """The same key works as `x-api-key` (Anthropic's header) on the Messages route and on the OpenAI one."""
    body = {"model": HAIKU45, "max_tokens": 16, "messages": [{"role": "user", "content": "hi [[tokens:2]]"}]}
    response = httpx.post(f"{served_gateway.http_url}/v1/messages", json=body, headers={"x-api-key": key}, timeout=10)
    assert response.status_code == 200, response.text
    models = httpx.get(f"{served_gateway.http_url}/v1/models", headers={"x-api-key": key}, timeout=10)
    assert models.status_code == 200


@pytest.mark.parametrize("model", [HAIKU45, SONNET5], ids=["invoke-model", "native-messages-route"])
def test_tool_round_trip(client: anthropic.Anthropic, model: str) -> None:
    """The model calls the tool; its result goes back and the answer mentions it."""
    first = client.messages.create(
        model=model,
        max_tokens=128,
        tools=[WEATHER],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    )
    assert first.stop_reason == "tool_use"
    call = next(block for block in first.content if block.type == "tool_use")
    assert call.name == "get_weather"
    assert call.input == {"city": "sample"}
    second = client.messages.create(
        model=model,
        max_tokens=128,
        tools=[WEATHER],  # type: ignore[list-item]
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny, 21C"}]},
        ],
    )
    assert second.stop_reason == "end_turn"
    assert "sunny, 21C" in "".join(block.text for block in second.content if block.type == "text")


def test_tool_input_keeps_its_key_order(client: anthropic.Anthropic) -> None:
    """A tool call's input and a tool's schema keep their key order through the gateway (no map in between)."""
    tool: Any = {
        "name": "order",
        "input_schema": {"type": "object", "properties": {"zeta": {"type": "integer"}, "alpha": {"type": "string"}}},
    }
    answer = client.messages.create(
        model=HAIKU45, max_tokens=64, tools=[tool], messages=[{"role": "user", "content": "call it"}]
    )
    call = next(block for block in answer.content if block.type == "tool_use")
    assert list(call.input) == ["zeta", "alpha"]
    assert call.input == {"zeta": 1, "alpha": "sample"}


def test_streamed_tool_call(client: anthropic.Anthropic) -> None:
    """A streamed tool call arrives whole: the SDK assembles its input from the JSON deltas."""
    with client.messages.stream(
        model=HAIKU45,
        max_tokens=128,
        tools=[WEATHER],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    ) as stream:
        final = stream.get_final_message()
    call = next(block for block in final.content if block.type == "tool_use")
    assert call.input == {"city": "sample"}
    assert final.stop_reason == "tool_use"


@pytest.mark.parametrize(
    ("model", "thinking"),
    [(HAIKU45, {"type": "enabled", "budget_tokens": 1024}), (SONNET5, {"type": "adaptive", "display": "summarized"})],
    ids=["invoke-model", "native-messages-route"],
)
def test_thinking_signature_round_trip(client: anthropic.Anthropic, model: str, thinking: Any) -> None:
    """A signed thinking block comes back byte-identical, so the next turn (checked by the fake) is accepted."""
    HAIKU45 = model
    first = client.messages.create(
        model=HAIKU45, max_tokens=2048, thinking=thinking, messages=[{"role": "user", "content": "Think [[tokens:3]]"}]
    )
    block = first.content[0]
    assert block.type == "thinking"
    assert block.signature
    with client.messages.stream(
        model=HAIKU45, max_tokens=2048, thinking=thinking, messages=[{"role": "user", "content": "Think [[tokens:3]]"}]
    ) as stream:
        streamed = stream.get_final_message()
    assert streamed.content[0].type == "thinking"
    assert streamed.content[0].signature == block.signature
    follow_up = client.messages.create(
        model=HAIKU45,
        max_tokens=2048,
        thinking=thinking,
        messages=[
            {"role": "user", "content": "Think [[tokens:3]]"},
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": "And then?"},
        ],
    )
    assert follow_up.stop_reason == "end_turn"
    tampered: Any = {"type": "thinking", "thinking": block.thinking, "signature": block.signature[:-4] + "AAAA"}
    with pytest.raises(anthropic.BadRequestError, match="signature"):
        client.messages.create(
            model=HAIKU45,
            max_tokens=2048,
            thinking=thinking,
            messages=[
                {"role": "user", "content": "Think [[tokens:3]]"},
                {"role": "assistant", "content": [tampered]},
                {"role": "user", "content": "And then?"},
            ],
        )


def test_cache_control_reports_and_charges_cache_usage(
    client: anthropic.Anthropic, served_gateway: ServedGateway, root: str
) -> None:
    """The first call writes the cached prefix, the second reads it; each is charged exactly for it."""
    system: Any = [{"type": "text", "text": "You are terse. " * 40, "cache_control": {"type": "ephemeral"}}]
    messages: Any = [{"role": "user", "content": "cache me [[tokens:2]]"}]
    first = client.messages.create(model=HAIKU45, max_tokens=32, system=system, messages=messages)
    second = client.messages.create(model=HAIKU45, max_tokens=32, system=system, messages=messages)
    assert first.usage.cache_creation_input_tokens == 120
    assert first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == 120
    assert second.usage.cache_creation_input_tokens == 0
    for answer in (first, second):
        row = wait_for_record(served_gateway, root, answer.id)
        usage = answer.usage.model_dump()
        assert Decimal(row["cost_usd"]) == expected_cost(HAIKU45, usage)
        assert row.get("cache_read_tokens", 0) == (answer.usage.cache_read_input_tokens or 0)
        assert row.get("cache_write_tokens", 0) == (answer.usage.cache_creation_input_tokens or 0)


def test_count_tokens(client: anthropic.Anthropic, served_gateway: ServedGateway, key: str) -> None:
    """Bedrock's count where the model has CountTokens; a marked estimate (never 404/400) where it has not."""
    counted = client.messages.count_tokens(model=HAIKU45, messages=[{"role": "user", "content": "one two three"}])
    assert counted.input_tokens == 3
    response = httpx.post(
        f"{served_gateway.http_url}/v1/messages/count_tokens",
        json={"model": SONNET5, "messages": [{"role": "user", "content": "one two three"}]},
        headers={"x-api-key": key},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-llmgw-token-count"] == "estimate"
    assert response.json()["input_tokens"] > 0


def test_errors_in_anthropic_shape(
    client: anthropic.Anthropic, served_gateway: ServedGateway, key: str, root: str
) -> None:
    """Each failure raises the SDK's own class, from Anthropic's error JSON."""
    text: Any = [{"role": "user", "content": "hi"}]
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.create(model="anthropic.nope-v1:0", max_tokens=8, messages=text)
    body: Any = missing.value.body
    assert body["type"] == "error"
    assert body["error"]["type"] == "not_found_error"
    assert "anthropic.nope-v1:0" in body["error"]["message"]
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(model=HAIKU45, max_tokens=0, messages=text)
    assert bad.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    thinking: Any = {"type": "enabled", "budget_tokens": 1024}
    with pytest.raises(anthropic.BadRequestError, match="only through Converse") as converse_refusal:
        client.messages.create(model=NOVA_LITE, max_tokens=8, messages=text, thinking=thinking)
    assert converse_refusal.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    wrong = anthropic.Anthropic(base_url=served_gateway.http_url, api_key="sk-wrong", max_retries=0)
    with wrong, pytest.raises(anthropic.AuthenticationError) as unauthenticated:
        wrong.messages.create(model=HAIKU45, max_tokens=8, messages=text)
    assert unauthenticated.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    throttled: Any = [{"role": "user", "content": "[[fault:throttle]]"}]
    with pytest.raises(anthropic.InternalServerError) as overloaded:
        client.messages.create(model=HAIKU45, max_tokens=8, messages=throttled)
    assert overloaded.value.status_code == 503
    assert overloaded.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    with pytest.raises(anthropic.InternalServerError):
        client.messages.create(model=HAIKU45, max_tokens=8, messages=throttled, stream=True)
    broken: Any = [{"role": "user", "content": "[[fault:mid_stream]] [[tokens:8]]"}]
    stream = client.messages.create(model=HAIKU45, max_tokens=64, messages=broken, stream=True)
    with pytest.raises(anthropic.APIStatusError) as in_stream:
        list(stream)
    assert in_stream.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


def test_a_beta_off_the_allowlist_never_reaches_bedrock(client: anthropic.Anthropic) -> None:
    """An allowed beta passes; one the model's allowlist lacks is dropped (the fake would answer 400)."""
    answer = client.messages.create(
        model=SONNET5,
        max_tokens=16,
        messages=[{"role": "user", "content": "hi [[tokens:2]]"}],
        extra_headers={"anthropic-beta": f"{ALLOWED_BETA},{FOREIGN_BETA}"},
    )
    assert answer.stop_reason == "end_turn"


def test_bedrock_passthrough_unary_and_stream(
    bedrock: anthropic.AnthropicBedrock, served_gateway: ServedGateway, root: str
) -> None:
    """AnthropicBedrock through /bedrock: InvokeModel and the re-framed event stream, each charged from its usage."""
    messages: Any = [{"role": "user", "content": "passthrough [[tokens:5]]"}]
    unary = bedrock.messages.create(model=HAIKU45, max_tokens=64, messages=messages)
    with bedrock.messages.stream(model=HAIKU45, max_tokens=64, messages=messages) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed == "".join(block.text for block in unary.content if block.type == "text")
    rows = records(served_gateway, root, user="alice", model=HAIKU45)
    by_api = {row["api"]: row for row in rows}
    assert {"bedrock_invoke", "bedrock_invoke_stream"} <= set(by_api)
    assert Decimal(by_api["bedrock_invoke_stream"]["cost_usd"]) == expected_cost(HAIKU45, final.usage.model_dump())
    assert by_api["bedrock_invoke_stream"]["output_tokens"] == final.usage.output_tokens


def test_profile_arns_resolve_to_their_catalog_entry(
    bedrock: anthropic.AnthropicBedrock, client: anthropic.Anthropic
) -> None:
    """An inference-profile ARN (as Claude Code may be configured with) is the profile it names, on both paths."""
    arn = f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/{HAIKU45}"
    messages: Any = [{"role": "user", "content": "hi [[tokens:2]]"}]
    assert bedrock.messages.create(model=arn, max_tokens=16, messages=messages).stop_reason == "end_turn"
    assert client.messages.create(model=arn, max_tokens=16, messages=messages).model == arn
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model=arn.replace("haiku", "nope"), max_tokens=16, messages=messages)


def test_bedrock_passthrough_drops_foreign_betas(bedrock: anthropic.AnthropicBedrock) -> None:
    """A beta the model's allowlist lacks is removed from the body before Bedrock sees it."""
    answer = bedrock.messages.create(
        model=SONNET5,
        max_tokens=16,
        messages=[{"role": "user", "content": "hi [[tokens:2]]"}],
        extra_body={"anthropic_beta": [ALLOWED_BETA, FOREIGN_BETA]},
    )
    assert answer.stop_reason == "end_turn"


def test_abandoned_passthrough_stream_is_charged(served_gateway: ServedGateway, key: str, root: str) -> None:
    """A caller that leaves mid-stream is still charged for the prompt and what was generated."""
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 400,
        "messages": [{"role": "user", "content": "abandon me [[tokens:200]] [[token_delay_ms:20]]"}],
    }
    url = f"{served_gateway.http_url}/bedrock/model/{HAIKU45}/invoke-with-response-stream"
    with httpx.stream("POST", url, json=body, headers={"x-api-key": key}, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/vnd.amazon.eventstream"
        for _ in response.iter_bytes():
            break
    deadline = time.monotonic() + 10
    while True:
        rows = [r for r in records(served_gateway, root, user="alice") if r["api"] == "bedrock_invoke_stream"]
        cancelled = [r for r in rows if r["outcome"] == "cancelled"]
        if cancelled or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert cancelled
    assert cancelled[0]["input_tokens"] > 0
    assert Decimal(cancelled[0]["cost_usd"]) > 0


def test_quota_exceeded_and_model_denied_on_both_paths(served_gateway: ServedGateway, root: str) -> None:
    """The refusals Claude Code shows: 429 quota (told not to retry), 403 model not allowed, in each API's shape."""
    bob = served_gateway.create_key("bob", "claude")
    admin = {"Authorization": f"Bearer {root}"}
    url = served_gateway.http_url
    assert httpx.put(
        f"{url}/v1/users/bob/quota", json={"frequency": "daily", "limit_usd": "0"}, headers=admin
    ).is_success
    body = {"model": HAIKU45, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    quota = httpx.post(f"{url}/v1/messages", json=body, headers={"x-api-key": bob}, timeout=10)
    assert quota.status_code == 429
    assert quota.json()["error"]["type"] == "rate_limit_error"
    assert quota.headers["x-should-retry"] == "false"
    invoke = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 16, "messages": body["messages"]}
    passthrough = httpx.post(
        f"{url}/bedrock/model/{HAIKU45}/invoke", json=invoke, headers={"x-api-key": bob}, timeout=10
    )
    assert passthrough.status_code == 429
    assert passthrough.headers["x-amzn-errortype"] == "ServiceQuotaExceededException"
    assert "message" in passthrough.json()
    assert httpx.delete(f"{url}/v1/users/bob/quota", headers=admin).is_success
    policy = {"models": ["amazon.nova-micro-v1:0"]}
    assert httpx.put(f"{url}/v1/users/bob/model-access", json=policy, headers=admin).is_success
    denied = httpx.post(f"{url}/v1/messages", json=body, headers={"x-api-key": bob}, timeout=10)
    assert denied.status_code == 403
    assert denied.json()["error"]["type"] == "permission_error"
    denied_passthrough = httpx.post(
        f"{url}/bedrock/model/{HAIKU45}/invoke", json=invoke, headers={"x-api-key": bob}, timeout=10
    )
    assert denied_passthrough.status_code == 403
    assert denied_passthrough.headers["x-amzn-errortype"] == "AccessDeniedException"


def test_models_list_in_anthropic_shape(client: anthropic.Anthropic) -> None:
    """GET /v1/models reads as Anthropic's model list: Claude ids with type, display name and created_at."""
    page = client.models.list()
    ids = [model.id for model in page.data]
    assert HAIKU45 in ids
    haiku = next(model for model in page.data if model.id == HAIKU45)
    assert haiku.type == "model"
    assert haiku.display_name == "Claude Haiku 4.5"
    assert haiku.created_at.year >= 2025


def test_claude_code_shaped_session_is_recorded(served_gateway: ServedGateway, key: str, root: str) -> None:
    """A Claude Code-like sequence (cached system, tools, thinking, a session header), each request logged with it."""
    session = "5d1c2e4a-claude-code-session"
    headers = {
        "x-api-key": key,
        "anthropic-version": "2023-06-01",
        "anthropic-beta": f"{FOREIGN_BETA},interleaved-thinking-2025-05-14",
        "x-claude-code-session-id": session,
    }
    system = [
        {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
        {"type": "text", "text": "Tool rules. " * 30, "cache_control": {"type": "ephemeral"}},
    ]
    tools = [WEATHER]
    turn1: dict[str, Any] = {
        "model": HAIKU45,
        "max_tokens": 4096,
        "system": system,
        "tools": tools,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "metadata": {"user_id": "user_abc_account__session_5d1c"},
        "messages": [{"role": "user", "content": [{"type": "text", "text": "What's the weather?"}]}],
        "stream": True,
    }
    url = f"{served_gateway.http_url}/v1/messages"
    with httpx.stream("POST", url, json=turn1, headers=headers, timeout=30) as response:
        assert response.status_code == 200
        events = [line[7:] for line in response.iter_lines() if line.startswith("event: ")]
    assert events[0] == "message_start"
    assert events[-1] == "message_stop"
    assert {"content_block_start", "content_block_delta", "content_block_stop", "message_delta", "ping"} <= set(events)
    count = httpx.post(
        f"{url}/count_tokens",
        json={"model": HAIKU45, "system": system, "tools": tools, "messages": turn1["messages"]},
        headers=headers,
        timeout=10,
    )
    assert count.status_code == 200
    with anthropic.Anthropic(
        base_url=served_gateway.http_url, api_key=key, max_retries=0, default_headers=headers
    ) as sdk:
        answer = sdk.messages.create(**{k: v for k, v in turn1.items() if k != "stream"})
    rows = [r for r in records(served_gateway, root, user="alice") if r.get("session_id") == session]
    assert {r["api"] for r in rows} == {"messages", "messages_stream"}
    assert any(r["id"] == answer.id for r in rows)
    assert all(r["outcome"] == "success" for r in rows)
