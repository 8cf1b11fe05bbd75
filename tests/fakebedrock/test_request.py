from __future__ import annotations

import base64
from typing import Any

import pytest

from llmgw.fakebedrock.errors import BedrockError
from llmgw.fakebedrock.request import IMAGE_TOKENS, parse_converse

TOOLS: dict[str, Any] = {"tools": [{"toolSpec": {"name": "lookup", "inputSchema": {"json": {"type": "object"}}}}]}


def text(role: str, value: str) -> dict[str, Any]:
    return {"role": role, "content": [{"text": value}]}


def test_counts_input_tokens_over_system_messages_images_and_tool_blocks() -> None:
    """Input tokens are words of system and texts, 85 per image, and words of tool JSON."""
    image = {"image": {"format": "jpeg", "source": {"bytes": base64.b64encode(b"abc").decode()}}}
    tool_use = {"toolUse": {"toolUseId": "t1", "name": "lookup", "input": {"q": "x"}}}
    tool_result = {"toolResult": {"toolUseId": "t1", "content": [{"text": "three word result"}]}}
    request = parse_converse(
        {
            "system": [{"text": "you are terse"}, {"cachePoint": {"type": "default"}}],
            "messages": [
                {"role": "user", "content": [{"text": "find it"}, image]},
                {"role": "assistant", "content": [tool_use]},
                {"role": "user", "content": [tool_result]},
            ],
            "toolConfig": TOOLS,
        }
    )
    assert request.input_tokens == 3 + 2 + IMAGE_TOKENS + 2 + 3
    assert request.tool_results == ("three word result",)
    assert request.images == ()
    assert request.prompt == ""


def test_prompt_is_the_last_user_text_even_after_an_assistant_prefill() -> None:
    """Markers are read from the last user message, also when an assistant prefill follows it."""
    request = parse_converse({"messages": [text("user", "hi [[tokens:3]]"), text("assistant", "Sure,")]})
    assert request.prompt == "hi [[tokens:3]]"
    assert not request.ends_with_user


def test_seed_ignores_inference_config() -> None:
    """The answer seed depends on the conversation, not on maxTokens or stop sequences."""
    messages = [text("user", "same")]
    plain = parse_converse({"messages": messages})
    limited = parse_converse({"messages": messages, "inferenceConfig": {"maxTokens": 3, "stopSequences": ["x"]}})
    assert plain.seed == limited.seed
    assert (limited.max_tokens, limited.stop_sequences) == (3, ("x",))


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ([], "JSON object"),
        ({}, "messages"),
        ({"messages": [text("assistant", "hi")]}, "alternate"),
        ({"messages": [text("user", "a"), text("user", "b")]}, "alternate"),
        ({"messages": [{"role": "user", "content": []}]}, "content"),
        ({"messages": [text("user", "   ")]}, "non-blank"),
        ({"messages": [{"role": "user", "content": [{"image": {"format": "bmp"}}]}]}, "format"),
        (
            {"messages": [{"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": "@@"}}}]}]},
            "base64",
        ),
        ({"messages": [text("user", "a")], "inferenceConfig": {"maxTokens": 0}}, "maxTokens"),
        ({"messages": [text("user", "a")], "inferenceConfig": {"temperature": 3}}, "temperature"),
        ({"messages": [text("user", "a")], "inferenceConfig": {"stopSequences": [""]}}, "stopSequences"),
        ({"messages": [text("user", "a")], "toolConfig": {"tools": []}}, "tools"),
        ({"messages": [text("user", "a")], "toolConfig": {"tools": [{"toolSpec": {"name": "bad name"}}]}}, "name"),
        (
            {"messages": [text("user", "a")], "toolConfig": {**TOOLS, "toolChoice": {"tool": {"name": "nope"}}}},
            "toolChoice",
        ),
        (
            {
                "messages": [
                    text("user", "a"),
                    {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "lookup", "input": {}}}]},
                ]
            },
            "toolConfig",
        ),
        (
            {
                "messages": [{"role": "user", "content": [{"toolResult": {"toolUseId": "zz", "content": []}}]}],
                "toolConfig": TOOLS,
            },
            "unknown toolUseIds",
        ),
    ],
)
def test_invalid_bodies_raise_validation_exceptions(body: Any, fragment: str) -> None:
    """Bodies Bedrock would reject raise a 400 ValidationException naming the problem."""
    with pytest.raises(BedrockError) as caught:
        parse_converse(body)
    assert (caught.value.status, caught.value.code) == (400, "ValidationException")
    assert fragment in caught.value.message
