"""ChatService end to end: gRPC client -> gateway -> boto3 -> fake Bedrock over HTTP, recorded in SQLite."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from llmgw.server.core.catalog import Catalog
from llmgw.server.core.money import format_usd
from llmgw.v1 import chat_pb2, chat_service_pb2, chat_service_pb2_grpc
from tests.chat_requests import params, records, user
from tests.model_ids import HAIKU, NOVA_MICRO
from tests.support import GatewayThread, bearer

PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture(scope="module")
def stub(gateway: GatewayThread) -> Iterator[chat_service_pb2_grpc.ChatServiceStub]:
    """A sync ChatService stub on one channel for the module."""
    with gateway.channel() as channel:
        yield chat_service_pb2_grpc.ChatServiceStub(channel)


@pytest.fixture
def key(gateway: GatewayThread, request: pytest.FixtureRequest) -> str:
    """A fresh key per test, named after it, so its request records can be told apart."""
    return gateway.create_key("alice", request.node.name[:60].replace("[", "-").replace("]", ""))


def key_name_of(request: pytest.FixtureRequest) -> str:
    """The name the `key` fixture gave this test's key."""
    return str(request.node.name[:60].replace("[", "-").replace("]", ""))


def stream_text(chunks: list[chat_service_pb2.StreamChatCompletionResponse]) -> str:
    """The text of a streamed answer."""
    return "".join(c.chunk.choices[0].delta.content for c in chunks if c.chunk.choices)


def error_reason(error: grpc.RpcError) -> str:
    """The google.rpc.ErrorInfo reason carried in the status details."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return str(info.reason)


def test_unary_chat_is_answered_and_recorded_exactly(
    stub: chat_service_pb2_grpc.ChatServiceStub, key: str, request: pytest.FixtureRequest
) -> None:
    """A unary chat returns OpenAI's shape and records tokens and cost = catalog price x tokens."""
    reply = stub.CreateChatCompletion(
        chat_service_pb2.CreateChatCompletionRequest(params=params(user("Hello there, gateway"))), metadata=bearer(key)
    )
    completion = reply.completion
    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    assert completion.model == HAIKU
    assert completion.choices[0].message.role == chat_pb2.ROLE_ASSISTANT
    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason == chat_pb2.FINISH_REASON_STOP
    usage = completion.usage
    assert usage.prompt_tokens == 3
    assert usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    price = Catalog.load().get(HAIKU).price
    expected_cost = usage.prompt_tokens * price.input + usage.completion_tokens * price.output
    assert usage.cost_usd == format_usd(expected_cost)
    [row] = records(key_name_of(request))
    assert (row.id, row.user, row.model, row.api, row.outcome) == (completion.id, "alice", HAIKU, "chat", "success")
    assert (row.input_tokens, row.output_tokens) == (usage.prompt_tokens, usage.completion_tokens)
    assert row.cost_picodollars == expected_cost
    assert row.latency_ms >= 0


def test_stream_concatenates_to_the_unary_answer(
    stub: chat_service_pb2_grpc.ChatServiceStub, key: str, request: pytest.FixtureRequest
) -> None:
    """Streamed deltas join to exactly the unary answer, and both record the same usage."""
    conversation = params(user("Tell me a story"), stream_options=chat_pb2.StreamOptions(include_usage=True))
    unary = stub.CreateChatCompletion(
        chat_service_pb2.CreateChatCompletionRequest(params=conversation), metadata=bearer(key)
    ).completion
    chunks = list(
        stub.StreamChatCompletion(
            chat_service_pb2.StreamChatCompletionRequest(params=conversation), metadata=bearer(key)
        )
    )
    assert stream_text(chunks) == unary.choices[0].message.content
    assert chunks[0].chunk.choices[0].delta.role == chat_pb2.ROLE_ASSISTANT
    assert len({c.chunk.id for c in chunks}) == 1
    assert all(c.chunk.object == "chat.completion.chunk" for c in chunks)
    finishing = [c for c in chunks if c.chunk.choices and c.chunk.choices[0].finish_reason]
    assert [c.chunk.choices[0].finish_reason for c in finishing] == [chat_pb2.FINISH_REASON_STOP]
    last = chunks[-1].chunk
    assert not last.choices
    assert last.usage == unary.usage
    rows = records(key_name_of(request), expected=2)
    assert [r.api for r in rows] == ["chat", "chat_stream"]
    assert rows[1].id == chunks[0].chunk.id
    assert rows[1].ttft_ms is not None
    assert (rows[0].input_tokens, rows[0].output_tokens, rows[0].cost_picodollars) == (
        rows[1].input_tokens,
        rows[1].output_tokens,
        rows[1].cost_picodollars,
    )


def test_usage_chunk_only_when_asked(stub: chat_service_pb2_grpc.ChatServiceStub, key: str) -> None:
    """Without stream_options.include_usage no chunk carries usage."""
    chunks = list(
        stub.StreamChatCompletion(
            chat_service_pb2.StreamChatCompletionRequest(params=params(user("hi"))), metadata=bearer(key)
        )
    )
    assert all(not c.chunk.HasField("usage") for c in chunks)
    assert chunks[-1].chunk.choices[0].finish_reason == chat_pb2.FINISH_REASON_STOP


def weather_tool() -> chat_pb2.Tool:
    """A function tool with a JSON-schema parameter object."""
    schema = struct_pb2.Struct()
    schema.update({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
    return chat_pb2.Tool(
        type="function",
        function=chat_pb2.FunctionDefinition(name="get_weather", description="Weather of a city", parameters=schema),
    )


def test_tool_call_and_tool_result_round_trip(stub: chat_service_pb2_grpc.ChatServiceStub, key: str) -> None:
    """The model calls a tool; the tool result sent back reaches the model, unary and streamed."""
    first = params(user("What is the weather in Paris?"), tools=[weather_tool()])
    answer = stub.CreateChatCompletion(
        chat_service_pb2.CreateChatCompletionRequest(params=first), metadata=bearer(key)
    ).completion.choices[0]
    assert answer.finish_reason == chat_pb2.FINISH_REASON_TOOL_CALLS
    [call] = answer.message.tool_calls
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert call.function.arguments == '{"city":"sample"}'

    streamed = list(
        stub.StreamChatCompletion(chat_service_pb2.StreamChatCompletionRequest(params=first), metadata=bearer(key))
    )
    deltas = [tc for c in streamed if c.chunk.choices for tc in c.chunk.choices[0].delta.tool_calls]
    assert deltas[0].id == call.id
    assert deltas[0].function.name == "get_weather"
    assert json.loads("".join(d.function.arguments for d in deltas)) == json.loads(call.function.arguments)
    assert streamed[-1].chunk.choices[0].finish_reason == chat_pb2.FINISH_REASON_TOOL_CALLS

    follow_up = params(
        user("What is the weather in Paris?"),
        chat_pb2.ChatMessage(role=chat_pb2.ROLE_ASSISTANT, tool_calls=[call]),
        chat_pb2.ChatMessage(
            role=chat_pb2.ROLE_TOOL, tool_call_id=call.id, content=[chat_pb2.ContentPart(text="sunny and 21 degrees")]
        ),
        tools=[weather_tool()],
    )
    final = stub.CreateChatCompletion(
        chat_service_pb2.CreateChatCompletionRequest(params=follow_up), metadata=bearer(key)
    ).completion.choices[0]
    assert final.finish_reason == chat_pb2.FINISH_REASON_STOP
    assert "sunny and 21 degrees" in final.message.content


def test_image_part_reaches_the_model(stub: chat_service_pb2_grpc.ChatServiceStub, key: str) -> None:
    """A data-URL image arrives at Bedrock as the same bytes."""
    image = chat_pb2.ContentPart(
        type=chat_pb2.CONTENT_PART_TYPE_IMAGE_URL,
        image_url=chat_pb2.ImageUrl(url="data:image/png;base64," + base64.b64encode(PNG_1PX).decode()),
    )
    message = chat_pb2.ChatMessage(role=chat_pb2.ROLE_USER, content=[chat_pb2.ContentPart(text="What is this?"), image])
    reply = stub.CreateChatCompletion(
        chat_service_pb2.CreateChatCompletionRequest(params=params(message)), metadata=bearer(key)
    )
    assert f"image/png of {len(PNG_1PX)} bytes" in reply.completion.choices[0].message.content


def test_stop_sequence_and_token_limit(stub: chat_service_pb2_grpc.ChatServiceStub, key: str) -> None:
    """A stop sequence cuts the answer before it; max_completion_tokens ends with `length`."""
    full = stub.CreateChatCompletion(
        chat_service_pb2.CreateChatCompletionRequest(params=params(user("Count words"))), metadata=bearer(key)
    ).completion.choices[0]
    words = full.message.content.split()
    stopped = stub.CreateChatCompletion(
        chat_service_pb2.CreateChatCompletionRequest(params=params(user("Count words"), stop=[words[3]])),
        metadata=bearer(key),
    ).completion.choices[0]
    assert words[3] not in stopped.message.content.split()
    assert stopped.message.content.split() == words[: words.index(words[3])]
    assert stopped.finish_reason == chat_pb2.FINISH_REASON_STOP
    limited = stub.CreateChatCompletion(
        chat_service_pb2.CreateChatCompletionRequest(params=params(user("Count words"), max_completion_tokens=2)),
        metadata=bearer(key),
    ).completion
    assert limited.choices[0].finish_reason == chat_pb2.FINISH_REASON_LENGTH
    assert limited.usage.completion_tokens == 2


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ((), "Missing API key"),
        ((("authorization", "Bearer sk-llmgw-not-a-real-key-at-all-0000000000000"),), "Invalid API key"),
        ((("authorization", "garbage"),), "must use the Bearer scheme"),
    ],
)
def test_missing_or_wrong_key_is_unauthenticated(
    stub: chat_service_pb2_grpc.ChatServiceStub, metadata: tuple[tuple[str, str], ...], message: str
) -> None:
    """No key or a wrong key gets UNAUTHENTICATED with a clear message and the ErrorInfo reason."""
    with pytest.raises(grpc.RpcError) as caught:
        stub.CreateChatCompletion(
            chat_service_pb2.CreateChatCompletionRequest(params=params(user("hi"))), metadata=metadata
        )
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert message in str(caught.value.details())
    assert error_reason(caught.value) == "INVALID_API_KEY"


def test_expired_key_is_unauthenticated(gateway: GatewayThread, stub: chat_service_pb2_grpc.ChatServiceStub) -> None:
    """A key past its expiry is refused, saying it expired."""
    from datetime import UTC, datetime, timedelta

    key = gateway.create_key("bob", "soon-expired", datetime.now(UTC) + timedelta(seconds=1))
    stub.CreateChatCompletion(
        chat_service_pb2.CreateChatCompletionRequest(params=params(user("hi"))), metadata=bearer(key)
    )
    time.sleep(1.1)
    with pytest.raises(grpc.RpcError) as caught:
        stub.CreateChatCompletion(
            chat_service_pb2.CreateChatCompletionRequest(params=params(user("hi"))), metadata=bearer(key)
        )
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "expired" in str(caught.value.details())


def test_unknown_model_is_not_found_and_recorded(
    stub: chat_service_pb2_grpc.ChatServiceStub, key: str, request: pytest.FixtureRequest
) -> None:
    """A model the catalog does not know gets NOT_FOUND and an error record."""
    with pytest.raises(grpc.RpcError) as caught:
        stub.CreateChatCompletion(
            chat_service_pb2.CreateChatCompletionRequest(params=params(user("hi"), model="openai.gpt-9")),
            metadata=bearer(key),
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "openai.gpt-9" in str(caught.value.details())
    assert error_reason(caught.value) == "MODEL_NOT_FOUND"
    [row] = records(key_name_of(request))
    assert (row.outcome, row.error_reason, row.cost_picodollars) == ("error", "MODEL_NOT_FOUND", 0)


def test_unsupported_feature_is_invalid_argument(stub: chat_service_pb2_grpc.ChatServiceStub, key: str) -> None:
    """Images on a text-only model are refused before Bedrock is called, naming model and feature."""
    image = chat_pb2.ContentPart(
        type=chat_pb2.CONTENT_PART_TYPE_IMAGE_URL,
        image_url=chat_pb2.ImageUrl(url="data:image/png;base64," + base64.b64encode(PNG_1PX).decode()),
    )
    message = chat_pb2.ChatMessage(role=chat_pb2.ROLE_USER, content=[image])
    with pytest.raises(grpc.RpcError) as caught:
        stub.CreateChatCompletion(
            chat_service_pb2.CreateChatCompletionRequest(params=params(message, model=NOVA_MICRO)),
            metadata=bearer(key),
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert NOVA_MICRO in str(caught.value.details())
    assert "image" in str(caught.value.details()).lower()


def test_bedrock_validation_error_is_invalid_argument(stub: chat_service_pb2_grpc.ChatServiceStub, key: str) -> None:
    """A ValidationException from Bedrock becomes INVALID_ARGUMENT."""
    with pytest.raises(grpc.RpcError) as caught:
        stub.CreateChatCompletion(
            chat_service_pb2.CreateChatCompletionRequest(params=params(user("[[fault:validation]]"))),
            metadata=bearer(key),
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_mid_stream_error_ends_the_stream_and_is_recorded(
    stub: chat_service_pb2_grpc.ChatServiceStub, key: str, request: pytest.FixtureRequest
) -> None:
    """A Bedrock failure after some tokens ends the stream with UNAVAILABLE; the tokens seen are recorded."""
    received: list[chat_service_pb2.StreamChatCompletionResponse] = []
    call = stub.StreamChatCompletion(
        chat_service_pb2.StreamChatCompletionRequest(params=params(user("go on [[fault:mid_stream]]"))),
        metadata=bearer(key),
    )
    with pytest.raises(grpc.RpcError) as caught:
        received.extend(call)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert received
    [row] = records(key_name_of(request))
    assert row.outcome == "error"
    # Deltas that arrive together are coalesced into one chunk: count the fake's words, one token each.
    assert row.output_tokens == sum(len(r.chunk.choices[0].delta.content.split()) for r in received)
    assert row.input_tokens > 0
    assert row.cost_picodollars > 0


def test_stream_refused_by_bedrock_costs_nothing(
    stub: chat_service_pb2_grpc.ChatServiceStub, key: str, request: pytest.FixtureRequest
) -> None:
    """A stream Bedrock refuses before answering is recorded as an error with no tokens and no cost."""
    call = stub.StreamChatCompletion(
        chat_service_pb2.StreamChatCompletionRequest(params=params(user("busy [[fault:validation]]"))),
        metadata=bearer(key),
    )
    with pytest.raises(grpc.RpcError) as caught:
        list(call)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [row] = records(key_name_of(request))
    assert (row.outcome, row.input_tokens, row.output_tokens, row.cost_picodollars) == ("error", 0, 0, 0)


def test_slow_grpc_reader_gets_every_word_in_order_in_fewer_messages(
    stub: chat_service_pb2_grpc.ChatServiceStub, key: str
) -> None:
    """Deltas that pile up while a slow client takes the previous message are coalesced, none lost or reordered."""
    conversation = params(user("[[tokens:2000]] [[ttft_ms:0]] [[token_delay_ms:0]] Tell me everything"))
    unary = stub.CreateChatCompletion(
        chat_service_pb2.CreateChatCompletionRequest(params=conversation), metadata=bearer(key)
    ).completion
    chunks = []
    for chunk in stub.StreamChatCompletion(
        chat_service_pb2.StreamChatCompletionRequest(params=conversation), metadata=bearer(key)
    ):
        chunks.append(chunk)
        time.sleep(0.002)
    assert stream_text(chunks) == unary.choices[0].message.content
    assert len(unary.choices[0].message.content.split()) == 2000
    assert len(chunks) < 2000
