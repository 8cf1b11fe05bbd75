"""The hot path of a streamed chat answer: a ChatCompletionChunk straight to its JSON bytes.

The generic transcoder walks every message through descriptors into dicts and then JSON;
for the one message sent per token that is most of the bridge's work. This encoder writes
the chunk's JSON directly, with the same output byte for byte (tests/bridge/test_chunks.py
compares the two on every shape): the same fields, the same emission rules (see
transcode.py), strings escaped by the json module's own C encoder. It knows the fields of
the chunk's messages as of this writing; if the proto gains a field, `encode_chunk` is not
used (`FAST_PATH` is False) and the generic path serves, so nothing is silently dropped.
"""

from __future__ import annotations

from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from llmgw.bridge.codec import dumps, quote
from llmgw.bridge.openai_shapes import OPENAI_SHAPES
from llmgw.bridge.transcode import enum_to_json, message_to_dict
from llmgw.v1 import chat_pb2

_KNOWN_FIELDS: dict[Descriptor, frozenset[str]] = {
    chat_pb2.ChatCompletionChunk.DESCRIPTOR: frozenset(
        {"id", "object", "created", "model", "choices", "usage", "service_tier"}
    ),
    chat_pb2.ChunkChoice.DESCRIPTOR: frozenset({"index", "delta", "finish_reason"}),
    chat_pb2.ChoiceDelta.DESCRIPTOR: frozenset(
        {"role", "content", "tool_calls", "reasoning_content", "thinking_blocks"}
    ),
    chat_pb2.ToolCallDelta.DESCRIPTOR: frozenset({"index", "id", "type", "function"}),
    chat_pb2.FunctionCall.DESCRIPTOR: frozenset({"name", "arguments"}),
}
FAST_PATH = all(frozenset(d.fields_by_name) == names for d, names in _KNOWN_FIELDS.items())

_FINISH = chat_pb2.FinishReason.DESCRIPTOR
_ROLE = chat_pb2.Role.DESCRIPTOR
_FINISH_JSON = {value.number: dumps(enum_to_json(_FINISH, value.number)).decode() for value in _FINISH.values}
_ROLE_JSON = {value.number: dumps(enum_to_json(_ROLE, value.number)).decode() for value in _ROLE.values}


def encode_chunk(chunk: chat_pb2.ChatCompletionChunk) -> bytes:
    """The chunk's JSON, exactly as `dumps(message_to_dict(chunk, top_level=True, shapes=OPENAI_SHAPES))` writes it."""
    parts = [
        '{"id":',
        quote(chunk.id),
        ',"object":',
        quote(chunk.object),
        ',"created":',
        str(chunk.created),
        ',"model":',
        quote(chunk.model),
        ',"choices":[',
        ",".join([_choice(choice) for choice in chunk.choices]),
        "]",
    ]
    if chunk.HasField("usage"):
        parts += [',"usage":', _generic(chunk.usage)]
    if chunk.HasField("service_tier"):
        parts += [',"service_tier":', quote(chunk.service_tier)]
    parts.append("}")
    return "".join(parts).encode()


def _choice(choice: chat_pb2.ChunkChoice) -> str:
    delta = f',"delta":{_delta(choice.delta)}' if choice.HasField("delta") else ""
    finish = _FINISH_JSON.get(choice.finish_reason) or str(choice.finish_reason)
    return f'{{"index":{choice.index}{delta},"finish_reason":{finish}}}'


def _delta(delta: chat_pb2.ChoiceDelta) -> str:
    fields = []
    if delta.role:
        fields.append('"role":' + (_ROLE_JSON.get(delta.role) or str(delta.role)))
    if delta.HasField("content"):
        fields.append('"content":' + quote(delta.content))
    if delta.tool_calls:
        fields.append('"tool_calls":[' + ",".join([_tool_call(call) for call in delta.tool_calls]) + "]")
    if delta.HasField("reasoning_content"):
        fields.append('"reasoning_content":' + quote(delta.reasoning_content))
    if delta.thinking_blocks:  # rare (once per thinking block): the generic path
        fields.append('"thinking_blocks":[' + ",".join([_generic(block) for block in delta.thinking_blocks]) + "]")
    return "{" + ",".join(fields) + "}"


def _generic(message: Message) -> str:
    return dumps(message_to_dict(message, shapes=OPENAI_SHAPES)).decode()


def _tool_call(call: chat_pb2.ToolCallDelta) -> str:
    function = ""
    if call.HasField("function"):
        function = f',"function":{{"name":{quote(call.function.name)},"arguments":{quote(call.function.arguments)}}}'
    return f'{{"index":{call.index},"id":{quote(call.id)},"type":{quote(call.type)}{function}}}'
