"""Converse requests onto the native Messages route and its answers back: table tests, no network."""

from __future__ import annotations

from typing import Any

from llmgw.server.providers.bedrock.converse_via_messages import (
    ConverseEventsFromMessages,
    converse_response,
    native_request,
)


def test_a_converse_request_becomes_the_native_body() -> None:
    """Every Converse block and setting has its Anthropic form; the betas go to the header."""
    request: dict[str, Any] = {
        "modelId": "x",
        "system": [{"text": "sys"}, {"cachePoint": {"type": "default"}}],
        "messages": [
            {
                "role": "user",
                "content": [{"image": {"format": "png", "source": {"bytes": b"\x89PNG"}}}, {"text": "hi"}],
            },
            {
                "role": "assistant",
                "content": [
                    {"reasoningContent": {"reasoningText": {"text": "t", "signature": "sig"}}},
                    {"toolUse": {"toolUseId": "t1", "name": "f", "input": {"b": 1, "a": 2}}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"toolResult": {"toolUseId": "t1", "content": [{"json": {"ok": True}}], "status": "error"}}
                ],
            },
        ],
        "inferenceConfig": {"maxTokens": 100, "temperature": 1.0, "stopSequences": ["S"]},
        "toolConfig": {
            "tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object"}}}}],
            "toolChoice": {"auto": {}},
        },
        "additionalModelRequestFields": {
            "thinking": {"type": "adaptive", "display": "summarized"},
            "output_config": {"effort": "low"},
            "anthropic_beta": ["context-1m-2025-08-07"],
        },
    }
    body, betas = native_request(request, "global.anthropic.claude-opus-4-7", stream=True)
    assert betas == ["context-1m-2025-08-07"]
    assert body["model"] == "global.anthropic.claude-opus-4-7"
    assert body["stream"] is True
    assert body["system"] == [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}]
    image, text = body["messages"][0]["content"]
    assert image["source"] == {"type": "base64", "media_type": "image/png", "data": "iVBORw=="}
    assert text == {"type": "text", "text": "hi"}
    thinking, tool_use = body["messages"][1]["content"]
    assert thinking == {"type": "thinking", "thinking": "t", "signature": "sig"}
    assert list(tool_use["input"]) == ["b", "a"]
    result = body["messages"][2]["content"][0]
    assert result == {
        "type": "tool_result",
        "tool_use_id": "t1",
        "content": [{"type": "text", "text": '{"ok":true}'}],
        "is_error": True,
    }
    assert (body["max_tokens"], body["temperature"], body["stop_sequences"]) == (100, 1.0, ["S"])
    assert body["tools"] == [{"name": "f", "input_schema": {"type": "object"}}]
    assert body["tool_choice"] == {"type": "auto"}
    assert body["thinking"] == {"type": "adaptive", "display": "summarized"}
    assert "anthropic_beta" not in body


def test_a_native_answer_reads_as_converse() -> None:
    """Thinking becomes reasoningContent, tool_use toolUse, usage Converse's counts; refusal stays refusal."""
    message = {
        "content": [
            {"type": "thinking", "thinking": "t", "signature": "sig"},
            {"type": "text", "text": "no"},
            {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
        ],
        "stop_reason": "refusal",
        "usage": {
            "input_tokens": 3,
            "output_tokens": 2,
            "cache_read_input_tokens": 5,
            "cache_creation_input_tokens": None,
        },
    }
    response = converse_response(message)
    assert response["output"]["message"]["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "t", "signature": "sig"}}},
        {"text": "no"},
        {"toolUse": {"toolUseId": "t1", "name": "f", "input": {}}},
    ]
    assert response["stopReason"] == "refusal"
    assert response["usage"] == {
        "inputTokens": 3,
        "outputTokens": 2,
        "cacheReadInputTokens": 5,
        "cacheWriteInputTokens": 0,
        "totalTokens": 10,
    }


def test_native_events_read_as_a_converse_stream() -> None:
    """Anthropic's events map onto ConverseStream's, usage gathered from message_start and message_delta."""
    translator = ConverseEventsFromMessages()
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {"usage": {"input_tokens": 7, "output_tokens": 1}}},
        {"type": "ping"},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hm"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "s"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "t", "name": "f"}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{}"}},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    ]
    out = [converted for event in events for converted in translator.feed(event)]
    assert out[0] == {"messageStart": {"role": "assistant"}}
    assert out[1]["contentBlockDelta"]["delta"] == {"reasoningContent": {"text": "hm"}}
    assert out[2]["contentBlockDelta"]["delta"] == {"reasoningContent": {"signature": "s"}}
    assert out[4] == {
        "contentBlockStart": {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "t", "name": "f"}}}
    }
    assert out[-2] == {"messageStop": {"stopReason": "tool_use"}}
    assert out[-1]["metadata"]["usage"]["inputTokens"] == 7
    assert out[-1]["metadata"]["usage"]["outputTokens"] == 9
