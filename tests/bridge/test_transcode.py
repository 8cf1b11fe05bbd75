"""JSON <-> proto rules: enum names, strict types with field paths, emission, path and query binding."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import struct_pb2

from llmgw.bridge.errors import ClientError
from llmgw.bridge.openai_shapes import OPENAI_SHAPES
from llmgw.bridge.routes import PLAIN_JSON, build_route_table
from llmgw.bridge.transcode import (
    bind_query,
    build_request,
    enum_from_json,
    enum_prefix,
    enum_to_json,
    message_to_dict,
    parse_into,
)
from llmgw.v1 import (
    chat_pb2,
    embedding_service_pb2,
    model_pb2,
    quota_service_pb2,
    request_record_pb2,
    usage_service_pb2,
)
from tests.bridge.protos import compile_services

QUERY_PROTO = """syntax = "proto3";
package q.v1;
import "google/api/annotations.proto";
import "google/protobuf/timestamp.proto";
enum Color { COLOR_UNSPECIFIED = 0; COLOR_DARK_RED = 1; }
message Inner { string kind = 1; repeated int64 ids = 2; }
message Req {
  string user = 1; int32 page_size = 2; repeated string tags = 3; Inner inner = 4; bool flag = 5;
  Color color = 6; double ratio = 7; google.protobuf.Timestamp since = 8;
  map<string, int32> counts = 9; bytes blob = 10;
}
service Q {
  rpc List(Req) returns (Req) { option (google.api.http) = {get: "/v1/users/{user}/things"}; }
  rpc Put(Req) returns (Req) { option (google.api.http) = {put: "/v1/users/{user}/inner" body: "inner"}; }
}
"""


def parse_openai(message: Any, data: object) -> None:
    """Parse with the OpenAI shapes the bridge serves its routes with."""
    parse_into(message, data, "", OPENAI_SHAPES)


@pytest.fixture(scope="module")
def query_table(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return build_route_table(compile_services(tmp_path_factory.mktemp("q"), QUERY_PROTO), {})


@pytest.mark.parametrize(
    ("enum", "prefix"),
    [
        (chat_pb2.FinishReason.DESCRIPTOR, "FINISH_REASON_"),
        (chat_pb2.Role.DESCRIPTOR, "ROLE_"),
        (chat_pb2.ContentPartType.DESCRIPTOR, "CONTENT_PART_TYPE_"),
        (model_pb2.ModelKind.DESCRIPTOR, "MODEL_KIND_"),
    ],
)
def test_enum_prefix(enum, prefix: str) -> None:  # type: ignore[no-untyped-def]
    """The stripped prefix is the enum's name in UPPER_SNAKE_CASE."""
    assert enum_prefix(enum) == prefix


def test_enum_names_both_ways() -> None:
    """Short lowercase names in and out; 0 is null; full names and numbers are accepted on input."""
    finish = chat_pb2.FinishReason.DESCRIPTOR
    assert enum_to_json(finish, chat_pb2.FINISH_REASON_TOOL_CALLS) == "tool_calls"
    assert enum_to_json(finish, 0) is None
    assert enum_to_json(finish, 99) == 99
    role = chat_pb2.Role.DESCRIPTOR
    assert enum_from_json(role, "user", "role") == chat_pb2.ROLE_USER
    assert enum_from_json(role, "ROLE_USER", "role") == chat_pb2.ROLE_USER
    assert enum_from_json(role, 3, "role") == chat_pb2.ROLE_ASSISTANT
    for bad in ("robot", "User", True, 42, None):
        with pytest.raises(ClientError, match="role: unknown value"):
            enum_from_json(role, bad, "role")


def test_parse_openai_request() -> None:
    """A typical OpenAI request maps field by field, hooks applied, unknown fields and nulls ignored."""
    params = chat_pb2.ChatCompletionParams()
    parse_openai(
        params,
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": "s"},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "t"}, {"type": "image_url", "image_url": {"url": "data:x"}}],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "42"},
            ],
            "stop": "END",
            "tool_choice": "required",
            "maxCompletionTokens": 7,
            "temperature": 1,
            "top_p": None,
            "logprobs": True,
            "stream_options": {"include_usage": True},
            "tools": [
                {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
            ],
        },
    )
    assert params.messages[0].content[0].text == "s"
    assert params.messages[1].content[1].type == chat_pb2.CONTENT_PART_TYPE_IMAGE_URL
    assert params.messages[2].tool_calls[0].function.name == "f"
    assert list(params.stop) == ["END"]
    assert params.tool_choice.mode == chat_pb2.TOOL_CHOICE_MODE_REQUIRED
    assert params.max_completion_tokens == 7
    assert params.temperature == 1.0
    assert not params.HasField("top_p")
    assert params.stream_options.include_usage
    assert params.tools[0].function.parameters["type"] == "object"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"messages": [{"role": "robot"}]}, "messages[0].role: unknown value 'robot'"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content: expected an array, got a number"),
        ({"messages": [{"role": "user", "content": [{"text": 5}]}]}, "messages[0].content[0].text: expected a string"),
        ({"messages": [None]}, "messages[0]: null is not allowed"),
        ({"messages": ["hi"]}, "messages[0]: expected an object, got a string"),
        ({"model": ["m"]}, "model: expected a string, got an array"),
        ({"stream": 1}, "stream: expected a boolean, got a number"),
        ({"max_tokens": "many"}, "max_tokens: expected an integer, got a string"),
        ({"max_tokens": True}, "max_tokens: expected an integer, got a boolean"),
        ({"max_tokens": 2**31}, "max_tokens: 2147483648 is out of range"),
        ({"temperature": "1"}, "temperature: expected a number, got a string"),
        ({"stream_options": []}, "stream_options: expected an object, got an array"),
        ({"tool_choice": {"type": "web"}}, "tool_choice.type: unknown value 'web'"),
        ({"tools": [{"function": {"parameters": 3}}]}, "tools[0].function.parameters"),
    ],
)
def test_type_errors_name_the_field(data: dict[str, object], error: str) -> None:
    """Wrong types and values are 400s whose message starts with the field's path."""
    with pytest.raises(ClientError) as caught:
        parse_openai(chat_pb2.ChatCompletionParams(), data)
    assert caught.value.http_status == 400
    assert caught.value.message.startswith(error)


def test_integers_accept_whole_numbers_and_decimal_strings() -> None:
    """Integer fields take 5, 5.0 and "5" (proto3 JSON), and nothing fractional."""
    for value in (5, 5.0, "5"):
        params = chat_pb2.ChatCompletionParams()
        parse_openai(params, {"max_tokens": value})
        assert params.max_tokens == 5


def test_emission_rule() -> None:
    """Scalars always, optionals and messages when set, empty lists absent (but at the top level), enum 0 null."""
    completion = chat_pb2.ChatCompletion(
        id="c",
        object="chat.completion",
        created=1_700_000_000_000,
        model="m",
        choices=[chat_pb2.Choice(message=chat_pb2.AssistantMessage(role=chat_pb2.ROLE_ASSISTANT))],
    )
    assert message_to_dict(completion, shapes=OPENAI_SHAPES) == {
        "id": "c",
        "object": "chat.completion",
        "created": 1_700_000_000_000,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant"}, "finish_reason": None}],
    }
    chunk = chat_pb2.ChatCompletionChunk(object="chat.completion.chunk", usage=chat_pb2.Usage(total_tokens=3))
    out = message_to_dict(chunk, top_level=True, shapes=OPENAI_SHAPES)
    assert out["choices"] == []
    assert out["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 3, "cost_usd": ""}
    delta = chat_pb2.ChoiceDelta(content="")
    assert message_to_dict(delta, shapes=OPENAI_SHAPES) == {"content": ""}


def test_chunk_delta_leaves_out_an_unset_role() -> None:
    """A delta carries `role` only when set (OpenAI's first chunk), while `finish_reason: null` stays."""
    first = chat_pb2.ChunkChoice(delta=chat_pb2.ChoiceDelta(role=chat_pb2.ROLE_ASSISTANT, content="Hi"))
    later = chat_pb2.ChunkChoice(delta=chat_pb2.ChoiceDelta(content=" there"))
    last = chat_pb2.ChunkChoice(delta=chat_pb2.ChoiceDelta(), finish_reason=chat_pb2.FINISH_REASON_STOP)
    assert message_to_dict(first, shapes=OPENAI_SHAPES) == {
        "index": 0,
        "delta": {"role": "assistant", "content": "Hi"},
        "finish_reason": None,
    }
    assert message_to_dict(later, shapes=OPENAI_SHAPES) == {
        "index": 0,
        "delta": {"content": " there"},
        "finish_reason": None,
    }
    assert message_to_dict(last, shapes=OPENAI_SHAPES) == {"index": 0, "delta": {}, "finish_reason": "stop"}


def test_well_known_types_use_proto3_json() -> None:
    """google.protobuf.Value emits as plain JSON (embedding vectors)."""
    vector = struct_pb2.Value(list_value=struct_pb2.ListValue(values=[struct_pb2.Value(number_value=0.5)]))
    embedding = embedding_service_pb2.Embedding(object="embedding", index=0, embedding=vector)
    assert message_to_dict(embedding) == {"object": "embedding", "index": 0, "embedding": [0.5]}


def test_query_and_path_binding(query_table) -> None:  # type: ignore[no-untyped-def]
    """Path variables and query parameters fill scalar, repeated, nested and typed fields; unknown ones are ignored."""
    route = query_table.routes[0]
    query = (
        b"page_size=10&tags=a&tags=b&inner.kind=k&inner.ids=1&inner.ids=2&flag=true&color=dark_red&ratio=0.5"
        b"&unknown=1&nested.unknown=2&user=ignored&blob=aGk%3D"
    )
    request: Any = build_request(route, None, {"user": "me"}, query)
    assert request.user == "me"
    assert request.page_size == 10
    assert list(request.tags) == ["a", "b"]
    assert request.inner.kind == "k"
    assert list(request.inner.ids) == [1, 2]
    assert request.flag
    assert request.color == 1
    assert request.ratio == 0.5
    assert request.blob == b"hi"


@pytest.mark.parametrize(
    ("query", "error"),
    [
        (b"page_size=ten", "page_size: expected an integer"),
        (b"flag=maybe", "flag: expected true or false"),
        (b"color=blue", "color: unknown value 'blue'"),
        (b"ratio=x", "ratio: expected a number"),
        (b"inner=x", "inner: cannot be set from a query parameter"),
        (b"tags=%FF", "query: invalid UTF-8"),
    ],
)
def test_query_errors(query_table, query: bytes, error: str) -> None:  # type: ignore[no-untyped-def]
    """Bad query values are 400s naming the parameter."""
    with pytest.raises(ClientError, match=error.replace("(", r"\(")):
        bind_query(query_table.routes[0].request_class(), query, frozenset())


def test_body_field_and_wkt_and_maps(query_table) -> None:  # type: ignore[no-untyped-def]
    """A `body: "inner"` route parses the body into that field; maps and timestamps use proto3 JSON."""
    put = query_table.routes[1]
    request: Any = build_request(put, {"kind": "x", "ids": ["7", 8]}, {"user": "u"}, b"")
    assert request.inner.kind == "x"
    assert list(request.inner.ids) == [7, 8]
    message: Any = put.request_class()
    parse_into(message, {"since": "2026-01-02T03:04:05Z", "counts": {"a": 1}})
    assert message.since.seconds > 0
    assert dict(message.counts) == {"a": 1}
    assert message_to_dict(message)["since"] == "2026-01-02T03:04:05Z"
    with pytest.raises(ClientError, match="since"):
        parse_into(put.request_class(), {"since": "yesterday"})


def test_query_binds_timestamps_and_enums() -> None:
    """GET /v1/requests filters: RFC 3339 query values fill Timestamp fields, short names fill enums."""
    request = usage_service_pb2.ListRequestsRequest()
    bind_query(request, b"start_time=2026-11-01T00:00:00Z&outcome=quota_exceeded&user=me", frozenset())
    assert request.start_time.ToJsonString() == "2026-11-01T00:00:00Z"
    assert request.outcome == request_record_pb2.OUTCOME_QUOTA_EXCEEDED
    assert request.user == "me"
    with pytest.raises(ClientError, match="start_time"):
        bind_query(usage_service_pb2.ListRequestsRequest(), b"start_time=yesterday", frozenset())


def test_money_fields_accept_numbers() -> None:
    """A USD amount may be sent as a JSON number; it arrives as its exact decimal text."""
    request = quota_service_pb2.SetQuotaRequest()
    parse_openai(request, {"limit_usd": 12.5, "frequency": "daily"})
    assert request.limit_usd == "12.5"
    parse_openai(request, {"limit_usd": 3})
    assert request.limit_usd == "3"
    with pytest.raises(ClientError, match="expected a string"):
        parse_into(usage_service_pb2.ListRequestsRequest(), {"user": 5})


def test_the_generic_transcoder_applies_no_api_shape() -> None:
    """Without the OpenAI shapes, a string is not a content part, a money number is refused, an enum is null."""
    with pytest.raises(ClientError, match=r"messages\[0\]\.content: expected an array"):
        parse_into(chat_pb2.ChatCompletionParams(), {"messages": [{"role": "user", "content": "hi"}]}, "", PLAIN_JSON)
    with pytest.raises(ClientError, match="limit_usd: expected a string"):
        parse_into(quota_service_pb2.SetQuotaRequest(), {"limit_usd": 3})
    delta = chat_pb2.ChunkChoice(index=0, delta=chat_pb2.ChoiceDelta(content="x"))
    assert message_to_dict(delta)["delta"] == {"role": None, "content": "x"}
