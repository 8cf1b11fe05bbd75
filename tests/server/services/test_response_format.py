"""response_format json_object / json_schema through the OpenAI SDK: a JSON answer as the message content."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pydantic
import pytest
from openai.types.chat import ChatCompletionFunctionToolParam, ChatCompletionMessage
from openai.types.shared_params import ResponseFormatJSONSchema

from tests.bridge.conftest import LoopThread, running_bridge
from tests.model_ids import HAIKU
from tests.server.services.conftest import Gov

SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["city", "population"],
}


@pytest.fixture
def sdk(gov: Gov) -> Iterator[openai.OpenAI]:
    """The OpenAI SDK on the bridge in front of this test's gateway, as alice."""
    loop = LoopThread()
    try:
        with (
            running_bridge(loop, gov.gateway.grpc_target) as url,
            openai.OpenAI(base_url=f"{url}/v1", api_key=gov.alice, max_retries=0) as client,
        ):
            yield client
    finally:
        loop.close()


def test_json_schema_answer_is_the_content(sdk: openai.OpenAI) -> None:
    """json_schema: the content parses as JSON with the schema's required fields; finish_reason stop, no tool calls."""
    reply = sdk.chat.completions.create(
        model=HAIKU,
        messages=[{"role": "user", "content": "The largest city in France?"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "city_facts", "schema": SCHEMA, "strict": True},
        },
    )
    choice = reply.choices[0]
    answer = json.loads(choice.message.content or "")
    assert set(answer) >= {"city", "population"}
    assert isinstance(answer["population"], int)
    assert choice.finish_reason == "stop"
    assert not choice.message.tool_calls


def test_json_object_answer_is_an_object(sdk: openai.OpenAI) -> None:
    """json_object: the content is one JSON object."""
    reply = sdk.chat.completions.create(
        model=HAIKU, messages=[{"role": "user", "content": "Answer in JSON"}], response_format={"type": "json_object"}
    )
    assert isinstance(json.loads(reply.choices[0].message.content or ""), dict)


WEATHER_TOOL: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
CITY_FORMAT: ResponseFormatJSONSchema = {"type": "json_schema", "json_schema": {"name": "city_facts", "schema": SCHEMA}}


class CityFacts(pydantic.BaseModel):
    """The answer format the SDK's parse helpers derive a strict schema from."""

    city: str
    population: int


def test_streamed_json_answer_is_content(sdk: openai.OpenAI) -> None:
    """stream: the answer tool's input arrives as content deltas; the joined content is the JSON; finish stop."""
    stream = sdk.chat.completions.create(
        model=HAIKU,
        messages=[{"role": "user", "content": "The largest city in France?"}],
        response_format=CITY_FORMAT,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert set(json.loads(content)) >= {"city", "population"}
    assert not any(c.choices[0].delta.tool_calls for c in chunks if c.choices)
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    usage = chunks[-1].usage
    assert usage is not None
    assert usage.completion_tokens > 0


def _weather_turns(
    sdk: openai.OpenAI, *, stream: bool
) -> tuple[ChatCompletionMessage, str, ChatCompletionMessage, str]:
    """Two turns with the caller's tool and a JSON format: the tool call, then (given its result) the answer."""
    messages: list[Any] = [{"role": "user", "content": "Weather facts for Paris, please."}]

    def ask() -> tuple[ChatCompletionMessage, str]:
        if not stream:
            reply = sdk.chat.completions.create(
                model=HAIKU,
                messages=messages,
                tools=[WEATHER_TOOL],
                response_format=CITY_FORMAT,
            )
            return reply.choices[0].message, reply.choices[0].finish_reason
        with sdk.chat.completions.stream(
            model=HAIKU,
            messages=messages,
            tools=[WEATHER_TOOL],
            response_format=CITY_FORMAT,
        ) as events:
            final = events.get_final_completion()
        return final.choices[0].message, final.choices[0].finish_reason

    call, call_finish = ask()
    assert call.tool_calls
    messages += [
        call.model_dump(exclude_none=True, exclude={"parsed"}),
        {"role": "tool", "tool_call_id": call.tool_calls[0].id, "content": "sunny, 21 C"},
    ]
    answer, answer_finish = ask()
    return call, call_finish, answer, answer_finish


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
def test_with_the_callers_tools_the_model_calls_them_or_answers_in_the_format(sdk: openai.OpenAI, stream: bool) -> None:
    """Caller tools and a JSON format: a call to the caller's tool is a tool call; the answer is JSON content."""
    call, call_finish, answer, answer_finish = _weather_turns(sdk, stream=stream)
    assert call_finish == "tool_calls"
    assert [c.function.name for c in call.tool_calls or [] if c.type == "function"] == ["get_weather"]
    assert answer_finish == "stop"
    assert not answer.tool_calls
    assert set(json.loads(answer.content or "")) >= {"city", "population"}


def test_tool_choice_none_keeps_the_format(sdk: openai.OpenAI) -> None:
    """tools with tool_choice none: the caller's tools are not offered, the answer is in the format."""
    reply = sdk.chat.completions.create(
        model=HAIKU,
        messages=[{"role": "user", "content": "Paris?"}],
        tools=[WEATHER_TOOL],
        tool_choice="none",
        response_format=CITY_FORMAT,
    )
    assert set(json.loads(reply.choices[0].message.content or "")) >= {"city", "population"}
    assert reply.choices[0].finish_reason == "stop"


def test_sdk_parse_fills_the_pydantic_model(sdk: openai.OpenAI) -> None:
    """client.beta.chat.completions.parse with a pydantic model: `parsed` is an instance of it."""
    reply = sdk.beta.chat.completions.parse(
        model=HAIKU, messages=[{"role": "user", "content": "The largest city in France?"}], response_format=CityFacts
    )
    parsed = reply.choices[0].message.parsed
    assert isinstance(parsed, CityFacts)
    assert isinstance(parsed.population, int)


def test_sdk_stream_helper_fills_the_pydantic_model(sdk: openai.OpenAI) -> None:
    """client.chat.completions.stream with a pydantic model: content deltas, then a parsed final message."""
    with sdk.chat.completions.stream(
        model=HAIKU, messages=[{"role": "user", "content": "The largest city in France?"}], response_format=CityFacts
    ) as events:
        deltas = [event.delta for event in events if event.type == "content.delta"]
        final = events.get_final_completion()
    assert deltas
    assert isinstance(final.choices[0].message.parsed, CityFacts)


def test_answer_tool_named_like_a_callers_tool_is_400(sdk: openai.OpenAI) -> None:
    """A json_schema named like one of the caller's tools is refused by name: the two could not be told apart."""
    clash: ResponseFormatJSONSchema = {"type": "json_schema", "json_schema": {"name": "get_weather", "schema": SCHEMA}}
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.chat.completions.create(
            model=HAIKU,
            messages=[{"role": "user", "content": "hi"}],
            tools=[WEATHER_TOOL],
            response_format=clash,
        )
    assert "get_weather" in str(refused.value)
    assert refused.value.param == "response_format"
