"""The fake enforces each Claude model's thinking, sampling and tool-choice rules, and returns reasoning."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from tests.fakebedrock.conftest import user

if TYPE_CHECKING:
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient

OPUS_47 = "global.anthropic.claude-opus-4-7"
FABLE_5 = "us.anthropic.claude-fable-5"
FABLE_51 = "global.anthropic.claude-fable-5-1"
HAIKU_45 = "global.anthropic.claude-haiku-4-5-20251001-v1:0"
TOOLS: Any = {
    "tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object", "properties": {}}}}}]
}


def converse(bedrock: BedrockRuntimeClient, model: str, **extra: Any) -> Any:
    """One Converse call with a short answer."""
    return bedrock.converse(modelId=model, messages=[user("Think it over [[tokens:3]]")], **extra)


@pytest.mark.parametrize(
    ("model", "extra", "message"),
    [
        (OPUS_47, {"thinking": {"type": "enabled", "budget_tokens": 2048}}, "'enabled' is not supported"),
        (FABLE_51, {"thinking": {"type": "disabled"}}, "'disabled' is not supported"),
        (HAIKU_45, {"thinking": {"type": "adaptive"}}, "'adaptive' is not supported"),
        (HAIKU_45, {"thinking": {"type": "enabled", "budget_tokens": 100}}, "at least 1024"),
        (OPUS_47, {"output_config": {"effort": "extreme"}}, "effort must be one of"),
        ("amazon.nova-micro-v1:0", {"thinking": {"type": "enabled", "budget_tokens": 2048}}, "extraneous key"),
    ],
)
def test_thinking_a_model_rejects_is_a_validation_error(
    bedrock: BedrockRuntimeClient, model: str, extra: dict[str, Any], message: str
) -> None:
    """Sending a model a thinking type it does not take fails as Bedrock fails: 400 ValidationException."""
    with pytest.raises(ClientError, match=message) as caught:
        converse(bedrock, model, additionalModelRequestFields=extra, inferenceConfig={"maxTokens": 4096})
    assert caught.value.response["Error"]["Code"] == "ValidationException"


@pytest.mark.parametrize(
    ("model", "config", "message"),
    [
        (FABLE_5, {"temperature": 0.5}, "temperature may only be 1"),
        (FABLE_5, {"topP": 0.9}, "top_p must be at least 0.99"),
        (FABLE_51, {"temperature": 1.0, "topP": 1.0}, "cannot both be specified"),
    ],
)
def test_fable_sampling_limits(bedrock: BedrockRuntimeClient, model: str, config: Any, message: str) -> None:
    """Fable 5 takes temperature only at 1 and top_p only from 0.99; Fable 5.1 not both."""
    with pytest.raises(ClientError, match=message):
        converse(bedrock, model, inferenceConfig=config)


def test_forced_tool_use_is_refused_where_the_model_refuses_it(bedrock: BedrockRuntimeClient) -> None:
    """Fable 5.1 answers toolChoice any with 400; auto works."""
    with pytest.raises(ClientError, match="Forced tool use"):
        converse(bedrock, FABLE_51, toolConfig={**TOOLS, "toolChoice": {"any": {}}})
    assert converse(bedrock, FABLE_51, toolConfig={**TOOLS, "toolChoice": {"auto": {}}})["stopReason"] == "tool_use"


def test_adaptive_thinking_with_summarized_display_returns_reasoning_text(bedrock: BedrockRuntimeClient) -> None:
    """Opus 4.7 hides thinking unless asked for display summarized; its tokens count as output."""
    fields = {"thinking": {"type": "adaptive", "display": "summarized"}, "output_config": {"effort": "low"}}
    answer = converse(bedrock, OPUS_47, additionalModelRequestFields=fields)
    reasoning = answer["output"]["message"]["content"][0]["reasoningContent"]["reasoningText"]
    assert reasoning["text"].startswith("Thinking:")
    assert len(reasoning["text"].split()) == 4
    assert reasoning["signature"]
    assert answer["usage"]["outputTokens"] == 4 + 3
    hidden = converse(bedrock, OPUS_47, additionalModelRequestFields={"thinking": {"type": "adaptive"}})
    assert hidden["output"]["message"]["content"][0]["reasoningContent"]["reasoningText"]["text"] == ""


def test_streamed_reasoning_joins_to_the_unary_reasoning(bedrock: BedrockRuntimeClient) -> None:
    """Reasoning deltas, then the signature, then the text block."""
    fields = {"thinking": {"type": "enabled", "budget_tokens": 1024}}
    unary = converse(bedrock, HAIKU_45, additionalModelRequestFields=fields, inferenceConfig={"maxTokens": 2048})
    stream = bedrock.converse_stream(
        modelId=HAIKU_45,
        messages=[user("Think it over [[tokens:3]]")],
        additionalModelRequestFields=fields,
        inferenceConfig={"maxTokens": 2048},
    )
    deltas = [event["contentBlockDelta"]["delta"] for event in stream["stream"] if "contentBlockDelta" in event]
    reasoning = "".join(delta.get("reasoningContent", {}).get("text", "") for delta in deltas)
    expected = unary["output"]["message"]["content"][0]["reasoningContent"]["reasoningText"]
    assert reasoning == expected["text"]
    assert [d["reasoningContent"]["signature"] for d in deltas if "signature" in d.get("reasoningContent", {})] == [
        expected["signature"]
    ]


def test_refusal_marker_answers_with_stop_reason_refusal(bedrock: BedrockRuntimeClient) -> None:
    """`[[refuse]]`: HTTP 200, a refusal text, stop reason refusal, tokens billed."""
    answer = bedrock.converse(modelId=FABLE_51, messages=[user("Do the bad thing [[refuse]]")])
    assert str(answer["stopReason"]) == "refusal"
    assert answer["output"]["message"]["content"][-1]["text"] == "I can't help with that request."
    assert answer["usage"]["outputTokens"] > 0
