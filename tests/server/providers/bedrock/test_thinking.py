"""What each model is sent for reasoning_effort, sampling, tool choice and the answer limit."""

from __future__ import annotations

from typing import Any

import pytest

from llmgw.server.core.catalog import Catalog
from llmgw.server.providers.bedrock.converse import to_converse_request
from llmgw.server.providers.bedrock.thinking import ThinkingSettings
from llmgw.v1 import chat_pb2
from llmgw.wire.errors import InvalidArgument

CATALOG = Catalog.load()
OPUS_47 = "global.anthropic.claude-opus-4-7"
OPUS_46 = "global.anthropic.claude-opus-4-6-v1"
HAIKU_45 = "global.anthropic.claude-haiku-4-5-20251001-v1:0"
FABLE_5 = "global.anthropic.claude-fable-5"
FABLE_51 = "global.anthropic.claude-fable-5-1"
SETTINGS = ThinkingSettings(
    default_max_tokens=8192, budgets={"low": 1024, "medium": 4096, "high": 16384, "xhigh": 32768}
)
TOOL = chat_pb2.Tool(type="function", function=chat_pb2.FunctionDefinition(name="get_weather"))


def request(model: str, **fields: Any) -> dict[str, Any]:
    """The Converse request for one user message with these OpenAI fields."""
    message = chat_pb2.ChatMessage(role=chat_pb2.ROLE_USER, content=[chat_pb2.ContentPart(text="hi")])
    params = chat_pb2.ChatCompletionParams(model=model, messages=[message], **fields)
    return to_converse_request(params, CATALOG.get(model), SETTINGS)


@pytest.mark.parametrize(
    ("model", "effort", "fields"),
    [
        (
            OPUS_47,
            "low",
            {"thinking": {"type": "adaptive", "display": "summarized"}, "output_config": {"effort": "low"}},
        ),
        (
            OPUS_47,
            "minimal",
            {"thinking": {"type": "adaptive", "display": "summarized"}, "output_config": {"effort": "low"}},
        ),
        (
            OPUS_47,
            "xhigh",
            {"thinking": {"type": "adaptive", "display": "summarized"}, "output_config": {"effort": "high"}},
        ),
        (OPUS_47, "none", {"thinking": {"type": "disabled"}}),
        (OPUS_46, "medium", {"thinking": {"type": "adaptive"}, "output_config": {"effort": "medium"}}),
        (HAIKU_45, "medium", {"thinking": {"type": "enabled", "budget_tokens": 4096}}),
        (HAIKU_45, "none", {"thinking": {"type": "disabled"}}),
        (
            FABLE_51,
            "xhigh",
            {"thinking": {"type": "adaptive", "display": "summarized"}, "output_config": {"effort": "xhigh"}},
        ),
        (
            FABLE_51,
            "none",
            {"thinking": {"type": "adaptive", "display": "summarized"}, "output_config": {"effort": "low"}},
        ),
        (FABLE_51, None, {"thinking": {"type": "adaptive", "display": "summarized"}}),
        (OPUS_47, None, None),
        ("global.anthropic.claude-sonnet-5", "none", None),
    ],
)
def test_reasoning_effort_fits_the_model(model: str, effort: str | None, fields: dict[str, Any] | None) -> None:
    """Adaptive + effort where the model has it, a budget where it has only that, never a type it rejects."""
    sent = request(model, reasoning_effort=effort) if effort else request(model)
    assert sent.get("additionalModelRequestFields") == fields


def test_budget_thinking_raises_the_default_limit_by_the_budget() -> None:
    """With no caller limit the answer keeps DEFAULT_MAX_TOKENS on top of the budget."""
    assert request(HAIKU_45, reasoning_effort="high")["inferenceConfig"]["maxTokens"] == 8192 + 16384


def test_caller_limit_below_the_smallest_budget_is_refused() -> None:
    """budget_tokens must stay below max_tokens and at 1,024 or more."""
    with pytest.raises(InvalidArgument, match="above 1024"):
        request(HAIKU_45, reasoning_effort="low", max_completion_tokens=1000)
    assert request(HAIKU_45, reasoning_effort="high", max_tokens=3000)["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 2999}
    }


def test_reasoning_effort_is_refused_for_a_model_that_does_not_reason() -> None:
    """Nova Micro: 400 naming the model and the field; `none` is a harmless no-op."""
    with pytest.raises(InvalidArgument, match=r"amazon\.nova-micro-v1:0' does not reason"):
        request("amazon.nova-micro-v1:0", reasoning_effort="high")
    assert "additionalModelRequestFields" not in request("amazon.nova-micro-v1:0", reasoning_effort="none")


def test_unknown_reasoning_effort_is_refused() -> None:
    """Only OpenAI's values."""
    with pytest.raises(InvalidArgument, match="reasoning_effort must be one of"):
        request(OPUS_47, reasoning_effort="extreme")


def test_default_max_tokens_and_the_catalog_override() -> None:
    """No caller limit: DEFAULT_MAX_TOKENS, a model's catalog override, never above the model's maximum."""
    assert request(OPUS_47)["inferenceConfig"]["maxTokens"] == 8192
    assert request(FABLE_5)["inferenceConfig"]["maxTokens"] == 16384
    assert request("anthropic.claude-3-haiku-20240307-v1:0")["inferenceConfig"]["maxTokens"] == 4096
    assert request(OPUS_47, max_tokens=100_000)["inferenceConfig"]["maxTokens"] == 100_000


@pytest.mark.parametrize(
    ("model", "fields", "sent"),
    [
        (FABLE_5, {"temperature": 0.3, "top_p": 0.5}, {}),
        (FABLE_5, {"temperature": 1.0, "top_p": 0.995}, {"temperature": 1.0}),
        (FABLE_5, {"top_p": 0.995}, {"topP": 0.995}),
        (FABLE_51, {"temperature": 0.3, "top_p": 0.5}, {}),
        (OPUS_47, {"temperature": 0.3, "top_p": 0.5}, {"temperature": 0.3, "topP": 0.5}),
        (OPUS_47, {"temperature": 0.3, "reasoning_effort": "low"}, {}),
        ("amazon.nova-micro-v1:0", {"temperature": 0.3, "top_p": 0.5}, {"temperature": 0.3, "topP": 0.5}),
    ],
)
def test_sampling_rules(model: str, fields: dict[str, Any], sent: dict[str, float]) -> None:
    """Fable's limits and the thinking rule drop what the model would reject; others pass as given."""
    config = request(model, **fields)["inferenceConfig"]
    assert {key: value for key, value in config.items() if key in ("temperature", "topP")} == pytest.approx(sent)


def test_forced_tool_use_goes_as_auto_where_it_is_refused() -> None:
    """Fable 5.1 refuses forced tool use: `required` is sent as auto; Opus 4.7 without thinking keeps it."""
    required = chat_pb2.ToolChoice(mode=chat_pb2.TOOL_CHOICE_MODE_REQUIRED)
    assert request(FABLE_51, tools=[TOOL], tool_choice=required)["toolConfig"]["toolChoice"] == {"auto": {}}
    assert request(OPUS_47, tools=[TOOL], tool_choice=required)["toolConfig"]["toolChoice"] == {"any": {}}
    thinking = request(OPUS_47, tools=[TOOL], tool_choice=required, reasoning_effort="high")
    assert thinking["toolConfig"]["toolChoice"] == {"auto": {}}
