"""Messages shapes <-> Bedrock's Anthropic bodies: table tests, no network."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from google.protobuf import json_format

from llmgw.server.providers.bedrock.anthropic import (
    AnthropicUsage,
    decode_chunk,
    event_from_body,
    invoke_body,
    message_from_body,
    native_body,
    requested_betas,
    split_betas,
)
from llmgw.v1 import messages_pb2
from llmgw.wire.errors import InvalidArgument

SIGNATURE = "EqQBCkgIARABGAIiQL+/9v/5z3r0tQ1+/==\u00e9"  # any bytes a model signed: must come back as they are


def params(**fields: Any) -> messages_pb2.MessageParams:
    """MessageParams from Anthropic JSON, as the bridge fills them."""
    message = messages_pb2.MessageParams()
    json_format.ParseDict({"model": "m", "max_tokens": 100, **fields}, message)
    return message


def test_invoke_body_keeps_every_field() -> None:
    """System blocks, cache breakpoints, tools, tool choice, sampling, metadata, thinking and effort all carry over."""
    request = params(
        system=[{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": SIGNATURE},
                    {"type": "redacted_thinking", "data": "ZW5jcnlwdGVk"},
                    {"type": "tool_use", "id": "toolu_1", "name": "f", "input": '{"n":1,"x":1.5,"l":[2]}'},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "ok"}]}
                ],
            },
        ],
        tools=[
            {
                "name": "f",
                "description": "d",
                "input_schema": '{"type":"object"}',
                "cache_control": {"type": "ephemeral"},
            }
        ],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
        stop_sequences=["STOP"],
        temperature=0.5,
        top_p=0.9,
        top_k=40,
        metadata={"user_id": "u-1"},
        thinking={"type": "enabled", "budget_tokens": 2048},
        output_config={"effort": "high"},
    )
    body = invoke_body(request, ["context-1m-2025-08-07"])
    assert body["anthropic_version"] == "bedrock-2023-05-31"
    assert body["anthropic_beta"] == ["context-1m-2025-08-07"]
    assert "model" not in body
    assert "stream" not in body
    assert body["system"] == [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    thinking, redacted, tool_use = body["messages"][1]["content"]
    assert thinking == {"type": "thinking", "thinking": "hmm", "signature": SIGNATURE}
    assert redacted == {"type": "redacted_thinking", "data": "ZW5jcnlwdGVk"}
    assert json.dumps(tool_use["input"]) == '{"n": 1, "x": 1.5, "l": [2]}'
    assert body["messages"][2]["content"][0]["content"] == [{"type": "text", "text": "ok"}]
    assert body["tools"][0]["cache_control"] == {"type": "ephemeral"}
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert (body["temperature"], body["top_p"], body["top_k"]) == (0.5, 0.9, 40)
    assert body["stop_sequences"] == ["STOP"]
    assert body["metadata"] == {"user_id": "u-1"}
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["output_config"] == {"effort": "high"}


def test_native_body_names_the_model_and_the_stream() -> None:
    """The native route takes the profile id and `stream` in the body, and no Bedrock version or betas."""
    text = [{"type": "text", "text": "x"}]
    request = params(metadata={"user_id": "user_abc_account__session_1"}, messages=[{"role": "user", "content": text}])
    body = native_body(request, "global.m", True)
    assert (body["model"], body["stream"]) == ("global.m", True)
    assert "metadata" not in body  # the native route rejects user ids outside its unpublished pattern
    assert "anthropic_version" not in body
    assert "anthropic_beta" not in body


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"messages": []}, "messages"),
        ({"max_tokens": 0, "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]}, "max_tokens"),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "http://x"}}]}
                ]
            },
            "messages[0].content[0].source",
        ),
        ({"messages": [{"role": "user", "content": [{"text": "no type"}]}]}, "messages[0].content[0].type"),
    ],
)
def test_what_bedrock_cannot_take_is_refused(fields: dict[str, Any], field: str) -> None:
    """Each refusal names its field."""
    with pytest.raises(InvalidArgument) as refused:
        invoke_body(params(**fields), [])
    assert refused.value.field == field


def test_betas_from_body_and_header_once_each_and_split_by_the_allowlist() -> None:
    """Header values are comma-separated; duplicates collapse; only allowlisted betas pass."""
    request = params(anthropic_beta=["a", "b"])
    assert requested_betas(request, ["b, c", "d"]) == ["a", "b", "c", "d"]
    assert split_betas(["a", "b", "c"], frozenset({"b"})) == (["b"], ["a", "c"])


def test_message_from_body_keeps_signatures_and_names_the_callers_model() -> None:
    """Bedrock's answer becomes the API's Message; usage in Anthropic's convention, cache counts included."""
    body = {
        "id": "msg_bdrk_1",
        "type": "message",
        "role": "assistant",
        "model": "anthropic.claude-x",
        "content": [
            {"type": "thinking", "thinking": "t", "signature": SIGNATURE},
            {"type": "text", "text": "hi", "citations": None},
        ],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 3,
            "output_tokens": 5,
            "cache_read_input_tokens": 7,
            "cache_creation_input_tokens": 0,
        },
    }
    message, usage = message_from_body(body, "us.anthropic.claude-x")
    assert message.model == "us.anthropic.claude-x"
    assert message.content[0].signature == SIGNATURE
    assert message.content[1].text == "hi"
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == (3, 5, 7, 0)


def test_stream_events_drop_bedrocks_metrics_and_usage_accumulates() -> None:
    """`amazon-bedrock-invocationMetrics` stays inside; message_start and message_delta counts are kept."""
    usage = AnthropicUsage()
    start = {"type": "message_start", "message": {"id": "x", "usage": {"input_tokens": 9, "output_tokens": 1}}}
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 4},
    }
    stop = {"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 9}}
    for event in (start, delta, stop):
        usage.feed_event(event)
    assert (usage.input_tokens, usage.output_tokens) == (9, 4)
    assert event_from_body(start, "mine").message.model == "mine"
    assert event_from_body(delta, "mine").delta.stop_reason == "end_turn"
    converted = event_from_body(stop, "mine")
    assert converted.type == "message_stop"
    assert not converted.HasField("message")


def test_chunk_bytes_come_raw_or_base64() -> None:
    """boto3 hands chunk bytes decoded; the native stream adapter too; base64 text is decoded."""
    assert decode_chunk({"chunk": {"bytes": b"{}"}}) == b"{}"
    assert decode_chunk({"chunk": {"bytes": base64.b64encode(b"{}").decode()}}) == b"{}"
    assert decode_chunk({"other": {}}) is None
