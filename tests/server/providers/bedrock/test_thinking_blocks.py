"""Thinking blocks, the explicit thinking parameter and service tiers on the Converse request and answer."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from llmgw.server.core.catalog import Catalog
from llmgw.server.providers.bedrock.converse import from_converse_response, to_converse_request
from llmgw.server.providers.bedrock.stream import StreamTranslator
from llmgw.v1 import chat_pb2, messages_pb2
from llmgw.wire.errors import InvalidArgument
from tests.model_ids import DEEPSEEK, HAIKU, HAIKU_45

CATALOG = Catalog.load()
REDACTED = b"\x00\x01opaque\xff"
SIGNED = chat_pb2.ThinkingBlock(type="thinking", thinking="Let me think.", signature="c2lnbmF0dXJl")
HIDDEN = chat_pb2.ThinkingBlock(type="redacted_thinking", data=base64.b64encode(REDACTED).decode())


def params(model: str, *messages: chat_pb2.ChatMessage, **fields: Any) -> chat_pb2.ChatCompletionParams:
    return chat_pb2.ChatCompletionParams(model=model, messages=list(messages), **fields)


def user(text: str) -> chat_pb2.ChatMessage:
    return chat_pb2.ChatMessage(role=chat_pb2.ROLE_USER, content=[chat_pb2.ContentPart(text=text)])


def assistant(*blocks: chat_pb2.ThinkingBlock) -> chat_pb2.ChatMessage:
    return chat_pb2.ChatMessage(
        role=chat_pb2.ROLE_ASSISTANT, content=[chat_pb2.ContentPart(text="answer")], thinking_blocks=list(blocks)
    )


def converse(p: chat_pb2.ChatCompletionParams) -> dict[str, Any]:
    return to_converse_request(p, CATALOG.get(p.model))


def test_thinking_blocks_open_the_assistant_turn_unchanged() -> None:
    """Signed text and signature go as the same strings, redacted data as the same bytes, before the text."""
    request = converse(params(HAIKU_45, user("q"), assistant(SIGNED, HIDDEN), user("again")))
    assert request["messages"][1]["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "Let me think.", "signature": "c2lnbmF0dXJl"}}},
        {"reasoningContent": {"redactedContent": REDACTED}},
        {"text": "answer"},
    ]


def test_thinking_blocks_are_dropped_for_a_model_that_does_not_reason() -> None:
    """A conversation moved to Claude 3 Haiku keeps its text; the thinking blocks stay behind."""
    request = converse(params(HAIKU, user("q"), assistant(SIGNED), user("again")))
    assert request["messages"][1]["content"] == [{"text": "answer"}]


@pytest.mark.parametrize(
    ("block", "field"),
    [
        (chat_pb2.ThinkingBlock(type="thinking", thinking="x"), "messages[1].thinking_blocks[0].signature"),
        (chat_pb2.ThinkingBlock(type="redacted_thinking", data="not base64!"), "messages[1].thinking_blocks[0].data"),
        (chat_pb2.ThinkingBlock(type="musing"), "messages[1].thinking_blocks[0].type"),
    ],
)
def test_malformed_thinking_blocks_are_refused(block: chat_pb2.ThinkingBlock, field: str) -> None:
    """A block without signature, with bad base64 or of an unknown type is INVALID_ARGUMENT naming it."""
    with pytest.raises(InvalidArgument) as caught:
        converse(params(HAIKU_45, user("q"), assistant(block), user("again")))
    assert caught.value.field == field


def test_answers_carry_thinking_blocks_unary_and_streamed() -> None:
    """Converse's reasoningContent comes back as thinking_blocks; a stream sends each block whole at its end."""
    content = [
        {"reasoningContent": {"reasoningText": {"text": "Hmm.", "signature": "sig"}}},
        {"reasoningContent": {"redactedContent": REDACTED}},
        {"text": "Hi"},
    ]
    unary = from_converse_response({"output": {"message": {"content": content}}, "stopReason": "end_turn"})
    expected = [
        chat_pb2.ThinkingBlock(type="thinking", thinking="Hmm.", signature="sig"),
        chat_pb2.ThinkingBlock(type="redacted_thinking", data=base64.b64encode(REDACTED).decode()),
    ]
    assert list(unary.message.thinking_blocks) == expected
    translator = StreamTranslator()
    events: list[dict[str, Any]] = [
        {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Hm"}}}},
        {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "m."}}}},
        {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig"}}}},
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {"contentBlockDelta": {"contentBlockIndex": 1, "delta": {"reasoningContent": {"redactedContent": REDACTED}}}},
        {"contentBlockStop": {"contentBlockIndex": 1}},
    ]
    streamed = [
        block for event in events for choice in translator.feed(event) for block in choice.delta.thinking_blocks
    ]
    assert streamed == expected


@pytest.mark.parametrize(
    ("model", "thinking", "fields", "max_tokens"),
    [
        (
            HAIKU_45,
            {"type": "enabled", "budget_tokens": 2048},
            {"thinking": {"type": "enabled", "budget_tokens": 2048}},
            8192 + 2048,
        ),
        (HAIKU_45, {"type": "disabled"}, {"thinking": {"type": "disabled"}}, 8192),
        (
            "us.anthropic.claude-opus-4-7",
            {"type": "enabled", "budget_tokens": 5000},
            {"thinking": {"type": "adaptive", "display": "summarized"}, "output_config": {"effort": "medium"}},
            8192,
        ),
    ],
)
def test_explicit_thinking(model: str, thinking: dict[str, Any], fields: dict[str, Any], max_tokens: int) -> None:
    """`enabled` with a budget where the model takes it, else the effort whose budget fits; `disabled` turns it off."""
    config = messages_pb2.ThinkingConfig(**thinking)
    request = converse(params(model, user("q"), thinking=config))
    assert request["additionalModelRequestFields"] == fields
    assert request["inferenceConfig"]["maxTokens"] == max_tokens


def test_service_tier_is_sent_and_read_back() -> None:
    """`priority` goes as serviceTier; `auto` sends none; the tier Bedrock reports is the one kept."""
    assert converse(params(DEEPSEEK, user("q"), service_tier="priority"))["serviceTier"] == {"type": "priority"}
    assert "serviceTier" not in converse(params(DEEPSEEK, user("q"), service_tier="auto"))
    answer = {"output": {"message": {"content": [{"text": "x"}]}}, "serviceTier": {"type": "flex"}}
    assert from_converse_response(answer, "flex").service_tier == "flex"
    assert from_converse_response({"output": {"message": {"content": []}}}, None).service_tier == "default"
    with pytest.raises(InvalidArgument, match="not offered in the 'flex' service tier"):
        converse(params(HAIKU_45, user("q"), service_tier="flex"))
