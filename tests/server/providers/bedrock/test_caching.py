"""Table tests of cache_control -> cachePoint placement and its refusals (providers/bedrock/caching.py)."""

from __future__ import annotations

from typing import Any

import pytest

from llmgw.server.core.catalog import Catalog
from llmgw.server.providers.bedrock.converse import to_converse_request
from llmgw.v1 import chat_pb2, messages_pb2
from llmgw.wire.errors import InvalidArgument
from tests.model_ids import HAIKU, HAIKU_45

CATALOG = Catalog.load()
FIVE_MINUTES = messages_pb2.CacheControl(type="ephemeral")
ONE_HOUR = messages_pb2.CacheControl(type="ephemeral", ttl="1h")
POINT = {"cachePoint": {"type": "default"}}
POINT_1H = {"cachePoint": {"type": "default", "ttl": "1h"}}


def part(text: str, marker: messages_pb2.CacheControl | None = None) -> chat_pb2.ContentPart:
    return chat_pb2.ContentPart(text=text, cache_control=marker)


def message(role: chat_pb2.Role.ValueType, *parts: chat_pb2.ContentPart, **fields: Any) -> chat_pb2.ChatMessage:
    return chat_pb2.ChatMessage(role=role, content=list(parts), **fields)


def request(*messages: chat_pb2.ChatMessage, model: str = HAIKU_45, **fields: Any) -> dict[str, Any]:
    params = chat_pb2.ChatCompletionParams(model=model, messages=list(messages), **fields)
    return to_converse_request(params, CATALOG.get(model))


def test_points_follow_marked_parts_messages_system_and_tools() -> None:
    """Each marker becomes a cachePoint right after its block, in system, messages and tools."""
    tool = chat_pb2.Tool(type="function", function=chat_pb2.FunctionDefinition(name="lookup"), cache_control=ONE_HOUR)
    converse = request(
        message(chat_pb2.ROLE_SYSTEM, part("rules", ONE_HOUR)),
        message(chat_pb2.ROLE_USER, part("a", FIVE_MINUTES), part("b")),
        message(chat_pb2.ROLE_USER, part("c"), cache_control=FIVE_MINUTES),
        tools=[tool],
    )
    assert converse["system"] == [{"text": "rules"}, POINT_1H]
    assert converse["messages"][0]["content"] == [{"text": "a"}, POINT, {"text": "b"}, {"text": "c"}, POINT]
    assert converse["toolConfig"]["tools"][1] == POINT_1H


def test_tool_results_and_assistant_messages_take_markers() -> None:
    """A marked tool message gets one point after its toolResult, a marked assistant message after its last block."""
    call = chat_pb2.ToolCall(id="t1", type="function", function=chat_pb2.FunctionCall(name="lookup", arguments="{}"))
    tool = chat_pb2.Tool(type="function", function=chat_pb2.FunctionDefinition(name="lookup"))
    converse = request(
        message(chat_pb2.ROLE_USER, part("q")),
        message(chat_pb2.ROLE_ASSISTANT, tool_calls=[call], cache_control=FIVE_MINUTES),
        message(chat_pb2.ROLE_TOOL, part("42", FIVE_MINUTES), tool_call_id="t1", cache_control=FIVE_MINUTES),
        tools=[tool],
    )
    assert converse["messages"][1]["content"][-1] == POINT
    assert converse["messages"][2]["content"][1:] == [POINT]


def test_markers_are_dropped_on_a_model_without_caching() -> None:
    """Claude 3 Haiku has no prompt caching: no cachePoint is sent, and five markers are no error."""
    converse = request(*(message(chat_pb2.ROLE_USER, part(str(i), ONE_HOUR)) for i in range(5)), model=HAIKU)
    assert all("cachePoint" not in block for block in converse["messages"][0]["content"])


@pytest.mark.parametrize(
    ("messages", "error", "field"),
    [
        (
            [message(chat_pb2.ROLE_USER, *(part(str(i), FIVE_MINUTES) for i in range(5)))],
            "At most 4 cache_control markers",
            "messages[0].content[4].cache_control",
        ),
        (
            [message(chat_pb2.ROLE_SYSTEM, part("s", FIVE_MINUTES)), message(chat_pb2.ROLE_USER, part("u", ONE_HOUR))],
            "ttl '1h' must come before",
            "messages[1].content[0].cache_control.ttl",
        ),
        (
            [message(chat_pb2.ROLE_USER, part("u", messages_pb2.CacheControl(type="persistent")))],
            "must be 'ephemeral'",
            "messages[0].content[0].cache_control.type",
        ),
        (
            [message(chat_pb2.ROLE_USER, part("u", messages_pb2.CacheControl(type="ephemeral", ttl="1d")))],
            "must be '5m' or '1h'",
            "messages[0].content[0].cache_control.ttl",
        ),
    ],
)
def test_refusals_name_the_rule_and_field(messages: list[chat_pb2.ChatMessage], error: str, field: str) -> None:
    """Too many points, TTLs out of order and malformed markers are INVALID_ARGUMENT naming the field."""
    with pytest.raises(InvalidArgument, match=error) as caught:
        request(*messages)
    assert caught.value.field == field


def test_1h_ttl_needs_a_model_with_it() -> None:
    """Claude 3.7 Sonnet caches for 5 minutes only: a 1h marker is refused, not silently shortened."""
    model = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
    with pytest.raises(InvalidArgument, match="5 minutes only"):
        request(message(chat_pb2.ROLE_USER, part("u", ONE_HOUR)), model=model)
    assert (
        request(message(chat_pb2.ROLE_USER, part("u", FIVE_MINUTES)), model=model)["messages"][0]["content"][1] == POINT
    )
