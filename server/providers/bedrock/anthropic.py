"""Anthropic's Messages shapes <-> Bedrock's Anthropic bodies: pure functions, no network.

Claude models take Anthropic's own request on Bedrock, either as an InvokeModel body
(`anthropic_version: "bedrock-2023-05-31"`, betas in `anthropic_beta`, no `model` or `stream`)
or on the native `POST /anthropic/v1/messages` route (the same body with `model` set to a
profile id and betas in the `anthropic-beta` header). Every field of the request is carried
over as the caller sent it; thinking signatures and redacted data are strings copied byte for
byte. Tool inputs and schemas travel as their JSON text (messages.proto says why) and are
parsed in order, so they reach Bedrock as the model wrote them; Bedrock's answers are turned
back into that text the same way.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from llmgw.v1 import messages_pb2
from llmgw.wire.errors import InvalidArgument

BEDROCK_ANTHROPIC_VERSION = "bedrock-2023-05-31"
#: The `anthropic-version` the native route is called with (reference 10.7: pinned).
NATIVE_ANTHROPIC_VERSION = "2023-06-01"

_BLOCK_FIELDS = frozenset(
    {"text", "id", "name", "tool_use_id", "is_error", "thinking", "signature", "data", "title", "context"}
)


def json_object(text: str, field: str) -> dict[str, Any]:
    """A JSON object field's value, parsed in order; InvalidArgument naming the field otherwise."""
    try:
        value = json.loads(text)
    except ValueError:
        raise InvalidArgument(f"{field}: not valid JSON", field=field) from None
    if not isinstance(value, dict):
        raise InvalidArgument(f"{field}: expected a JSON object", field=field)
    return value


def json_text(value: object) -> str:
    """The JSON text of a free-form value from Bedrock, compact, key order kept."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _cache(block: messages_pb2.CacheControl) -> dict[str, object]:
    out: dict[str, object] = {"type": block.type or "ephemeral"}
    if block.HasField("ttl"):
        out["ttl"] = block.ttl
    return out


def block_to_dict(block: messages_pb2.ContentBlock, where: str) -> dict[str, object]:
    """One content block as Anthropic's JSON."""
    if not block.type:
        raise InvalidArgument(f"{where}.type: required", field=f"{where}.type")
    out: dict[str, object] = {"type": block.type}
    if block.HasField("source"):
        source = block.source
        if source.type == "url":
            raise InvalidArgument(
                f"{where}.source: URL sources are not served on Bedrock; send the data as base64",
                field=f"{where}.source",
            )
        out["source"] = {field.name: value for field, value in source.ListFields()}
    for field, value in block.ListFields():
        if field.name in _BLOCK_FIELDS:
            out[field.name] = value
    if block.HasField("input"):
        out["input"] = json_object(block.input, f"{where}.input")
    elif block.type == "tool_use":
        out["input"] = {}
    if block.content:
        out["content"] = [block_to_dict(item, f"{where}.content[{i}]") for i, item in enumerate(block.content)]
    if block.HasField("cache_control"):
        out["cache_control"] = _cache(block.cache_control)
    return out


def _tool(tool: messages_pb2.MessageTool, where: str) -> dict[str, object]:
    out: dict[str, object] = {"name": tool.name}
    if tool.HasField("type"):
        out["type"] = tool.type
    if tool.HasField("description"):
        out["description"] = tool.description
    if tool.HasField("input_schema"):
        out["input_schema"] = json_object(tool.input_schema, f"{where}.input_schema")
    if tool.HasField("cache_control"):
        out["cache_control"] = _cache(tool.cache_control)
    return out


def messages_body(params: messages_pb2.MessageParams, *, count_only: bool = False) -> dict[str, Any]:
    """The Anthropic request body of `params`, without `model`, `stream` and betas.

    Raises InvalidArgument for what Bedrock cannot take (no messages, no max_tokens, URL sources).
    """
    if not params.messages:
        raise InvalidArgument("messages: at least one message is required", field="messages")
    if not count_only and params.max_tokens < 1:
        raise InvalidArgument("max_tokens: required, at least 1", field="max_tokens")
    body: dict[str, Any] = {}
    if params.max_tokens:
        body["max_tokens"] = params.max_tokens
    body["messages"] = [
        {
            "role": message.role,
            "content": [block_to_dict(block, f"messages[{i}].content[{j}]") for j, block in enumerate(message.content)],
        }
        for i, message in enumerate(params.messages)
    ]
    if params.system:
        body["system"] = [block_to_dict(block, f"system[{i}]") for i, block in enumerate(params.system)]
    if params.tools:
        body["tools"] = [_tool(tool, f"tools[{i}]") for i, tool in enumerate(params.tools)]
    if params.HasField("tool_choice"):
        choice: dict[str, object] = {"type": params.tool_choice.type or "auto"}
        if params.tool_choice.HasField("name"):
            choice["name"] = params.tool_choice.name
        if params.tool_choice.HasField("disable_parallel_tool_use"):
            choice["disable_parallel_tool_use"] = params.tool_choice.disable_parallel_tool_use
        body["tool_choice"] = choice
    if params.stop_sequences:
        body["stop_sequences"] = list(params.stop_sequences)
    for name in ("temperature", "top_p", "top_k"):
        if params.HasField(name):
            body[name] = getattr(params, name)
    if params.HasField("metadata") and params.metadata.HasField("user_id"):
        body["metadata"] = {"user_id": params.metadata.user_id}
    if params.HasField("thinking"):
        thinking: dict[str, object] = {"type": params.thinking.type}
        if params.thinking.HasField("budget_tokens"):
            thinking["budget_tokens"] = params.thinking.budget_tokens
        if params.thinking.HasField("display"):
            thinking["display"] = params.thinking.display
        body["thinking"] = thinking
    if params.HasField("output_config") and params.output_config.HasField("effort"):
        body["output_config"] = {"effort": params.output_config.effort}
    return body


def invoke_body(params: messages_pb2.MessageParams, betas: Iterable[str]) -> dict[str, Any]:
    """The InvokeModel body for a Messages request, with the betas that may pass."""
    body = {"anthropic_version": BEDROCK_ANTHROPIC_VERSION, **messages_body(params)}
    kept = list(betas)
    if kept:
        body["anthropic_beta"] = kept
    return body


def native_body(params: messages_pb2.MessageParams, model_id: str, stream: bool) -> dict[str, Any]:
    """The body for the native `/anthropic/v1/messages` route (betas go in a header).

    `metadata` is left out: the route rejects `metadata.user_id` values outside a pattern it
    does not publish (reference 10.5), and Claude Code's do not fit it; the gateway's request
    log already says who asked.
    """
    body: dict[str, Any] = {"model": model_id, **messages_body(params)}
    body.pop("metadata", None)
    if stream:
        body["stream"] = True
    return body


def requested_betas(params: messages_pb2.MessageParams, header_values: Iterable[str]) -> list[str]:
    """Every beta asked for, in order and once: the body's, then the header's (comma-separated)."""
    seen: dict[str, None] = {}
    for beta in params.anthropic_beta:
        seen.setdefault(beta.strip(), None)
    for value in header_values:
        for beta in value.split(","):
            seen.setdefault(beta.strip(), None)
    return [beta for beta in seen if beta]


def split_betas(requested: Iterable[str], allowed: frozenset[str]) -> tuple[list[str], list[str]]:
    """(passed, dropped): the betas the model's allowlist has, and the others."""
    passed: list[str] = []
    dropped: list[str] = []
    for beta in requested:
        (passed if beta in allowed else dropped).append(beta)
    return passed, dropped


@dataclass(slots=True)
class AnthropicUsage:
    """Token counts of one answer in Anthropic's convention (input excludes cached tokens)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    seen: bool = False
    """Whether Bedrock reported any usage (a stream that died first did not)."""

    def update(self, usage: object) -> None:
        """Take the counts present in an Anthropic `usage` object (later reports win)."""
        if not isinstance(usage, Mapping):
            return
        self.seen = True
        self.input_tokens = _count(usage, "input_tokens", self.input_tokens)
        self.output_tokens = _count(usage, "output_tokens", self.output_tokens)
        self.cache_read_tokens = _count(usage, "cache_read_input_tokens", self.cache_read_tokens)
        self.cache_write_tokens = _count(usage, "cache_creation_input_tokens", self.cache_write_tokens)

    def feed_event(self, event: Mapping[str, object]) -> None:
        """Take the usage an Anthropic stream event carries (message_start, message_delta)."""
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message")
            if isinstance(message, Mapping):
                self.update(message.get("usage"))
        elif kind == "message_delta":
            self.update(event.get("usage"))

    def proto(self) -> messages_pb2.MessageUsage:
        """As the API's MessageUsage."""
        return messages_pb2.MessageUsage(
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cache_creation_input_tokens=self.cache_write_tokens,
            cache_read_input_tokens=self.cache_read_tokens,
        )


def _count(usage: Mapping[str, object], key: str, default: int) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default


def _parse_into(message: Message, data: Mapping[str, object]) -> None:
    try:
        json_format.ParseDict(dict(data), message, ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, ValueError) as exc:
        raise InvalidArgument(f"Bedrock answered with a body the gateway cannot read: {exc}") from None


def _with_json_text(block: object) -> object:
    """A content block from Bedrock with its free-form `input` turned into JSON text."""
    if isinstance(block, Mapping) and "input" in block and not isinstance(block["input"], str):
        return {**block, "input": json_text(block["input"])}
    return block


def message_from_body(body: Mapping[str, object], model_id: str) -> tuple[messages_pb2.Message, AnthropicUsage]:
    """Bedrock's Anthropic answer as the API's Message (named by the caller's model id) and its usage."""
    message = messages_pb2.Message()
    data = {key: value for key, value in body.items() if key != "usage" and value is not None}
    content = data.get("content")
    if isinstance(content, list):
        data["content"] = [_with_json_text(block) for block in content]
    _parse_into(message, data)
    usage = AnthropicUsage()
    usage.update(body.get("usage"))
    message.model = model_id
    message.usage.CopyFrom(usage.proto())
    return message, usage


def event_from_body(event: Mapping[str, object], model_id: str) -> messages_pb2.MessageStreamEvent:
    """One Anthropic stream event as the API's MessageStreamEvent (Bedrock's extra keys dropped)."""
    out = messages_pb2.MessageStreamEvent()
    data = {key: value for key, value in event.items() if not key.startswith("amazon-bedrock-")}
    message = data.get("message")
    if isinstance(message, Mapping):
        data["message"] = {key: value for key, value in message.items() if value is not None} | {"model": model_id}
    delta = data.get("delta")
    if isinstance(delta, Mapping):
        data["delta"] = {key: value for key, value in delta.items() if value is not None}
    if "content_block" in data:
        data["content_block"] = _with_json_text(data["content_block"])
    _parse_into(out, data)
    return out


def parse_object(raw: bytes, what: str) -> dict[str, Any]:
    """A JSON object from bytes; InvalidArgument naming `what` when it is not one."""
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise InvalidArgument(f"{what}: not valid JSON") from None
    if not isinstance(value, dict):
        raise InvalidArgument(f"{what}: expected a JSON object")
    return value


def decode_chunk(event: Mapping[str, Any]) -> bytes | None:
    """The Anthropic event bytes inside an InvokeModelWithResponseStream `chunk` event, if it is one."""
    chunk = event.get("chunk")
    if not isinstance(chunk, Mapping):
        return None
    data = chunk.get("bytes")
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        try:
            return base64.b64decode(data)
        except (binascii.Error, ValueError):
            return None
    return None
