"""Cache TTLs over the native Messages route: the marker keeps its TTL, 1-hour writes come back as such."""

from __future__ import annotations

from typing import Any

from llmgw.server.providers.bedrock.converse_via_messages import converse_response, native_request


def test_a_cache_point_keeps_its_ttl_on_the_native_route() -> None:
    """A 1h cachePoint marks the block before it with ttl 1h; a plain one with no ttl (Anthropic's 5m)."""
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc"
    request: dict[str, Any] = {
        "modelId": arn,
        "system": [{"text": "rules"}, {"cachePoint": {"type": "default", "ttl": "1h"}}],
        "messages": [{"role": "user", "content": [{"text": "q"}, {"cachePoint": {"type": "default"}}]}],
    }
    body, _ = native_request(request, arn, stream=False)
    assert body["model"] == arn
    assert body["system"] == [{"type": "text", "text": "rules", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    assert body["messages"][0]["content"] == [{"type": "text", "text": "q", "cache_control": {"type": "ephemeral"}}]


def test_one_hour_writes_come_back_as_cache_details() -> None:
    """Anthropic's cache_creation breakdown becomes Converse's cacheDetails, so 1h writes get the 1h price."""
    usage = {
        "input_tokens": 3,
        "output_tokens": 5,
        "cache_read_input_tokens": 7,
        "cache_creation_input_tokens": 30,
        "cache_creation": {"ephemeral_5m_input_tokens": 10, "ephemeral_1h_input_tokens": 20},
    }
    answer = converse_response({"content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn", "usage": usage})
    assert answer["usage"]["cacheWriteInputTokens"] == 30
    assert answer["usage"]["cacheDetails"] == [{"ttl": "1h", "inputTokens": 20}, {"ttl": "5m", "inputTokens": 10}]
