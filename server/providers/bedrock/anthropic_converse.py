"""Anthropic's Messages shapes <-> Converse, for the non-Claude models the Messages API also serves.

Bedrock takes Anthropic's own body only for Claude; other chat models are reached through
Converse, which carries text, images, documents, tools and tool results. What Converse cannot
carry for an arbitrary model is refused with INVALID_ARGUMENT naming the field: thinking and
redacted thinking blocks, `thinking`, `top_k`, URL sources, Anthropic-defined tools. Cache
breakpoints (`cache_control`) are hints, not content: they are left out, and the answer reports
no cache usage. Pure functions and one stream translator; no network.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from llmgw.server.core.catalog import CatalogModel
from llmgw.server.providers.bedrock.anthropic import AnthropicUsage, json_object
from llmgw.v1 import messages_pb2
from llmgw.wire.errors import InvalidArgument

_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}
_DOCUMENT_FORMATS = {
    "application/pdf": "pdf",
    "text/plain": "txt",
    "text/csv": "csv",
    "text/html": "html",
    "text/markdown": "md",
}
#: Converse stopReason -> Anthropic stop_reason.
STOP_REASONS = {
    "end_turn": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "content_filtered": "refusal",
    "guardrail_intervened": "refusal",
}


def _refuse(field: str, what: str, model: CatalogModel) -> InvalidArgument:
    return InvalidArgument(
        f"{field}: {what} cannot be sent to '{model.id}', which Bedrock serves only through Converse", field=field
    )


def _decoded(data: str, field: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument(f"{field}: not valid base64", field=field) from None


def _image(source: messages_pb2.ContentSource, field: str, model: CatalogModel) -> dict[str, Any]:
    if not model.capabilities.vision:
        raise InvalidArgument(f"The model '{model.id}' does not accept images.", field=field)
    image_format = _IMAGE_FORMATS.get(source.media_type)
    if source.type != "base64" or image_format is None:
        raise InvalidArgument(f"{field}: images must be base64 PNG, JPEG, GIF or WebP", field=field)
    return {"image": {"format": image_format, "source": {"bytes": _decoded(source.data, f"{field}.data")}}}


def _document(block: messages_pb2.ContentBlock, field: str, index: int) -> dict[str, Any]:
    source = block.source
    if source.type == "text":
        data, doc_format = source.data.encode(), "txt"
    elif source.type == "base64" and source.media_type in _DOCUMENT_FORMATS:
        data, doc_format = _decoded(source.data, f"{field}.source.data"), _DOCUMENT_FORMATS[source.media_type]
    else:
        raise InvalidArgument(f"{field}.source: documents must be text or base64 PDF, text, CSV, HTML", field=field)
    name = block.title if block.HasField("title") else f"document-{index}"
    return {"document": {"format": doc_format, "name": name, "source": {"bytes": data}}}


def _block(block: messages_pb2.ContentBlock, field: str, model: CatalogModel, index: int) -> dict[str, Any]:
    kind = block.type
    if kind == "text":
        return {"text": block.text}
    if kind == "image":
        return _image(block.source, f"{field}.source", model)
    if kind == "document":
        return _document(block, field, index)
    if kind == "tool_use":
        tool_input = json_object(block.input, f"{field}.input") if block.HasField("input") else {}
        return {"toolUse": {"toolUseId": block.id, "name": block.name, "input": tool_input}}
    if kind == "tool_result":
        content = [_block(item, f"{field}.content[{i}]", model, i) for i, item in enumerate(block.content)]
        result: dict[str, Any] = {"toolUseId": block.tool_use_id, "content": content or [{"text": ""}]}
        if block.is_error:
            result["status"] = "error"
        return {"toolResult": result}
    raise _refuse(f"{field}.type", f"a {kind or 'typeless'} block", model)


def to_converse(params: messages_pb2.MessageParams, model: CatalogModel) -> dict[str, Any]:
    """The Converse request for a Messages request to a non-Claude model; InvalidArgument when impossible."""
    if not params.messages:
        raise InvalidArgument("messages: at least one message is required", field="messages")
    if params.max_tokens < 1:
        raise InvalidArgument("max_tokens: required, at least 1", field="max_tokens")
    if params.HasField("thinking") and params.thinking.type != "disabled":
        raise _refuse("thinking", "extended thinking", model)
    if params.HasField("top_k"):
        raise _refuse("top_k", "top_k", model)
    messages = []
    for i, message in enumerate(params.messages):
        content = [_block(block, f"messages[{i}].content[{j}]", model, j) for j, block in enumerate(message.content)]
        messages.append({"role": message.role, "content": content})
    request: dict[str, Any] = {"modelId": model.id, "messages": messages}
    if params.system:
        if not model.capabilities.system:
            raise InvalidArgument(f"The model '{model.id}' does not support a system prompt.", field="system")
        request["system"] = [{"text": block.text} for block in params.system if block.type == "text"]
    config: dict[str, Any] = {"maxTokens": params.max_tokens}
    if params.HasField("temperature"):
        config["temperature"] = params.temperature
    if params.HasField("top_p"):
        config["topP"] = params.top_p
    if params.stop_sequences:
        config["stopSequences"] = list(params.stop_sequences)
    request["inferenceConfig"] = config
    if params.tools and not (params.HasField("tool_choice") and params.tool_choice.type == "none"):
        if not model.capabilities.tools:
            raise InvalidArgument(f"The model '{model.id}' does not support tools.", field="tools")
        request["toolConfig"] = _tool_config(params, model)
    return request


def _tool_config(params: messages_pb2.MessageParams, model: CatalogModel) -> dict[str, Any]:
    tools = []
    for i, tool in enumerate(params.tools):
        if tool.HasField("type") and tool.type != "custom":
            raise _refuse(f"tools[{i}].type", f"the Anthropic tool {tool.type!r}", model)
        where = f"tools[{i}].input_schema"
        schema = json_object(tool.input_schema, where) if tool.HasField("input_schema") else {}
        spec: dict[str, Any] = {"name": tool.name, "inputSchema": {"json": schema or {"type": "object"}}}
        if tool.HasField("description"):
            spec["description"] = tool.description
        tools.append({"toolSpec": spec})
    config: dict[str, Any] = {"tools": tools}
    if params.HasField("tool_choice"):
        choice = params.tool_choice
        if choice.type == "any":
            config["toolChoice"] = {"any": {}}
        elif choice.type == "tool":
            config["toolChoice"] = {"tool": {"name": choice.name}}
        elif choice.type in ("auto", ""):
            config["toolChoice"] = {"auto": {}}
    return config


def _usage(usage: Mapping[str, Any]) -> AnthropicUsage:
    """Converse usage in Anthropic's convention (input excludes cached tokens)."""
    counted = AnthropicUsage()
    counted.update(
        {
            "input_tokens": int(usage.get("inputTokens", 0)),
            "output_tokens": int(usage.get("outputTokens", 0)),
            "cache_read_input_tokens": int(usage.get("cacheReadInputTokens", 0)),
            "cache_creation_input_tokens": int(usage.get("cacheWriteInputTokens", 0)),
        }
    )
    return counted


def _counts(usage: AnthropicUsage) -> dict[str, int]:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
    }


def message_from_converse(response: Mapping[str, Any], model_id: str, message_id: str) -> dict[str, Any]:
    """A Converse answer as Anthropic's Message body, usage included."""
    content: list[dict[str, Any]] = []
    for block in response.get("output", {}).get("message", {}).get("content", []):
        if "text" in block:
            content.append({"type": "text", "text": block["text"]})
        elif "toolUse" in block:
            call = block["toolUse"]
            content.append({"type": "tool_use", "id": call["toolUseId"], "name": call["name"], "input": call["input"]})
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model_id,
        "content": content,
        "stop_reason": STOP_REASONS.get(str(response.get("stopReason", "")), "end_turn"),
        "usage": _counts(_usage(response.get("usage", {}))),
    }


class ConverseEventTranslator:
    """ConverseStream events -> Anthropic stream events (as dicts), for one answer.

    Converse has no start event for text blocks and gives usage only at the end, so text blocks
    open on their first delta, and `message_delta` (with the whole usage) and `message_stop`
    come once the closing `metadata` event has arrived.
    """

    def __init__(self, model_id: str, message_id: str) -> None:
        self._model_id = model_id
        self._message_id = message_id
        self._open: set[int] = set()
        self._stop_reason = "end_turn"

    def feed(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The Anthropic events for one ConverseStream event (often none)."""
        if "messageStart" in event:
            message = {
                "id": self._message_id,
                "type": "message",
                "role": "assistant",
                "model": self._model_id,
                "content": [],
                "usage": {"input_tokens": 0, "output_tokens": 0},
            }
            return [{"type": "message_start", "message": message}]
        if "contentBlockStart" in event:
            payload = event["contentBlockStart"]
            index = int(payload["contentBlockIndex"])
            tool = payload.get("start", {}).get("toolUse", {})
            self._open.add(index)
            block = {"type": "tool_use", "id": tool.get("toolUseId", ""), "name": tool.get("name", ""), "input": {}}
            return [{"type": "content_block_start", "index": index, "content_block": block}]
        if "contentBlockDelta" in event:
            return self._delta(event["contentBlockDelta"])
        if "contentBlockStop" in event:
            index = int(event["contentBlockStop"]["contentBlockIndex"])
            self._open.discard(index)
            return [{"type": "content_block_stop", "index": index}]
        if "messageStop" in event:
            self._stop_reason = STOP_REASONS.get(str(event["messageStop"].get("stopReason", "")), "end_turn")
            return []
        if "metadata" in event:
            counts = _counts(_usage(event["metadata"].get("usage", {})))
            delta = {"type": "message_delta", "delta": {"stop_reason": self._stop_reason}, "usage": counts}
            return [delta, {"type": "message_stop"}]
        return []

    def _delta(self, payload: Mapping[str, Any]) -> list[dict[str, Any]]:
        index = int(payload["contentBlockIndex"])
        delta: Mapping[str, Any] = payload.get("delta", {})
        out: list[dict[str, Any]] = []
        if "text" in delta:
            if index not in self._open:
                self._open.add(index)
                start = {"type": "text", "text": ""}
                out.append({"type": "content_block_start", "index": index, "content_block": start})
            out.append(
                {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": delta["text"]}}
            )
        elif "toolUse" in delta:
            fragment = {"type": "input_json_delta", "partial_json": delta["toolUse"].get("input", "")}
            out.append({"type": "content_block_delta", "index": index, "delta": fragment})
        return out
