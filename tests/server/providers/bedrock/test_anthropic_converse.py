"""Messages requests for non-Claude models <-> Converse: table tests, no network."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import json_format

from llmgw.server.core.catalog import Catalog
from llmgw.server.providers.bedrock.anthropic_converse import (
    ConverseEventTranslator,
    message_from_converse,
    to_converse,
)
from llmgw.v1 import messages_pb2
from llmgw.wire.errors import InvalidArgument

NOVA_LITE = Catalog.load().get("amazon.nova-lite-v1:0")
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def params(**fields: Any) -> messages_pb2.MessageParams:
    """MessageParams from Anthropic JSON (JSON-text fields as text)."""
    message = messages_pb2.MessageParams()
    json_format.ParseDict({"model": NOVA_LITE.id, "max_tokens": 50, **fields}, message)
    return message


def test_a_full_conversation_maps_onto_converse() -> None:
    """System, images, tool calls and results, tools and tool choice, sampling: each in Converse's shape."""
    request = to_converse(
        params(
            system=[{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "doc"}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": '{"b":1,"a":2}'}],
                },
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "is_error": True}]},
            ],
            tools=[{"name": "f", "input_schema": '{"type":"object"}'}],
            tool_choice={"type": "tool", "name": "f"},
            temperature=0.2,
            stop_sequences=["X"],
        ),
        NOVA_LITE,
    )
    assert request["modelId"] == NOVA_LITE.id
    assert request["system"] == [{"text": "be brief"}]
    image, document = request["messages"][0]["content"]
    assert image["image"]["format"] == "png"
    assert document == {"document": {"format": "txt", "name": "document-1", "source": {"bytes": b"doc"}}}
    assert request["messages"][1]["content"] == [
        {"toolUse": {"toolUseId": "t1", "name": "f", "input": {"b": 1, "a": 2}}}
    ]
    assert request["messages"][2]["content"][0]["toolResult"]["status"] == "error"
    assert request["toolConfig"]["toolChoice"] == {"tool": {"name": "f"}}
    assert request["inferenceConfig"] == {"maxTokens": 50, "temperature": 0.2, "stopSequences": ["X"]}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, "thinking"),
        ({"top_k": 5}, "top_k"),
        (
            {"messages": [{"role": "user", "content": [{"type": "thinking", "thinking": "x", "signature": "s"}]}]},
            "messages[0].content[0].type",
        ),
        ({"tools": [{"name": "bash", "type": "bash_20250124"}]}, "tools[0].type"),
    ],
)
def test_what_converse_cannot_carry_is_a_clear_400(fields: dict[str, Any], field: str) -> None:
    """Each refusal names the field and says the model is served through Converse."""
    base = {"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]}
    with pytest.raises(InvalidArgument, match="only through Converse") as refused:
        to_converse(params(**{**base, **fields}), NOVA_LITE)
    assert refused.value.field == field


def test_converse_answers_become_anthropic_messages() -> None:
    """Text and tool calls become blocks, stop reasons map (content filter -> refusal), usage is Anthropic's."""
    response = {
        "output": {"message": {"content": [{"text": "hi"}, {"toolUse": {"toolUseId": "t", "name": "f", "input": {}}}]}},
        "stopReason": "content_filtered",
        "usage": {"inputTokens": 4, "outputTokens": 2},
    }
    body = message_from_converse(response, "amazon.nova-lite-v1:0", "msg-1")
    assert body["content"] == [
        {"type": "text", "text": "hi"},
        {"type": "tool_use", "id": "t", "name": "f", "input": {}},
    ]
    assert body["stop_reason"] == "refusal"
    assert body["usage"]["input_tokens"] == 4


def test_converse_stream_becomes_anthropic_events() -> None:
    """Text blocks open on their first delta; message_delta and message_stop wait for the usage."""
    translator = ConverseEventTranslator("m", "msg-1")
    events: list[dict[str, Any]] = [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "Hel"}}},
        {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "lo"}}},
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {"contentBlockStart": {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "t", "name": "f"}}}},
        {"contentBlockDelta": {"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{}"}}}},
        {"contentBlockStop": {"contentBlockIndex": 1}},
        {"messageStop": {"stopReason": "tool_use"}},
        {"metadata": {"usage": {"inputTokens": 3, "outputTokens": 4}}},
    ]
    out = [event for raw in events for event in translator.feed(raw)]
    assert [event["type"] for event in out] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert out[-2]["delta"] == {"stop_reason": "tool_use"}
    assert out[-2]["usage"]["output_tokens"] == 4
