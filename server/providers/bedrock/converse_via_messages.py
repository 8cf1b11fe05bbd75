"""A Converse request served by Bedrock's native Messages route, and its answer read back as Converse's.

For Claude models the catalog marks `api = "messages"`, the OpenAI path (which builds a Converse
request: converse.py, thinking.py) is answered by `POST /anthropic/v1/messages` instead: the
request is rewritten into Anthropic's body, and the answer, unary or streamed, into the Converse
response and events the chat path already reads. So the OpenAI translation and its thinking,
caching and refusal rules stay in one place, and only the wire changes. Pure functions and one
stream translator; no network.

Block by block: text, images (bytes -> base64), documents, tool calls and results, reasoning
(thinking with its signature, redacted thinking) and cache points (a `cache_control` on the
block before) carry over; `additionalModelRequestFields` are Anthropic's own fields already
(thinking, output_config, top_k) and are merged in, except `anthropic_beta`, which becomes the
`anthropic-beta` header.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from llmgw.server.providers.bedrock.converse import compact_json
from llmgw.wire.errors import InvalidArgument

_DOCUMENT_TYPES = {
    "pdf": "application/pdf",
    "txt": "text/plain",
    "csv": "text/csv",
    "html": "text/html",
    "md": "text/markdown",
}


def _cached(blocks: list[dict[str, Any]], point: Mapping[str, Any]) -> None:
    """Mark the last block with Anthropic's cache_control, keeping the cache point's TTL."""
    if blocks:
        marker = {"type": "ephemeral"}
        if "ttl" in point:
            marker["ttl"] = point["ttl"]
        blocks[-1]["cache_control"] = marker


def _tool_result_content(items: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in items:
        if "text" in item:
            out.append({"type": "text", "text": item["text"]})
        elif "json" in item:
            out.append({"type": "text", "text": compact_json(item["json"])})
        elif "image" in item:
            out.append(_image(item["image"]))
    return out


def _image(image: Mapping[str, Any]) -> dict[str, Any]:
    data = base64.b64encode(image["source"]["bytes"]).decode("ascii")
    return {"type": "image", "source": {"type": "base64", "media_type": f"image/{image['format']}", "data": data}}


def _block(block: Mapping[str, Any], out: list[dict[str, Any]]) -> None:
    """Append the Anthropic form of one Converse content block."""
    if "text" in block:
        out.append({"type": "text", "text": block["text"]})
    elif "image" in block:
        out.append(_image(block["image"]))
    elif "document" in block:
        document = block["document"]
        media_type = _DOCUMENT_TYPES.get(document["format"])
        if media_type is None:
            raise InvalidArgument(f"Documents of format '{document['format']}' cannot go to the Messages API.")
        data = document["source"]["bytes"]
        if media_type == "application/pdf":
            source = {"type": "base64", "media_type": media_type, "data": base64.b64encode(data).decode("ascii")}
        else:
            source = {"type": "text", "media_type": "text/plain", "data": data.decode("utf-8", "replace")}
        out.append({"type": "document", "source": source, "title": document.get("name", "document")})
    elif "toolUse" in block:
        call = block["toolUse"]
        out.append({"type": "tool_use", "id": call["toolUseId"], "name": call["name"], "input": call["input"]})
    elif "toolResult" in block:
        result = block["toolResult"]
        converted: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": result["toolUseId"],
            "content": _tool_result_content(result.get("content", [])),
        }
        if result.get("status") == "error":
            converted["is_error"] = True
        out.append(converted)
    elif "reasoningContent" in block:
        reasoning = block["reasoningContent"]
        if "reasoningText" in reasoning:
            text = reasoning["reasoningText"]
            out.append({"type": "thinking", "thinking": text.get("text", ""), "signature": text.get("signature", "")})
        elif "redactedContent" in reasoning:
            data = reasoning["redactedContent"]
            out.append({"type": "redacted_thinking", "data": data.decode("ascii") if isinstance(data, bytes) else data})
    elif "cachePoint" in block:
        _cached(out, block["cachePoint"])


def native_request(request: Mapping[str, Any], model_id: str, stream: bool) -> tuple[dict[str, Any], list[str]]:
    """The native route's body for a Converse request, and the betas for its header."""
    body: dict[str, Any] = {"model": model_id}
    config: Mapping[str, Any] = request.get("inferenceConfig", {})
    if "maxTokens" in config:
        body["max_tokens"] = config["maxTokens"]
    messages = []
    for message in request.get("messages", []):
        content: list[dict[str, Any]] = []
        for block in message.get("content", []):
            _block(block, content)
        messages.append({"role": message["role"], "content": content})
    body["messages"] = messages
    system: list[dict[str, Any]] = []
    for block in request.get("system", []):
        _block(block, system)
    if system:
        body["system"] = system
    for key, name in (("temperature", "temperature"), ("topP", "top_p"), ("stopSequences", "stop_sequences")):
        if key in config:
            body[name] = config[key]
    tool_config: Mapping[str, Any] = request.get("toolConfig", {})
    tools: list[dict[str, Any]] = []
    for tool in tool_config.get("tools", []):
        if "toolSpec" in tool:
            spec = tool["toolSpec"]
            converted = {"name": spec["name"], "input_schema": spec.get("inputSchema", {}).get("json", {})}
            if "description" in spec:
                converted["description"] = spec["description"]
            tools.append(converted)
        elif "cachePoint" in tool:
            _cached(tools, tool["cachePoint"])
    if tools:
        body["tools"] = tools
    choice: Mapping[str, Any] = tool_config.get("toolChoice", {})
    if "any" in choice:
        body["tool_choice"] = {"type": "any"}
    elif "tool" in choice:
        body["tool_choice"] = {"type": "tool", "name": choice["tool"]["name"]}
    elif "auto" in choice:
        body["tool_choice"] = {"type": "auto"}
    extra = dict(request.get("additionalModelRequestFields", {}))
    betas = extra.pop("anthropic_beta", [])
    body.update(extra)
    if stream:
        body["stream"] = True
    return body, [str(beta) for beta in betas] if isinstance(betas, list) else []


def _usage(usage: Mapping[str, Any]) -> dict[str, Any]:
    """Converse's usage for Anthropic's.

    `cache_creation`'s 1-hour writes become `cacheDetails`, so they are charged at the 1-hour price.
    """
    counts: dict[str, Any] = {
        "inputTokens": int(usage.get("input_tokens", 0)),
        "outputTokens": int(usage.get("output_tokens", 0)),
        "cacheReadInputTokens": int(usage.get("cache_read_input_tokens") or 0),
        "cacheWriteInputTokens": int(usage.get("cache_creation_input_tokens") or 0),
    }
    counts["totalTokens"] = sum(counts.values())
    by_ttl = usage.get("cache_creation")
    if isinstance(by_ttl, Mapping):
        details = [
            {"ttl": ttl, "inputTokens": int(by_ttl.get(f"ephemeral_{ttl}_input_tokens") or 0)} for ttl in ("1h", "5m")
        ]
        counts["cacheDetails"] = [detail for detail in details if detail["inputTokens"]]
    return counts


def converse_response(message: Mapping[str, Any]) -> dict[str, Any]:
    """The Converse response for a native Messages answer."""
    content: list[dict[str, Any]] = []
    for block in message.get("content", []):
        kind = block.get("type")
        if kind == "text":
            content.append({"text": block["text"]})
        elif kind == "tool_use":
            content.append({"toolUse": {"toolUseId": block["id"], "name": block["name"], "input": block["input"]}})
        elif kind == "thinking":
            reasoning = {"text": block.get("thinking", ""), "signature": block.get("signature", "")}
            content.append({"reasoningContent": {"reasoningText": reasoning}})
        elif kind == "redacted_thinking":
            content.append({"reasoningContent": {"redactedContent": str(block.get("data", "")).encode("ascii")}})
    # Anthropic's stop reasons are Converse's words too; converse.py reads `refusal` as well.
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": str(message.get("stop_reason") or "end_turn"),
        "usage": _usage(message.get("usage", {})),
        "metrics": {"latencyMs": 0},
    }


class ConverseEventsFromMessages:
    """Anthropic stream events -> the ConverseStream events the chat path reads, for one answer."""

    def __init__(self) -> None:
        self._usage: dict[str, Any] = {}
        self._stop = "end_turn"

    def feed(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The Converse events for one Anthropic event (often one, sometimes none or two)."""
        kind = event.get("type")
        if kind == "message_start":
            self._usage.update(event.get("message", {}).get("usage", {}))
            return [{"messageStart": {"role": "assistant"}}]
        if kind == "content_block_start":
            block = event.get("content_block", {})
            if block.get("type") == "tool_use":
                start = {"toolUse": {"toolUseId": block["id"], "name": block["name"]}}
                return [{"contentBlockStart": {"contentBlockIndex": event["index"], "start": start}}]
            return []
        if kind == "content_block_delta":
            return self._delta(int(event["index"]), event.get("delta", {}))
        if kind == "content_block_stop":
            return [{"contentBlockStop": {"contentBlockIndex": event["index"]}}]
        if kind == "message_delta":
            self._usage.update({k: v for k, v in event.get("usage", {}).items() if v is not None})
            self._stop = str(event.get("delta", {}).get("stop_reason") or self._stop)
            return []
        if kind == "message_stop":
            return [
                {"messageStop": {"stopReason": self._stop}},
                {"metadata": {"usage": _usage(self._usage), "metrics": {"latencyMs": 0}}},
            ]
        return []

    @staticmethod
    def _delta(index: int, delta: Mapping[str, Any]) -> list[dict[str, Any]]:
        kind = delta.get("type")
        converted: dict[str, Any]
        if kind == "text_delta":
            converted = {"text": delta.get("text", "")}
        elif kind == "input_json_delta":
            converted = {"toolUse": {"input": delta.get("partial_json", "")}}
        elif kind == "thinking_delta":
            converted = {"reasoningContent": {"text": delta.get("thinking", "")}}
        elif kind == "signature_delta":
            converted = {"reasoningContent": {"signature": delta.get("signature", "")}}
        else:
            return []
        return [{"contentBlockDelta": {"contentBlockIndex": index, "delta": converted}}]
