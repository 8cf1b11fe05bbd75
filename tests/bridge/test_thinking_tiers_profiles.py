"""Thinking, service tiers and application inference profiles through the OpenAI SDK."""

from __future__ import annotations

import base64
from typing import Any

import openai
import pytest

from llmgw.server.core.catalog import Catalog
from tests.bridge.sdk_gateway import (
    ARN,
    ARN_EMBED,
    ARN_PLAIN,
    cost_of,
    create,
    extra,
    fresh,
    profile_gateway,
    record,
    sdk,
)
from tests.model_ids import DEEPSEEK, HAIKU, HAIKU_45, TITAN

__all__ = ["profile_gateway", "sdk"]  # fixtures used by name

CATALOG = Catalog.load()
THINK = {"thinking": {"type": "enabled", "budget_tokens": 2048}}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def blocks(message: Any) -> list[dict[str, Any]]:
    """The thinking_blocks of an SDK message or delta, as plain dicts (as a client sends them back)."""
    return [dict(block) for block in extra(message, "thinking_blocks")]


def assistant_turn(message: Any) -> dict[str, Any]:
    """The assistant message to send back: content, tool calls and thinking blocks, unchanged."""
    turn: dict[str, Any] = {"role": "assistant", "content": message.content or "", "thinking_blocks": blocks(message)}
    if message.tool_calls:
        turn["tool_calls"] = [call.model_dump() for call in message.tool_calls]
    return turn


def test_reasoning_content_and_thinking_blocks_streamed_and_unary(sdk: openai.OpenAI) -> None:
    """Explicit thinking: reasoning_content and signed thinking_blocks agree between unary and streamed."""
    messages = [{"role": "user", "content": f"{fresh(4)} [[tokens:6]]"}]
    unary = create(sdk, model=HAIKU_45, messages=messages, extra_body=THINK)
    chunks = list(create(sdk, model=HAIKU_45, messages=messages, stream=True, extra_body=THINK))
    message = unary.choices[0].message
    reasoning = extra(message, "reasoning_content")
    assert reasoning.startswith("Thinking:")
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(getattr(d, "reasoning_content", None) or "" for d in deltas) == reasoning
    streamed = [block for d in deltas for block in (getattr(d, "thinking_blocks", None) or [])]
    assert [dict(b) for b in streamed] == blocks(message)
    assert blocks(message)[0]["type"] == "thinking"
    assert blocks(message)[0]["thinking"] == reasoning
    assert blocks(message)[0]["signature"]


def test_three_turn_tool_loop_with_thinking_passes_the_signature_check(sdk: openai.OpenAI) -> None:
    """Signed and redacted thinking blocks go back byte-identical through a tool loop; the fake verifies each."""
    opening = f"{fresh(3)} weather? [[redacted_thinking]] [[tokens:4]]"
    messages: list[dict[str, Any]] = [{"role": "user", "content": opening}]
    kinds: set[str] = set()
    for turn in range(3):
        first = create(sdk, model=HAIKU_45, messages=messages, tools=[WEATHER], extra_body=THINK)
        call = first.choices[0].message
        assert first.choices[0].finish_reason == "tool_calls"
        kinds.update(block["type"] for block in blocks(call))
        messages.append(assistant_turn(call))
        assert call.tool_calls is not None
        messages.append({"role": "tool", "tool_call_id": call.tool_calls[0].id, "content": f"sunny {turn}"})
        answer = create(sdk, model=HAIKU_45, messages=messages, tools=[WEATHER], extra_body=THINK)
        assert f"sunny {turn}" in (answer.choices[0].message.content or "")
        messages.append(assistant_turn(answer.choices[0].message))
        messages.append({"role": "user", "content": f"And again? [[redacted_thinking]] [[tokens:4]] {turn}"})
    assert kinds == {"thinking", "redacted_thinking"}


def test_a_tampered_or_missing_thinking_block_gets_bedrocks_error(sdk: openai.OpenAI) -> None:
    """An edited signature, edited redacted data, or a tool turn without its thinking: the fake's 400 comes back."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": f"{fresh(3)} [[redacted_thinking]]"}]
    first = create(sdk, model=HAIKU_45, messages=messages, tools=[WEATHER], extra_body=THINK)
    turn = assistant_turn(first.choices[0].message)
    assert first.choices[0].message.tool_calls is not None
    result = {"role": "tool", "tool_call_id": first.choices[0].message.tool_calls[0].id, "content": "sunny"}
    signed = turn["thinking_blocks"][0]
    tampered_text = {
        **turn,
        "thinking_blocks": [{**signed, "thinking": signed["thinking"] + "!"}, *turn["thinking_blocks"][1:]],
    }
    redacted = base64.b64decode(turn["thinking_blocks"][1]["data"])
    flipped = base64.b64encode(redacted[:-1] + bytes([redacted[-1] ^ 1])).decode()
    tampered_data = {**turn, "thinking_blocks": [signed, {"type": "redacted_thinking", "data": flipped}]}
    cases = [
        (tampered_text, "Invalid `signature` in `thinking` block"),
        (tampered_data, "Invalid `data` in `redacted_thinking` block"),
        ({**turn, "thinking_blocks": []}, "Expected `thinking` or `redacted_thinking`"),
    ]
    for assistant, error in cases:
        with pytest.raises(openai.BadRequestError, match=error):
            create(
                sdk,
                model=HAIKU_45,
                messages=[*messages, assistant, result],
                tools=[WEATHER],
                extra_body=THINK,
            )


def test_thinking_parameter_checks(sdk: openai.OpenAI) -> None:
    """Thinking on a model that does not reason, with reasoning_effort, or with a small budget: 400s."""
    hello = [{"role": "user", "content": "hello"}]
    with pytest.raises(openai.BadRequestError, match=f"The model '{HAIKU}' does not reason"):
        create(sdk, model=HAIKU, messages=hello, extra_body=THINK)
    with pytest.raises(openai.BadRequestError, match="either reasoning_effort or thinking"):
        create(sdk, model=HAIKU_45, messages=hello, reasoning_effort="low", extra_body=THINK)
    with pytest.raises(openai.BadRequestError, match="budget_tokens must be at least 1024"):
        create(
            sdk,
            model=HAIKU_45,
            messages=hello,
            extra_body={"thinking": {"type": "enabled", "budget_tokens": 10}},
        )
    with pytest.raises(openai.BadRequestError, match="must be below the answer limit"):
        create(sdk, model=HAIKU_45, messages=hello, max_completion_tokens=2048, extra_body=THINK)


@pytest.mark.parametrize("tier", ["priority", "flex", "default"])
def test_service_tier_is_sent_priced_recorded_and_echoed(sdk: openai.OpenAI, tier: str) -> None:
    """Each tier's price is charged, the tier is echoed unary and streamed and kept in the request log."""
    price = CATALOG.get(DEEPSEEK).price_for(0, tier)
    messages = [{"role": "user", "content": f"{fresh(7)} [[tokens:5]]"}]
    completion = create(sdk, model=DEEPSEEK, messages=messages, service_tier=tier)
    assert completion.service_tier == tier
    assert completion.usage is not None
    assert cost_of(completion.usage) == 8 * price.input + 5 * price.output
    row = record(completion.id)
    assert (row.service_tier, row.cost_picodollars) == (tier, cost_of(completion.usage))
    chunks = list(
        create(
            sdk,
            model=DEEPSEEK,
            messages=messages,
            service_tier=tier,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].service_tier == tier
    assert chunks[-1].usage is not None
    assert cost_of(chunks[-1].usage) == cost_of(completion.usage)


def test_tiers_a_model_lacks_are_refused(sdk: openai.OpenAI) -> None:
    """Claude has only the default tier on Bedrock; OpenAI's `scale` has no Bedrock tier."""
    hello = [{"role": "user", "content": "hello"}]
    with pytest.raises(openai.BadRequestError, match="not offered in the 'priority' service tier"):
        create(sdk, model=HAIKU_45, messages=hello, service_tier="priority")
    with pytest.raises(openai.BadRequestError, match="service_tier must be one of"):
        create(sdk, model=DEEPSEEK, messages=hello, service_tier="scale")
    auto = create(sdk, model=HAIKU_45, messages=hello, service_tier="auto")
    assert auto.service_tier == "default"


def test_an_application_profile_is_priced_and_checked_as_its_base_model(sdk: openai.OpenAI) -> None:
    """The ARN is the public id: billed like its base model, capability-checked like it, kept in the log."""
    messages = [{"role": "user", "content": f"{fresh(6)} [[tokens:5]]"}]
    by_arn = create(sdk, model=ARN, messages=messages)
    by_base = create(sdk, model=HAIKU_45, messages=messages)
    assert by_arn.model == ARN
    assert ARN in [model.id for model in sdk.models.list()]
    described = sdk.models.retrieve(ARN)
    assert described.id == ARN
    assert extra(described, "input_usd_per_million_tokens") == "1.1"
    assert by_arn.usage is not None
    assert by_base.usage is not None
    assert by_arn.usage.prompt_tokens == by_base.usage.prompt_tokens == 7
    assert (
        cost_of(by_arn.usage)
        == cost_of(by_base.usage)
        == 7 * CATALOG.get(HAIKU_45).price.input + 5 * CATALOG.get(HAIKU_45).price.output
    )
    row = record(by_arn.id)
    assert (row.model, row.upstream_model) == (ARN, ARN)
    assert record(by_base.id).upstream_model == HAIKU_45
    with pytest.raises(openai.BadRequestError, match=f"The model '{HAIKU}' does not reason"):
        create(sdk, model=ARN_PLAIN, messages=messages, reasoning_effort="low")
    cached = create(
        sdk,
        model=ARN,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": fresh(9), "cache_control": {"type": "ephemeral"}},
                    {"type": "text", "text": "hi"},
                ],
            }
        ],
    )
    assert cached.usage is not None
    assert extra(cached.usage.prompt_tokens_details, "cache_write_tokens") == 9


def test_an_application_profile_over_an_embedding_model(sdk: openai.OpenAI) -> None:
    """Embeddings through an ARN: sent to Bedrock as the ARN, priced as the base model, ARN in the log."""
    by_arn = sdk.embeddings.create(model=ARN_EMBED, input="three little words")
    assert by_arn.model == ARN_EMBED
    assert by_arn.usage.prompt_tokens == 3
    assert cost_of(by_arn.usage) == 3 * CATALOG.get(TITAN).price.input
