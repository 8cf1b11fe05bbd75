"""The official OpenAI SDK (sync and async) against `llmgw serve` and `llmgw fake-bedrock`."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from typing import cast

import openai
import pytest
from openai.types.chat import (
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionUserMessageParam,
)

from tests.e2e.conftest import ServedGateway
from tests.model_ids import HAIKU, NOVA_MICRO

PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def function_tool(name: str) -> ChatCompletionFunctionToolParam:
    """A function tool taking a city."""
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": "Weather of a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }


WEATHER_TOOL = function_tool("get_weather")


@pytest.fixture(scope="module")
def key(served_gateway: ServedGateway) -> str:
    """A key made by `llmgw keys create`."""
    return served_gateway.create_key("alice", "sdk-tests")


@pytest.fixture(scope="module")
def sdk(served_gateway: ServedGateway, key: str) -> Iterator[openai.OpenAI]:
    """A sync client, no retries."""
    with openai.OpenAI(base_url=f"{served_gateway.http_url}/v1", api_key=key, max_retries=0, timeout=30) as client:
        yield client


def async_client(served_gateway: ServedGateway, key: str) -> openai.AsyncOpenAI:
    """An async client, no retries; the caller closes it."""
    return openai.AsyncOpenAI(base_url=f"{served_gateway.http_url}/v1", api_key=key, max_retries=0, timeout=60)


def test_stream_concatenates_to_the_unary_answer_with_usage(sdk: openai.OpenAI) -> None:
    """Deltas join to the unary answer; include_usage adds a final chunk with the same usage and cost."""
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Tell me something"},
    ]
    unary = sdk.chat.completions.create(model=HAIKU, messages=messages)
    chunks = list(
        sdk.chat.completions.create(model=HAIKU, messages=messages, stream=True, stream_options={"include_usage": True})
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == unary.choices[0].message.content
    assert unary.object == "chat.completion"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert unary.usage is not None
    assert chunks[-1].usage.total_tokens == unary.usage.total_tokens
    assert chunks[-1].usage.model_dump()["cost_usd"] == unary.usage.model_dump()["cost_usd"]
    without_usage = list(sdk.chat.completions.create(model=HAIKU, messages=messages, stream=True))
    assert all(c.usage is None for c in without_usage)


def test_tools_round_trip_unary_and_streamed(sdk: openai.OpenAI) -> None:
    """A tool call comes back (whole, and as streamed fragments), and the tool's result reaches the model."""
    question: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "Weather in Paris?"}]
    first = sdk.chat.completions.create(model=HAIKU, messages=question, tools=[WEATHER_TOOL], tool_choice="auto")
    assert first.choices[0].finish_reason == "tool_calls"
    [call] = first.choices[0].message.tool_calls or []
    assert isinstance(call, ChatCompletionMessageFunctionToolCall)
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "sample"}

    streamed = list(sdk.chat.completions.create(model=HAIKU, messages=question, tools=[WEATHER_TOOL], stream=True))
    fragments = [tc for c in streamed if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert fragments[0].id == call.id
    assert json.loads("".join(f.function.arguments or "" for f in fragments if f.function)) == {"city": "sample"}
    assert streamed[-1].choices[0].finish_reason == "tool_calls"

    answer = sdk.chat.completions.create(
        model=HAIKU,
        tools=[WEATHER_TOOL],
        messages=[
            *question,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.function.name, "arguments": call.function.arguments},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 degrees"},
        ],
    )
    assert "sunny, 21 degrees" in (answer.choices[0].message.content or "")


def test_forced_tool_choice(sdk: openai.OpenAI) -> None:
    """tool_choice naming a function makes the model call it."""
    reply = sdk.chat.completions.create(
        model=HAIKU,
        messages=[{"role": "user", "content": "Weather?"}],
        tools=[WEATHER_TOOL, function_tool("get_time")],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    calls = reply.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls if isinstance(c, ChatCompletionMessageFunctionToolCall)] == ["get_time"]


def test_image_part(sdk: openai.OpenAI) -> None:
    """An image data URL reaches Bedrock intact."""
    url = "data:image/png;base64," + base64.b64encode(PNG_1PX).decode()
    reply = sdk.chat.completions.create(
        model=HAIKU,
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": "What is it?"}, {"type": "image_url", "image_url": {"url": url}}],
            }
        ],
    )
    assert f"image/png of {len(PNG_1PX)} bytes" in (reply.choices[0].message.content or "")


def test_stop_and_max_completion_tokens(sdk: openai.OpenAI) -> None:
    """A stop string cuts the answer; max_completion_tokens ends it with finish_reason `length`."""
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "Count"}]
    words = (sdk.chat.completions.create(model=HAIKU, messages=messages).choices[0].message.content or "").split()
    stopped = sdk.chat.completions.create(model=HAIKU, messages=messages, stop=words[2])
    assert (stopped.choices[0].message.content or "").split() == words[:2]
    limited = sdk.chat.completions.create(model=HAIKU, messages=messages, max_completion_tokens=3)
    assert limited.choices[0].finish_reason == "length"
    assert limited.usage is not None
    assert limited.usage.completion_tokens == 3


def test_models_list_and_retrieve(sdk: openai.OpenAI) -> None:
    """GET /v1/models and /v1/models/{model} with ':' in the id."""
    ids = [m.id for m in sdk.models.list()]
    assert HAIKU in ids
    assert "us.anthropic.claude-3-haiku-20240307-v1:0" in ids
    model = sdk.models.retrieve("us.anthropic.claude-3-haiku-20240307-v1:0")
    assert (model.id, model.object, model.owned_by) == (
        "us.anthropic.claude-3-haiku-20240307-v1:0",
        "model",
        "anthropic",
    )


def test_embeddings_float_and_base64(sdk: openai.OpenAI) -> None:
    """Embeddings as floats, and as base64 (the SDK's default) decoding to the same vectors."""
    floats = sdk.embeddings.create(model="amazon.titan-embed-text-v2:0", input=["one", "two"], encoding_format="float")
    decoded = sdk.embeddings.create(model="amazon.titan-embed-text-v2:0", input=["one", "two"])
    assert [d.index for d in floats.data] == [0, 1]
    assert len(floats.data[0].embedding) == 1024
    assert decoded.data[1].embedding == pytest.approx(floats.data[1].embedding, rel=1e-6)
    cohere = sdk.embeddings.create(model="cohere.embed-english-v3", input="single text", encoding_format="float")
    assert len(cohere.data) == 1
    assert cohere.usage.prompt_tokens > 0


@pytest.mark.parametrize(
    ("model", "content", "error"),
    [
        ("no.such-model-v1:0", "hi", openai.NotFoundError),
        (
            NOVA_MICRO,
            [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}],
            openai.BadRequestError,
        ),
        (HAIKU, "[[fault:throttle]]", openai.InternalServerError),
        (HAIKU, "[[fault:timeout]]", openai.InternalServerError),
        (HAIKU, "[[fault:validation]]", openai.BadRequestError),
    ],
)
def test_error_classes(sdk: openai.OpenAI, model: str, content: object, error: type[openai.APIStatusError]) -> None:
    """Each gateway refusal reaches the SDK as the class DESIGN.md's error table names."""
    with pytest.raises(error) as caught:
        sdk.chat.completions.create(
            model=model, messages=[cast(ChatCompletionUserMessageParam, {"role": "user", "content": content})]
        )
    body = caught.value.body
    assert isinstance(body, dict)
    assert {"message", "type", "code"} <= set(body)


def test_status_codes_of_upstream_failures(sdk: openai.OpenAI) -> None:
    """Throttling after retries is 503; a Bedrock timeout is 504."""
    for marker, status in (("[[fault:throttle]]", 503), ("[[fault:timeout]]", 504)):
        with pytest.raises(openai.APIStatusError) as caught:
            sdk.chat.completions.create(model=HAIKU, messages=[{"role": "user", "content": marker}])
        assert caught.value.status_code == status


def test_bad_key_is_authentication_error(served_gateway: ServedGateway) -> None:
    """A wrong key is AuthenticationError (401) with code invalid_api_key."""
    with (
        openai.OpenAI(base_url=f"{served_gateway.http_url}/v1", api_key="sk-wrong", max_retries=0) as client,
        pytest.raises(openai.AuthenticationError) as caught,
    ):
        client.models.list()
    assert caught.value.code == "invalid_api_key"


async def test_async_client_and_100_concurrent_streams(served_gateway: ServedGateway, key: str) -> None:
    """The async SDK: a unary call, then 100 streams at once, each complete and terminated by [DONE]."""
    async with async_client(served_gateway, key) as client:
        reply = await client.chat.completions.create(model=HAIKU, messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content

        async def one(index: int) -> str:
            stream = await client.chat.completions.create(
                model=HAIKU,
                messages=[{"role": "user", "content": f"stream {index} [[token_delay_ms:5]] [[tokens:10]]"}],
                stream=True,
            )
            parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
            return "".join(parts)

        texts = await asyncio.gather(*(one(i) for i in range(100)))
    assert all(len(text.split()) == 10 for text in texts)
