"""Table tests of the OpenAI <-> Converse translation (server/providers/bedrock/converse.py)."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import pytest
from google.protobuf import struct_pb2

from llmgw.server.core.catalog import Capabilities, Catalog, CatalogModel
from llmgw.server.providers.bedrock.converse import (
    check_capabilities,
    from_converse_response,
    to_converse_request,
)
from llmgw.v1 import chat_pb2
from llmgw.wire.errors import InvalidArgument, UpstreamError
from tests.model_ids import HAIKU as HAIKU_ID

HAIKU = Catalog.load().get(HAIKU_ID)
PNG = b"\x89PNG\r\n\x1a\nfake-image"
PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()


def model_with(**caps: bool) -> CatalogModel:
    """HAIKU with some capabilities switched off."""
    return dataclasses.replace(HAIKU, capabilities=dataclasses.replace(HAIKU.capabilities, **caps))


def text(value: str) -> chat_pb2.ContentPart:
    return chat_pb2.ContentPart(type=chat_pb2.CONTENT_PART_TYPE_TEXT, text=value)


def image(url: str) -> chat_pb2.ContentPart:
    return chat_pb2.ContentPart(type=chat_pb2.CONTENT_PART_TYPE_IMAGE_URL, image_url=chat_pb2.ImageUrl(url=url))


def msg(role: chat_pb2.Role.ValueType, *parts: chat_pb2.ContentPart, **fields: Any) -> chat_pb2.ChatMessage:
    return chat_pb2.ChatMessage(role=role, content=list(parts), **fields)


def user(value: str) -> chat_pb2.ChatMessage:
    return msg(chat_pb2.ROLE_USER, text(value))


def call(call_id: str, name: str, arguments: str) -> chat_pb2.ToolCall:
    return chat_pb2.ToolCall(
        id=call_id, type="function", function=chat_pb2.FunctionCall(name=name, arguments=arguments)
    )


def tool(name: str, parameters: dict[str, Any] | None = None) -> chat_pb2.Tool:
    function = chat_pb2.FunctionDefinition(name=name, description=f"{name} tool")
    if parameters is not None:
        function.parameters.update(parameters)
    return chat_pb2.Tool(type="function", function=function)


def params(*messages: chat_pb2.ChatMessage, **fields: Any) -> chat_pb2.ChatCompletionParams:
    return chat_pb2.ChatCompletionParams(model=HAIKU.id, messages=list(messages), **fields)


WEATHER = tool("get_weather", {"type": "object", "properties": {"city": {"type": "string"}}, "maxItems": 3})


@pytest.mark.parametrize(
    ("request_params", "expected"),
    [
        pytest.param(
            params(user("Hi")),
            {"modelId": HAIKU.id, "messages": [{"role": "user", "content": [{"text": "Hi"}]}]},
            id="single-user-message",
        ),
        pytest.param(
            params(
                msg(chat_pb2.ROLE_SYSTEM, text("Be brief.")),
                msg(chat_pb2.ROLE_DEVELOPER, text("Answer in French.")),
                user("Hi"),
                user("again"),
            ),
            {
                "modelId": HAIKU.id,
                "system": [{"text": "Be brief."}, {"text": "Answer in French."}],
                "messages": [{"role": "user", "content": [{"text": "Hi"}, {"text": "again"}]}],
            },
            id="system-developer-and-merged-user-turns",
        ),
        pytest.param(
            params(
                user("Weather in Paris and Rome?"),
                msg(
                    chat_pb2.ROLE_ASSISTANT,
                    text("Let me look."),
                    tool_calls=[
                        call("t1", "get_weather", '{"city":"Paris"}'),
                        call("t2", "get_weather", '{"city": "Rome"}'),
                    ],
                ),
                msg(chat_pb2.ROLE_TOOL, text('{"temp": 21}'), tool_call_id="t1"),
                msg(chat_pb2.ROLE_TOOL, text("sunny"), tool_call_id="t2"),
                tools=[WEATHER],
            ),
            {
                "modelId": HAIKU.id,
                "messages": [
                    {"role": "user", "content": [{"text": "Weather in Paris and Rome?"}]},
                    {
                        "role": "assistant",
                        "content": [
                            {"text": "Let me look."},
                            {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Paris"}}},
                            {"toolUse": {"toolUseId": "t2", "name": "get_weather", "input": {"city": "Rome"}}},
                        ],
                    },
                    {
                        "role": "user",
                        "content": [
                            {
                                "toolResult": {
                                    "toolUseId": "t1",
                                    "content": [{"json": {"temp": 21}}],
                                    "status": "success",
                                }
                            },
                            {"toolResult": {"toolUseId": "t2", "content": [{"text": "sunny"}], "status": "success"}},
                        ],
                    },
                ],
                "toolConfig": {
                    "tools": [
                        {
                            "toolSpec": {
                                "name": "get_weather",
                                "description": "get_weather tool",
                                "inputSchema": {
                                    "json": {
                                        "type": "object",
                                        "properties": {"city": {"type": "string"}},
                                        "maxItems": 3,
                                    }
                                },
                            }
                        }
                    ],
                    "toolChoice": {"auto": {}},
                },
            },
            id="tool-calls-and-results",
        ),
        pytest.param(
            params(msg(chat_pb2.ROLE_USER, text("What is this?"), image(PNG_URL))),
            {
                "modelId": HAIKU.id,
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"text": "What is this?"},
                            {"image": {"format": "png", "source": {"bytes": PNG}}},
                        ],
                    }
                ],
            },
            id="data-url-image",
        ),
        pytest.param(
            params(
                user("Hi"),
                max_tokens=50,
                max_completion_tokens=100,
                temperature=0.5,
                top_p=0.9,
                stop=["END", "STOP"],
                n=1,
            ),
            {
                "modelId": HAIKU.id,
                "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
                "inferenceConfig": {
                    "maxTokens": 100,
                    "temperature": 0.5,
                    "topP": 0.9,
                    "stopSequences": ["END", "STOP"],
                },
            },
            id="inference-config-prefers-max-completion-tokens",
        ),
        pytest.param(
            params(user("Hi"), max_tokens=7),
            {
                "modelId": HAIKU.id,
                "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
                "inferenceConfig": {"maxTokens": 7},
            },
            id="legacy-max-tokens",
        ),
    ],
)
def test_to_converse_request(request_params: chat_pb2.ChatCompletionParams, expected: dict[str, Any]) -> None:
    """An OpenAI request becomes exactly the expected Converse kwargs (maxTokens defaults to the catalog's)."""
    default_limit = {"inferenceConfig": {"maxTokens": HAIKU.max_output_tokens}}
    assert to_converse_request(request_params, HAIKU) == default_limit | expected


def test_without_a_limit_the_catalog_maximum_is_sent() -> None:
    """No max_tokens: Bedrock gets the model's catalog maximum, the output bound the ledger reserves."""
    request = to_converse_request(params(user("Hi")), HAIKU)
    assert request["inferenceConfig"] == {"maxTokens": 4096}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        pytest.param(chat_pb2.ToolChoice(mode=chat_pb2.TOOL_CHOICE_MODE_AUTO), {"auto": {}}, id="auto"),
        pytest.param(chat_pb2.ToolChoice(mode=chat_pb2.TOOL_CHOICE_MODE_REQUIRED), {"any": {}}, id="required"),
        pytest.param(
            chat_pb2.ToolChoice(
                mode=chat_pb2.TOOL_CHOICE_MODE_FUNCTION, function=chat_pb2.ToolChoiceFunction(name="get_time")
            ),
            {"tool": {"name": "get_time"}},
            id="function",
        ),
        pytest.param(chat_pb2.ToolChoice(mode=chat_pb2.TOOL_CHOICE_MODE_NONE), None, id="none-omits-tool-config"),
    ],
)
def test_tool_choice(choice: chat_pb2.ToolChoice, expected: dict[str, Any] | None) -> None:
    """Each OpenAI tool_choice maps onto Bedrock's toolChoice, and `none` sends no tools at all."""
    request = to_converse_request(params(user("Hi"), tools=[WEATHER, tool("get_time")], tool_choice=choice), HAIKU)
    if expected is None:
        assert "toolConfig" not in request
    else:
        assert request["toolConfig"]["toolChoice"] == expected
        assert [spec["toolSpec"]["name"] for spec in request["toolConfig"]["tools"]] == ["get_weather", "get_time"]


def test_tool_without_parameters_gets_empty_object_schema() -> None:
    """A function without parameters is sent with an empty object schema, as Bedrock requires one."""
    request = to_converse_request(params(user("Hi"), tools=[tool("ping")]), HAIKU)
    assert request["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"] == {
        "json": {"type": "object", "properties": {}}
    }


TOOL_TURN = msg(chat_pb2.ROLE_ASSISTANT, tool_calls=[call("t1", "get_weather", "{}")])


@pytest.mark.parametrize(
    ("request_params", "field", "words"),
    [
        pytest.param(params(), "messages", "at least one message", id="no-messages"),
        pytest.param(chat_pb2.ChatCompletionParams(messages=[user("Hi")]), "model", "must name a model", id="no-model"),
        pytest.param(params(msg(chat_pb2.ROLE_UNSPECIFIED, text("Hi"))), "messages[0].role", "role", id="no-role"),
        pytest.param(params(msg(chat_pb2.ROLE_USER)), "messages[0].content", "no content", id="empty-user-content"),
        pytest.param(params(msg(chat_pb2.ROLE_USER, text(""))), "messages[0].content", "no content", id="blank-user"),
        pytest.param(
            params(user("Hi"), TOOL_TURN, msg(chat_pb2.ROLE_TOOL, text("ok"))),
            "messages[2].tool_call_id",
            "without tool_call_id",
            id="tool-message-without-id",
        ),
        pytest.param(
            params(
                user("Hi"),
                msg(chat_pb2.ROLE_ASSISTANT, tool_calls=[call("t1", "get_weather", "[1, 2]")]),
                msg(chat_pb2.ROLE_TOOL, text("ok"), tool_call_id="t1"),
            ),
            "messages[1].tool_calls[0].function.arguments",
            "JSON object",
            id="arguments-not-an-object",
        ),
        pytest.param(
            params(
                user("Hi"),
                msg(chat_pb2.ROLE_ASSISTANT, tool_calls=[call("t1", "get_weather", "{not json")]),
                msg(chat_pb2.ROLE_TOOL, text("ok"), tool_call_id="t1"),
            ),
            "messages[1].tool_calls[0].function.arguments",
            "JSON object",
            id="arguments-not-json",
        ),
        pytest.param(params(user("Hi"), n=2), "n", "Only one choice", id="n-2"),
        pytest.param(params(user("Hi"), temperature=2.5), "temperature", "between 0 and 2", id="temperature"),
        pytest.param(params(user("Hi"), temperature=-0.1), "temperature", "between 0 and 2", id="temperature-neg"),
        pytest.param(params(user("Hi"), top_p=1.5), "top_p", "between 0 and 1", id="top-p"),
        pytest.param(params(user("Hi"), max_tokens=0), "max_tokens", "at least 1", id="max-tokens"),
        pytest.param(
            params(user("Hi"), max_completion_tokens=-3), "max_completion_tokens", "at least 1", id="max-completion"
        ),
        pytest.param(params(user("Hi"), stop=["a", "b", "c", "d", "e"]), "stop", "At most 4", id="five-stops"),
        pytest.param(
            params(user("Hi"), msg(chat_pb2.ROLE_ASSISTANT, text("Hello"))),
            "messages",
            "end with a user or tool message",
            id="ends-with-assistant",
        ),
        pytest.param(
            params(msg(chat_pb2.ROLE_ASSISTANT, text("Hello")), user("Hi")),
            "messages",
            "start with a user message",
            id="starts-with-assistant",
        ),
        pytest.param(
            params(msg(chat_pb2.ROLE_SYSTEM, text("Be brief."))),
            "messages",
            "at least one user message",
            id="only-system",
        ),
        pytest.param(
            params(
                user("Hi"),
                tools=[WEATHER],
                tool_choice=chat_pb2.ToolChoice(
                    mode=chat_pb2.TOOL_CHOICE_MODE_FUNCTION, function=chat_pb2.ToolChoiceFunction(name="get_time")
                ),
            ),
            "tool_choice.function.name",
            "'get_time'",
            id="unknown-tool-choice-function",
        ),
        pytest.param(
            params(user("Hi"), tool_choice=chat_pb2.ToolChoice(mode=chat_pb2.TOOL_CHOICE_MODE_REQUIRED)),
            "tool_choice",
            "no tools",
            id="required-without-tools",
        ),
        pytest.param(params(user("Hi"), tools=[tool("bad name!")]), "tools[0].function.name", "64", id="tool-name"),
        pytest.param(params(user("Hi"), tools=[WEATHER, WEATHER]), "tools", "unique", id="duplicate-tools"),
        pytest.param(
            params(msg(chat_pb2.ROLE_USER, text("Look"), image("https://example.com/cat.png"))),
            "messages[0].content[1].image_url.url",
            "does not fetch remote images",
            id="remote-image",
        ),
        pytest.param(
            params(msg(chat_pb2.ROLE_USER, image("data:image/bmp;base64,AAAA"))),
            "messages[0].content[0].image_url.url",
            "png|jpeg|gif|webp",
            id="unsupported-image-format",
        ),
        pytest.param(
            params(msg(chat_pb2.ROLE_USER, image("data:image/png;base64,@@not base64@@"))),
            "messages[0].content[0].image_url.url",
            "valid base64",
            id="undecodable-image",
        ),
        pytest.param(
            params(msg(chat_pb2.ROLE_USER, image("data:image/png;base64,"))),
            "messages[0].content[0].image_url.url",
            "valid base64",
            id="empty-image",
        ),
    ],
)
def test_to_converse_request_rejects(request_params: chat_pb2.ChatCompletionParams, field: str, words: str) -> None:
    """Each malformed request is refused with InvalidArgument naming the field in a readable sentence."""
    with pytest.raises(InvalidArgument) as caught:
        to_converse_request(request_params, HAIKU)
    assert caught.value.field == field
    assert words in caught.value.message
    assert caught.value.message.endswith(".")


@pytest.mark.parametrize(
    ("model", "request_params", "streaming", "field", "words"),
    [
        pytest.param(
            Catalog.load().get("amazon.titan-embed-text-v2:0"),
            params(user("Hi")),
            False,
            "model",
            "embedding model",
            id="embedding-model",
        ),
        pytest.param(
            model_with(vision=False),
            params(user("Hi"), msg(chat_pb2.ROLE_USER, image(PNG_URL))),
            False,
            "messages[1].content[0].image_url",
            "does not accept images",
            id="images-without-vision",
        ),
        pytest.param(
            model_with(tools=False),
            params(user("Hi"), tools=[WEATHER]),
            False,
            "tools",
            "does not support tools",
            id="tools",
        ),
        pytest.param(
            model_with(tools=False),
            params(user("Hi"), TOOL_TURN, msg(chat_pb2.ROLE_TOOL, text("ok"), tool_call_id="t1")),
            False,
            "messages[1].tool_calls",
            "does not support tools",
            id="tool-history-without-tools",
        ),
        pytest.param(
            model_with(streaming_tools=False),
            params(user("Hi"), tools=[WEATHER]),
            True,
            "tools",
            "in streamed responses",
            id="streamed-tools",
        ),
        pytest.param(
            model_with(system=False),
            params(msg(chat_pb2.ROLE_DEVELOPER, text("Be brief.")), user("Hi")),
            False,
            "messages[0].role",
            "system or developer",
            id="system-without-support",
        ),
    ],
)
def test_check_capabilities_rejects(
    model: CatalogModel, request_params: chat_pb2.ChatCompletionParams, streaming: bool, field: str, words: str
) -> None:
    """A feature the model lacks is refused, naming the model and the feature."""
    with pytest.raises(InvalidArgument) as caught:
        check_capabilities(request_params, model, streaming=streaming)
    assert caught.value.field == field
    assert words in caught.value.message
    assert model.id in caught.value.message


@pytest.mark.parametrize(
    ("caps", "request_params", "streaming"),
    [
        pytest.param(Capabilities(True, True, True, True), params(user("Hi"), tools=[WEATHER]), True, id="everything"),
        pytest.param(
            Capabilities(True, False, True, False), params(user("Hi"), tools=[WEATHER]), False, id="unary-tools"
        ),
        pytest.param(
            Capabilities(True, False, False, False),
            params(user("Hi"), tools=[WEATHER], tool_choice=chat_pb2.ToolChoice(mode=chat_pb2.TOOL_CHOICE_MODE_NONE)),
            True,
            id="tool-choice-none-sends-no-tools",
        ),
    ],
)
def test_check_capabilities_accepts(
    caps: Capabilities, request_params: chat_pb2.ChatCompletionParams, streaming: bool
) -> None:
    """Requests within the model's abilities pass the check and still translate."""
    model = dataclasses.replace(HAIKU, capabilities=caps)
    check_capabilities(request_params, model, streaming=streaming)
    assert to_converse_request(request_params, model)["modelId"] == HAIKU.id


def converse_response(content: list[dict[str, Any]], stop_reason: str) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop_reason,
        "usage": {"inputTokens": 12, "outputTokens": 34, "totalTokens": 46},
        "metrics": {"latencyMs": 100},
    }


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", chat_pb2.FINISH_REASON_STOP),
        ("stop_sequence", chat_pb2.FINISH_REASON_STOP),
        ("max_tokens", chat_pb2.FINISH_REASON_LENGTH),
        ("model_context_window_exceeded", chat_pb2.FINISH_REASON_LENGTH),
        ("tool_use", chat_pb2.FINISH_REASON_TOOL_CALLS),
        ("guardrail_intervened", chat_pb2.FINISH_REASON_CONTENT_FILTER),
        ("content_filtered", chat_pb2.FINISH_REASON_CONTENT_FILTER),
        ("malformed_model_output", chat_pb2.FINISH_REASON_STOP),
    ],
)
def test_from_converse_response_finish_reason(stop_reason: str, finish: chat_pb2.FinishReason.ValueType) -> None:
    """Every Bedrock stopReason maps onto OpenAI's finish_reason."""
    result = from_converse_response(converse_response([{"text": "Hi"}], stop_reason))
    assert result.finish_reason == finish


def test_from_converse_response_text_and_tool_calls() -> None:
    """Text blocks are joined, reasoning becomes reasoning_content, toolUse blocks tool calls, usage is read."""
    result = from_converse_response(
        converse_response(
            [
                {"text": "Let me "},
                {"reasoningContent": {"reasoningText": {"text": "hidden"}}},
                {"text": "check."},
                {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris", "days": 2}}},
            ],
            "tool_use",
        )
    )
    assert result.message == chat_pb2.AssistantMessage(
        role=chat_pb2.ROLE_ASSISTANT,
        content="Let me check.",
        tool_calls=[call("tooluse_1", "get_weather", '{"city":"Paris","days":2}')],
        reasoning_content="hidden",
        thinking_blocks=[chat_pb2.ThinkingBlock(type="thinking", thinking="hidden")],
    )
    assert (result.input_tokens, result.output_tokens) == (12, 34)


def test_from_converse_response_without_text_has_no_content() -> None:
    """An answer of tool calls only has no content field, as OpenAI returns null."""
    result = from_converse_response(
        converse_response([{"toolUse": {"toolUseId": "t", "name": "ping", "input": {}}}], "tool_use")
    )
    assert not result.message.HasField("content")
    assert result.message.tool_calls[0].function.arguments == "{}"


def test_from_converse_response_unreadable() -> None:
    """A response without an output message is an upstream failure, not a crash."""
    with pytest.raises(UpstreamError):
        from_converse_response({"stopReason": "end_turn"})


def test_struct_numbers_stay_integers() -> None:
    """Whole numbers in a tool's JSON Schema reach Bedrock as ints, fractions as floats."""
    parameters = struct_pb2.Struct()
    parameters.update({"type": "object", "minimum": 0.5, "maxItems": 3, "enum": [1, 2.5, True, None]})
    schema = to_converse_request(
        params(
            user("Hi"),
            tools=[
                chat_pb2.Tool(type="function", function=chat_pb2.FunctionDefinition(name="f", parameters=parameters))
            ],
        ),
        HAIKU,
    )["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]
    assert schema == {"type": "object", "minimum": 0.5, "maxItems": 3, "enum": [1, 2.5, True, None]}
    assert isinstance(schema["maxItems"], int)
