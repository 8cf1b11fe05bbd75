"""The fake's prompt cache, cachePoint rules, signed reasoning and service tiers, over boto3 and HTTP."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from llmgw.fakebedrock.cache import CachePoint, PromptCache
from llmgw.fakebedrock.server import FakeBedrockServer
from tests.fakebedrock.conftest import user

if TYPE_CHECKING:
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient

HAIKU_45 = "global.anthropic.claude-haiku-4-5-20251001-v1:0"
CLAUDE_3 = "anthropic.claude-3-haiku-20240307-v1:0"
POINT: Any = {"cachePoint": {"type": "default"}}
POINT_1H: Any = {"cachePoint": {"type": "default", "ttl": "1h"}}
THINK: Any = {"thinking": {"type": "enabled", "budget_tokens": 1024}}
TOOLS: Any = {
    "tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object", "properties": {}}}}}]
}


def words(count: int) -> str:
    tag = secrets.token_hex(4)
    return " ".join(f"{tag}{i}" for i in range(count))


def test_prompt_cache_reads_the_longest_cached_prefix_and_writes_the_rest() -> None:
    """Unit: a repeated prefix is read, the new tail up to the last point written, by TTL; expiry forgets."""
    now = [0.0]
    cache = PromptCache(clock=lambda: now[0])
    first = (CachePoint(b"a", 10, "1h"), CachePoint(b"b", 25, "5m"))
    usage = cache.account("m", first)
    assert (usage.read_tokens, usage.write_1h_tokens, usage.write_5m_tokens) == (0, 10, 15)
    assert usage.details() == [{"ttl": "1h", "inputTokens": 10}, {"ttl": "5m", "inputTokens": 15}]
    again = cache.account("m", (*first, CachePoint(b"c", 40, "5m")))
    assert (again.read_tokens, again.write_tokens) == (25, 15)
    assert cache.account("other-model", first).read_tokens == 0
    now[0] = 400.0  # past 5 minutes, within the hour
    assert cache.account("m", first).read_tokens == 10


def test_cache_usage_over_the_wire(bedrock: BedrockRuntimeClient) -> None:
    """Converse reports cache writes, then reads of the same prefix; inputTokens excludes both."""
    system: Any = [{"text": words(12)}, POINT]
    first = bedrock.converse(modelId=HAIKU_45, system=system, messages=[user("hi there")])["usage"]
    second = bedrock.converse(modelId=HAIKU_45, system=system, messages=[user("hi there")])["usage"]
    assert (first["inputTokens"], first["cacheWriteInputTokens"], first["cacheReadInputTokens"]) == (2, 12, 0)
    assert (second["inputTokens"], second["cacheWriteInputTokens"], second["cacheReadInputTokens"]) == (2, 0, 12)
    assert first["totalTokens"] == second["totalTokens"]


@pytest.mark.parametrize(
    ("model", "system", "content", "message"),
    [
        (HAIKU_45, [POINT, {"text": "s"}], [{"text": "u"}], "must come right after a content block"),
        (HAIKU_45, [], [{"text": "u"}, POINT, POINT], "must come right after a content block"),
        (HAIKU_45, [{"text": "s"}, POINT], [{"text": "u"}, POINT_1H], "ttl 1h cannot come after one with ttl 5m"),
        (
            HAIKU_45,
            [{"text": "a"}, POINT, {"text": "b"}, POINT],
            [{"text": "c"}, POINT, {"text": "d"}, POINT, {"text": "e"}, POINT],
            "at most 4 are allowed",
        ),
        (HAIKU_45, [], [{"text": "u"}, {"cachePoint": {"type": "default", "ttl": "2h"}}], "ttl must be one of"),
        (CLAUDE_3, [], [{"text": "u"}, POINT], "does not support prompt caching"),
    ],
)
def test_cache_point_rules(bedrock: BedrockRuntimeClient, model: str, system: Any, content: Any, message: str) -> None:
    """Position, count, TTL order and model support are ValidationExceptions, as on Bedrock."""
    extra: Any = {"system": system} if system else {}
    with pytest.raises(ClientError, match=message):
        bedrock.converse(modelId=model, messages=[{"role": "user", "content": content}], **extra)


def test_reasoning_comes_back_signed_and_is_verified(bedrock: BedrockRuntimeClient) -> None:
    """The thinking returned verifies when sent back; an edited signature or text is refused."""
    prompt = user(f"{words(3)} weather? [[redacted_thinking]]")
    first = bedrock.converse(modelId=HAIKU_45, messages=[prompt], toolConfig=TOOLS, additionalModelRequestFields=THINK)
    content = first["output"]["message"]["content"]
    assert "signature" in content[0]["reasoningContent"]["reasoningText"]
    assert isinstance(content[1]["reasoningContent"]["redactedContent"], bytes)
    call = next(block["toolUse"] for block in content if "toolUse" in block)
    result: Any = {
        "role": "user",
        "content": [{"toolResult": {"toolUseId": call["toolUseId"], "content": [{"text": "ok"}]}}],
    }

    def follow_up(assistant_content: Any) -> Any:
        messages: Any = [prompt, {"role": "assistant", "content": assistant_content}, result]
        return bedrock.converse(
            modelId=HAIKU_45, messages=messages, toolConfig=TOOLS, additionalModelRequestFields=THINK
        )

    assert "Tool result: ok" in follow_up(content)["output"]["message"]["content"][-1]["text"]
    text = content[0]["reasoningContent"]["reasoningText"]
    edited = [{"reasoningContent": {"reasoningText": {**text, "text": text["text"] + " "}}}, *content[1:]]
    with pytest.raises(ClientError, match="Invalid `signature`"):
        follow_up(edited)
    with pytest.raises(ClientError, match="Expected `thinking` or `redacted_thinking`"):
        follow_up([block for block in content if "reasoningContent" not in block])


def test_service_tiers_per_model(bedrock: BedrockRuntimeClient) -> None:
    """Non-Claude models take priority and echo it; Claude takes only default."""
    answer = bedrock.converse(modelId="deepseek.v3.2", messages=[user("hi")], serviceTier={"type": "priority"})
    assert answer["serviceTier"] == {"type": "priority"}
    with pytest.raises(ClientError, match="service tier flex is not supported"):
        bedrock.converse(modelId=HAIKU_45, messages=[user("hi")], serviceTier={"type": "flex"})


def test_application_profiles(fake: FakeBedrockServer, bedrock: BedrockRuntimeClient) -> None:
    """A registered application profile ARN answers as its model; an unknown ARN is invalid."""
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/fake1"
    fake.app.application_profiles[arn] = HAIKU_45
    answer = bedrock.converse(modelId=arn, messages=[user("hi [[tokens:2]]")], additionalModelRequestFields=THINK)
    assert "reasoningContent" in answer["output"]["message"]["content"][0]
    with pytest.raises(ClientError, match="model identifier is invalid"):
        bedrock.converse(modelId=arn + "x", messages=[user("hi")])
