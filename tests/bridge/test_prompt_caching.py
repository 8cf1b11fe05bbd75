"""Prompt caching through the OpenAI SDK: cache_control markers, cache reads and writes, exact cost."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from llmgw.server.core.catalog import Catalog
from tests.bridge.sdk_gateway import cost_of, create, extra, fresh, profile_gateway, record, sdk
from tests.model_ids import HAIKU, HAIKU_45

__all__ = ["profile_gateway", "sdk"]  # fixtures used by name

EPHEMERAL = {"type": "ephemeral"}
PRICE = Catalog.load().get(HAIKU_45).price
TOOL = {
    "type": "function",
    "function": {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}},
}


def system(text: str, **marker: Any) -> dict[str, Any]:
    """A system message of one text part carrying a cache_control marker."""
    return {"role": "system", "content": [{"type": "text", "text": text, "cache_control": {**EPHEMERAL, **marker}}]}


def details(usage: Any) -> tuple[int, int]:
    """(cached_tokens, cache_write_tokens) of a usage block."""
    return usage.prompt_tokens_details.cached_tokens, extra(usage.prompt_tokens_details, "cache_write_tokens")


def test_cached_prefix_is_written_then_read_at_exact_prices(sdk: openai.OpenAI) -> None:
    """First call writes the marked system prompt, the second reads it; each token kind at its own price."""
    messages = [system(fresh(40)), {"role": "user", "content": "What now? [[tokens:5]]"}]
    first = create(sdk, model=HAIKU_45, messages=messages)
    second = create(sdk, model=HAIKU_45, messages=messages)
    for completion in (first, second):
        assert completion.usage is not None
        assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (43, 5)
        assert completion.usage.total_tokens == 48
    assert first.usage is not None
    assert second.usage is not None
    assert details(first.usage) == (0, 40)
    assert details(second.usage) == (40, 0)
    assert cost_of(first.usage) == 3 * PRICE.input + 40 * PRICE.cache_write_5m + 5 * PRICE.output
    assert cost_of(second.usage) == 3 * PRICE.input + 40 * PRICE.cache_read + 5 * PRICE.output
    for completion, (read, written) in ((first, (0, 40)), (second, (40, 0))):
        row = record(completion.id)
        assert (row.input_tokens, row.cache_read_tokens, row.cache_write_tokens, row.output_tokens) == (
            3,
            read,
            written,
            5,
        )
        assert row.cost_picodollars == cost_of(completion.usage)
    listed = sdk.get("/requests", cast_to=object)
    assert isinstance(listed, dict)
    by_id = {request["id"]: request for request in listed["requests"]}
    assert by_id[second.id]["cache_read_tokens"] == 40
    assert by_id[first.id]["cache_write_tokens"] == 40
    assert by_id[first.id]["upstream_model"] == HAIKU_45
    assert by_id[first.id]["service_tier"] == "default"


def test_streamed_and_unary_usage_agree(sdk: openai.OpenAI) -> None:
    """A streamed read of a cached prefix reports the same usage and cost as a unary read."""
    messages = [system(fresh(25)), {"role": "user", "content": "Tell me [[tokens:4]]"}]
    create(sdk, model=HAIKU_45, messages=messages)  # writes the prefix
    unary = create(sdk, model=HAIKU_45, messages=messages)
    chunks = list(
        create(
            sdk,
            model=HAIKU_45,
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    streamed = chunks[-1].usage
    assert unary.usage is not None
    assert streamed is not None
    assert details(streamed) == details(unary.usage) == (25, 0)
    assert streamed.prompt_tokens == unary.usage.prompt_tokens == 28
    assert streamed.completion_tokens == unary.usage.completion_tokens == 4
    assert extra(streamed, "cost_usd") == extra(unary.usage, "cost_usd")
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == unary.choices[0].message.content
    row = record(chunks[0].id)
    assert (row.cache_read_tokens, row.cache_write_tokens, row.cost_picodollars) == (25, 0, cost_of(streamed))


def test_markers_on_messages_tools_and_1h_ttl(sdk: openai.OpenAI) -> None:
    """Markers on a tool, a 1h system part and a whole user message; 1h writes at the 1h price."""
    messages = [
        system(fresh(30), ttl="1h"),
        {"role": "user", "content": fresh(10), "cache_control": EPHEMERAL},
        {"role": "user", "content": "Go on [[no_tool]] [[tokens:3]]"},
    ]
    tool = {**TOOL, "cache_control": {**EPHEMERAL, "ttl": "1h"}}
    completion = create(sdk, model=HAIKU_45, messages=messages, tools=[tool])
    assert completion.usage is not None
    assert details(completion.usage) == (0, 40)
    assert completion.usage.prompt_tokens == 44
    expected = 4 * PRICE.input + 30 * PRICE.cache_write_1h + 10 * PRICE.cache_write_5m + 3 * PRICE.output
    assert cost_of(completion.usage) == expected


def test_a_fifth_cache_point_is_refused(sdk: openai.OpenAI) -> None:
    """Five markers are a 400 naming Bedrock's limit of 4, before Bedrock is called."""
    parts = [{"type": "text", "text": fresh(3), "cache_control": EPHEMERAL} for _ in range(3)]
    messages = [system(fresh(5)), {"role": "user", "content": parts}]
    tool = {**TOOL, "cache_control": EPHEMERAL}
    with pytest.raises(openai.BadRequestError) as caught:
        create(sdk, model=HAIKU_45, messages=messages, tools=[tool])
    assert "At most 4 cache_control markers" in caught.value.message


def test_ttl_order_and_bad_markers_are_refused(sdk: openai.OpenAI) -> None:
    """A 1h marker after a 5m one, a 1h marker on a 5-minute-only model and a bad type are 400s."""
    after_5m = [
        system(fresh(5)),
        {"role": "user", "content": [{"type": "text", "text": "x", "cache_control": {**EPHEMERAL, "ttl": "1h"}}]},
    ]
    with pytest.raises(openai.BadRequestError, match="must come before every marker with ttl '5m'"):
        create(sdk, model=HAIKU_45, messages=after_5m)
    with pytest.raises(openai.BadRequestError, match="caches prompts for 5 minutes only"):
        create(
            sdk,
            model="us.anthropic.claude-3-7-sonnet-20250219-v1:0",
            messages=[system(fresh(5), ttl="1h"), {"role": "user", "content": "hi"}],
        )
    with pytest.raises(openai.BadRequestError, match="type must be 'ephemeral'"):
        create(
            sdk,
            model=HAIKU_45,
            messages=[
                {"role": "user", "content": [{"type": "text", "text": "x", "cache_control": {"type": "forever"}}]}
            ],
        )


def test_markers_on_a_model_without_caching_are_dropped(sdk: openai.OpenAI) -> None:
    """Claude 3 Haiku does not cache: its markers (even five) never reach Bedrock, which would refuse them."""
    parts = [{"type": "text", "text": fresh(3), "cache_control": EPHEMERAL} for _ in range(4)]
    messages = [system(fresh(5)), {"role": "user", "content": parts}]
    completion = create(sdk, model=HAIKU, messages=messages)
    assert completion.usage is not None
    assert details(completion.usage) == (0, 0)
    assert completion.usage.prompt_tokens == 17
