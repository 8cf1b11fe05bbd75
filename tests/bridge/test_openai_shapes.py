"""The hooks for OpenAI shapes that are not plain proto JSON, and the stream dispatcher."""

from __future__ import annotations

import pytest

from llmgw.bridge.errors import ClientError
from llmgw.bridge.openai_shapes import DISPATCHERS, content_parts, string_or_list, tool_choice
from llmgw.bridge.routes import build_route_table, discover_services


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("hi", [{"type": "text", "text": "hi"}]),
        ("", []),
        ([{"type": "text", "text": "a"}], [{"type": "text", "text": "a"}]),
        (None, None),
    ],
)
def test_content_parts(value: object, expected: object) -> None:
    """A string content is one text part; lists and null pass through."""
    assert content_parts(value, "messages[0].content") == expected


@pytest.mark.parametrize(("value", "expected"), [("x", ["x"]), (["x", "y"], ["x", "y"]), (None, None), (5, 5)])
def test_string_or_list(value: object, expected: object) -> None:
    """A string becomes a one-item list; anything else is left for the generic checks."""
    assert string_or_list(value, "stop") == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("auto", {"mode": "auto"}),
        ("none", {"mode": "none"}),
        ("required", {"mode": "required"}),
        ({"type": "function", "function": {"name": "f"}}, {"mode": "function", "function": {"name": "f"}}),
        ({"mode": "auto"}, {"mode": "auto"}),
        (None, None),
    ],
)
def test_tool_choice(value: object, expected: object) -> None:
    """OpenAI's string and object forms become the ToolChoice message's JSON."""
    assert tool_choice(value, "tool_choice") == expected


def test_tool_choice_unknown_type() -> None:
    """An object form with another type is a 400 naming tool_choice.type."""
    with pytest.raises(ClientError, match=r"tool_choice\.type: unknown value 'web_search'"):
        tool_choice({"type": "web_search"}, "tool_choice")


@pytest.mark.parametrize(
    ("body", "streaming"),
    [({"stream": True}, True), ({"stream": False}, False), ({"stream": None}, False), ({}, False), ([], False)],
)
def test_stream_dispatch(body: object, streaming: bool) -> None:
    """`stream: true` picks StreamChatCompletion; absent, null and false pick CreateChatCompletion."""
    table = build_route_table(discover_services(), DISPATCHERS)
    chat = next(e for e in table.endpoints if e.template.source == "/v1/chat/completions")
    route = chat.select(body)
    assert route.server_streaming is streaming
    assert route.rpc.endswith("StreamChatCompletion" if streaming else "CreateChatCompletion")


def test_stream_dispatch_rejects_non_boolean() -> None:
    """A non-boolean `stream` is a 400 naming the field."""
    table = build_route_table(discover_services(), DISPATCHERS)
    chat = next(e for e in table.endpoints if e.template.source == "/v1/chat/completions")
    with pytest.raises(ClientError, match="stream: expected a boolean") as caught:
        chat.select({"stream": "true"})
    assert caught.value.param == "stream"
