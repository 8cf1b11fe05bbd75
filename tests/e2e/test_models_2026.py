"""The late-2026 models through the official OpenAI SDK, `llmgw serve` and `llmgw fake-bedrock`.

Thinking that fits each model (the fake rejects what the model would), reasoning_content back,
Fable's request hygiene, refusals, lifecycle marks in /v1/models, and DEFAULT_MAX_TOKENS bounding
the quota reservation so many requests fit under one quota at once.
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any, cast

import openai
import pytest
from openai.types.chat import ChatCompletionChunk, ChatCompletionFunctionToolParam

from tests.e2e.conftest import LLMGW, ServedGateway, free_port, gateway_env, stop, wait_for_http

OPUS_47 = "global.anthropic.claude-opus-4-7"
HAIKU_45 = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
FABLE_51 = "global.anthropic.claude-fable-5-1"
OPUS_41 = "us.anthropic.claude-opus-4-1-20250805-v1:0"
HAIKU_35 = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
WEATHER: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
QUOTA_USD = "5"


@pytest.fixture(scope="module")
def quota_gateway(fake_bedrock_process: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedGateway]:
    """`llmgw serve` whose users each have a $5 weekly quota and the default DEFAULT_MAX_TOKENS."""
    http_port, grpc_port = free_port(), free_port()
    env = gateway_env(
        tmp_path_factory.mktemp("served-2026"),
        benchmark_mode="true",
        bedrock_endpoint_url=fake_bedrock_process,
        bedrock_max_attempts="1",
        http_listen=f"127.0.0.1:{http_port}",
        grpc_listen=f"127.0.0.1:{grpc_port}",
        default_quota_dollars=QUOTA_USD,
        default_quota_frequency="weekly",
        shutdown_grace_seconds="2",
    )
    process = subprocess.Popen([*LLMGW, "serve"], env=env)  # noqa: S603 - our own command
    served = ServedGateway(env, f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}", process)
    try:
        wait_for_http(f"{served.http_url}/healthz", process)
        yield served
    finally:
        assert stop(process) == 0


def extra(value: Any) -> dict[str, Any]:
    """The fields the SDK's models do not declare (the gateway's extensions)."""
    return cast("dict[str, Any]", value.model_extra or {})


def client(gateway: ServedGateway, user: str) -> openai.OpenAI:
    """A sync OpenAI client with a fresh key for `user`, no retries; the caller closes it."""
    key = gateway.create_key(user, "sdk")
    return openai.OpenAI(base_url=f"{gateway.http_url}/v1", api_key=key, max_retries=0, timeout=30)


@pytest.fixture(scope="module")
def sdk(quota_gateway: ServedGateway) -> Iterator[openai.OpenAI]:
    """A client for a user who only makes small requests."""
    with client(quota_gateway, "carol") as sdk:
        yield sdk


def test_reasoning_effort_becomes_adaptive_thinking_with_reasoning_content(sdk: openai.OpenAI) -> None:
    """Opus 4.7 rejects thinking.type enabled; reasoning_effort reaches it as adaptive thinking, shown summarised."""
    answer = sdk.chat.completions.create(
        model=OPUS_47, messages=[{"role": "user", "content": "Think [[tokens:3]]"}], reasoning_effort="low"
    )
    reasoning = cast("str", extra(answer.choices[0].message)["reasoning_content"])
    assert reasoning.split()[0] == "Thinking:"
    assert len(reasoning.split()) == 4  # the fake's effort low
    assert len((answer.choices[0].message.content or "").split()) == 3
    assert answer.usage is not None
    assert answer.usage.completion_tokens == 4 + 3


def test_streamed_reasoning_content_joins_to_the_unary_one(sdk: openai.OpenAI) -> None:
    """reasoning_content arrives in stream deltas before the answer text."""
    messages: Any = [{"role": "user", "content": "Think about this [[tokens:3]]"}]
    unary = sdk.chat.completions.create(model=OPUS_47, messages=messages, reasoning_effort="high")
    chunks = list(sdk.chat.completions.create(model=OPUS_47, messages=messages, reasoning_effort="high", stream=True))
    deltas = [chunk.choices[0].delta for chunk in chunks if chunk.choices]
    reasoning = "".join(cast("str", (delta.model_extra or {}).get("reasoning_content") or "") for delta in deltas)
    assert reasoning == extra(unary.choices[0].message)["reasoning_content"]
    assert "".join(delta.content or "" for delta in deltas) == unary.choices[0].message.content


def test_budget_models_get_a_budget_and_none_turns_thinking_off(sdk: openai.OpenAI) -> None:
    """Haiku 4.5 has no adaptive thinking: reasoning_effort becomes a budget; `none` becomes disabled."""
    thought = sdk.chat.completions.create(
        model=HAIKU_45, messages=[{"role": "user", "content": "Think [[tokens:2]]"}], reasoning_effort="medium"
    )
    assert extra(thought.choices[0].message)["reasoning_content"].startswith("Thinking:")
    plain = sdk.chat.completions.create(
        model=HAIKU_45, messages=[{"role": "user", "content": "Think [[tokens:2]]"}], reasoning_effort="none"
    )
    assert "reasoning_content" not in (plain.choices[0].message.model_extra or {})


def test_reasoning_effort_on_a_model_that_does_not_reason_is_a_400(sdk: openai.OpenAI) -> None:
    """Nova Micro does not reason: the gateway says so instead of letting Bedrock fail."""
    with pytest.raises(openai.BadRequestError, match="does not reason"):
        sdk.chat.completions.create(
            model="amazon.nova-micro-v1:0", messages=[{"role": "user", "content": "hi"}], reasoning_effort="low"
        )


def test_tools_and_images_on_a_2026_model(sdk: openai.OpenAI) -> None:
    """Opus 4.7: a tool call, then an image in the next turn."""
    called = sdk.chat.completions.create(
        model=OPUS_47, messages=[{"role": "user", "content": "Weather in Paris?"}], tools=[WEATHER]
    )
    assert called.choices[0].finish_reason == "tool_calls"
    assert called.choices[0].message.tool_calls is not None
    image = "data:image/png;base64," + base64.b64encode(PNG_1PX).decode()
    seen = sdk.chat.completions.create(
        model=OPUS_47,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": image}},
                ],
            }
        ],
    )
    assert f"image/png of {len(PNG_1PX)} bytes" in (seen.choices[0].message.content or "")


def test_fable_hygiene_drops_what_fable_rejects(sdk: openai.OpenAI) -> None:
    """Fable 5.1 always thinks, refuses forced tool use and two sampling parameters: all still answer."""
    answer = sdk.chat.completions.create(
        model=FABLE_51,
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
        tools=[WEATHER],
        tool_choice="required",
        temperature=0.2,
        top_p=0.5,
    )
    assert answer.choices[0].finish_reason == "tool_calls"
    assert extra(answer.choices[0].message)["reasoning_content"].startswith("Thinking:")


def test_refusal_is_content_filter_with_its_text_and_is_charged(sdk: openai.OpenAI) -> None:
    """stop_reason refusal: finish_reason content_filter, the refusal text as content, usage and cost."""
    answer = sdk.chat.completions.create(model=FABLE_51, messages=[{"role": "user", "content": "Bad idea [[refuse]]"}])
    assert answer.choices[0].finish_reason == "content_filter"
    assert answer.choices[0].message.content == "I can't help with that request."
    assert answer.usage is not None
    assert answer.usage.completion_tokens > 0
    assert float(answer.usage.model_dump()["cost_usd"]) > 0


def test_models_flags_legacy_and_leaves_out_retired_models(sdk: openai.OpenAI) -> None:
    """/v1/models marks Opus 4.1 legacy, shows lifecycle and limits, and no longer lists Claude 3.5 Haiku."""
    models = {model.id: model for model in sdk.models.list()}
    assert extra(models[OPUS_41])["legacy"] is True
    assert extra(models[OPUS_47])["legacy"] is False
    assert extra(models[OPUS_47])["context_window"] == 1_000_000
    assert extra(models[OPUS_47])["capabilities"]["reasoning"] is True
    assert extra(models["global.anthropic.claude-opus-5-5"])["access"] == "gated"
    assert extra(models[FABLE_51])["cache_read_usd_per_million_tokens"] == "0.25"
    assert HAIKU_35 not in models


def test_past_end_of_life_model_is_refused_naming_its_successor(sdk: openai.OpenAI) -> None:
    """Claude 3.5 Haiku: 404 whose message names Claude Haiku 4.5."""
    with pytest.raises(openai.NotFoundError, match=r"end of life.*us\.anthropic\.claude-haiku-4-5-20251001-v1:0"):
        sdk.chat.completions.create(model=HAIKU_35, messages=[{"role": "user", "content": "hi"}])


def open_stream(sdk: openai.OpenAI, stack: ExitStack, limit: int | None = None) -> ChatCompletionChunk:
    """Start a stream that stays open (the fake waits a minute before its second token); its first chunk."""
    stream = sdk.chat.completions.create(
        model=OPUS_47,
        messages=[{"role": "user", "content": "Go on [[tokens:5]] [[token_delay_ms:60000]]"}],
        stream=True,
        max_completion_tokens=limit,
    )
    stack.callback(stream.close)
    return next(iter(stream))


def test_default_max_tokens_lets_ten_requests_share_a_quota(quota_gateway: ServedGateway) -> None:
    """With DEFAULT_MAX_TOKENS (8,192) each open request reserves ~$0.22 of a $5 quota, so ten fit at once.

    A request is admitted while spend plus reservations is below the limit. Bounded by Opus
    4.7's full 128K output, each reserves ~$3.21: the third is refused while two are open.
    """
    with client(quota_gateway, "dora") as dora, ExitStack() as streams:
        firsts = [open_stream(dora, streams) for _ in range(10)]
        assert all(first.choices[0].delta.role == "assistant" for first in firsts)
    with client(quota_gateway, "erin") as erin, ExitStack() as streams:
        open_stream(erin, streams, 128_000)
        open_stream(erin, streams, 128_000)
        with pytest.raises(openai.RateLimitError, match="Quota exceeded"):
            open_stream(erin, streams, 128_000)
