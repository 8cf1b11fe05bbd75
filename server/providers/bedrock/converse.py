"""OpenAI chat requests <-> Bedrock Converse, as pure functions (ai-gateway's openai_awsbedrock).

`check_capabilities` refuses what the model cannot do before Bedrock is paid to
refuse it; `to_converse_request` builds the keyword arguments of boto3's
`converse` / `converse_stream`; `from_converse_response` reads a Converse answer
back into the gateway's proto. Every refusal is an InvalidArgument whose
message a user can act on and whose `field` names the offending request field.

This module is also the provider side's one home of JSON (tool arguments,
tool results, InvokeModel bodies), so the encoding rules live in one place.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import struct_pb2

from llmgw.server.core.catalog import CatalogModel
from llmgw.server.providers.bedrock.caching import MESSAGES, SYSTEM, TOOLS, CachePoints
from llmgw.server.providers.bedrock.explicit_thinking import plan_explicit_thinking
from llmgw.server.providers.bedrock.service_tiers import requested_tier, served_tier
from llmgw.server.providers.bedrock.thinking import (
    ThinkingSettings,
    allows_forced_tool_use,
    caller_limit,
    plan_thinking,
    sampling,
)
from llmgw.server.providers.bedrock.thinking_blocks import from_reasoning_block, to_reasoning_blocks
from llmgw.v1 import chat_pb2
from llmgw.wire.errors import InvalidArgument, UpstreamError

MAX_STOP_SEQUENCES = 4
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DATA_URL = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,(.*)$", re.DOTALL)
_SYSTEM_ROLES = (chat_pb2.ROLE_SYSTEM, chat_pb2.ROLE_DEVELOPER)

_FINISH_REASONS: Mapping[str, chat_pb2.FinishReason.ValueType] = {
    "end_turn": chat_pb2.FINISH_REASON_STOP,
    "stop_sequence": chat_pb2.FINISH_REASON_STOP,
    "max_tokens": chat_pb2.FINISH_REASON_LENGTH,
    "model_context_window_exceeded": chat_pb2.FINISH_REASON_LENGTH,
    "tool_use": chat_pb2.FINISH_REASON_TOOL_CALLS,
    "guardrail_intervened": chat_pb2.FINISH_REASON_CONTENT_FILTER,
    "content_filtered": chat_pb2.FINISH_REASON_CONTENT_FILTER,
    # Claude (Fable) declining to answer: a normal answer whose text is the refusal [10.2].
    "refusal": chat_pb2.FINISH_REASON_CONTENT_FILTER,
}
_DEFAULT_THINKING = ThinkingSettings()


@dataclass(frozen=True, slots=True)
class ConverseResult:
    """A Converse answer in the gateway's terms: the message, why it stopped, what it used."""

    message: chat_pb2.AssistantMessage
    finish_reason: chat_pb2.FinishReason.ValueType
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    service_tier: str = "default"


def cache_write_1h(usage: Mapping[str, Any]) -> int:
    """The 1-hour cache writes among Bedrock's `cacheWriteInputTokens`, from its `cacheDetails`."""
    details = usage.get("cacheDetails") or []
    return sum(int(item.get("inputTokens", 0)) for item in details if item.get("ttl") == "1h")


def finish_reason(stop_reason: str) -> chat_pb2.FinishReason.ValueType:
    """OpenAI's finish_reason for a Bedrock stopReason, shared by unary and streamed answers.

    Reasons OpenAI has no word for (`malformed_model_output`, `malformed_tool_use`)
    read as `stop`: the answer ended and there is nothing more to wait for.
    """
    return _FINISH_REASONS.get(stop_reason, chat_pb2.FINISH_REASON_STOP)


def compact_json(value: object) -> str:
    """JSON without spaces, as OpenAI spells tool-call arguments."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def parse_json_object(text: str | bytes) -> dict[str, Any] | None:
    """The JSON object in `text`, or None when it is not valid JSON or not an object."""
    try:
        value = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


# --- capability checks --------------------------------------------------------------------


def check_capabilities(params: chat_pb2.ChatCompletionParams, model: CatalogModel, *, streaming: bool) -> None:
    """Refuse a request that uses a feature the model lacks, naming the model and the feature."""
    if model.kind != "chat":
        raise InvalidArgument(
            f"The model '{model.id}' is an {model.kind} model and cannot be used for chat completions.",
            field="model",
        )
    caps = model.capabilities
    image_field = next(_image_fields(params), None)
    if image_field is not None and not caps.vision:
        raise InvalidArgument(f"The model '{model.id}' does not accept images.", field=image_field)
    tool_field = _tool_use_field(params)
    if tool_field is not None and not caps.tools:
        raise InvalidArgument(f"The model '{model.id}' does not support tools.", field=tool_field)
    if tool_field is not None and streaming and not caps.streaming_tools:
        raise InvalidArgument(
            f"The model '{model.id}' does not support tools in streamed responses; send the request without stream.",
            field=tool_field,
        )
    if not caps.system:
        for i, message in enumerate(params.messages):
            if message.role in _SYSTEM_ROLES:
                raise InvalidArgument(
                    f"The model '{model.id}' does not support system or developer messages.",
                    field=f"messages[{i}].role",
                )


def _image_fields(params: chat_pb2.ChatCompletionParams) -> Iterator[str]:
    for i, message in enumerate(params.messages):
        for j, part in enumerate(message.content):
            if _is_image(part):
                yield f"messages[{i}].content[{j}].image_url"


def _tool_use_field(params: chat_pb2.ChatCompletionParams) -> str | None:
    """The first field that makes Bedrock see tools, or None when the request uses none."""
    if params.tools and params.tool_choice.mode != chat_pb2.TOOL_CHOICE_MODE_NONE:
        return "tools"
    for i, message in enumerate(params.messages):
        if message.tool_calls:
            return f"messages[{i}].tool_calls"
        if message.role == chat_pb2.ROLE_TOOL:
            return f"messages[{i}].role"
    return None


def _is_image(part: chat_pb2.ContentPart) -> bool:
    if part.type == chat_pb2.CONTENT_PART_TYPE_UNSPECIFIED:
        return part.HasField("image_url")
    return part.type == chat_pb2.CONTENT_PART_TYPE_IMAGE_URL


# --- request ------------------------------------------------------------------------------


def to_converse_request(
    params: chat_pb2.ChatCompletionParams, model: CatalogModel, thinking: ThinkingSettings = _DEFAULT_THINKING
) -> dict[str, Any]:
    """Keyword arguments for boto3's `converse` / `converse_stream` from an OpenAI request.

    `inferenceConfig.maxTokens` is always set (the caller's limit, else the default
    limit, see thinking.py), so it is what the quota reservation may assume.
    """
    if not params.model:
        raise InvalidArgument("The request must name a model.", field="model")
    if params.HasField("n") and params.n != 1:
        raise InvalidArgument(f"Only one choice per request is supported, but n is {params.n}.", field="n")
    cache = CachePoints(model)
    system, messages = _convert_messages(params.messages, cache, thinks=bool(model.thinking.modes))
    request: dict[str, Any] = {"modelId": model.id, "messages": messages}
    if system:
        request["system"] = system
    limit = caller_limit(
        params.max_completion_tokens if params.HasField("max_completion_tokens") else None,
        params.max_tokens if params.HasField("max_tokens") else None,
    )
    if params.HasField("thinking"):
        if params.HasField("reasoning_effort"):
            raise InvalidArgument("Send either reasoning_effort or thinking, not both.", field="thinking")
        plan = plan_explicit_thinking(model, params.thinking, limit, thinking)
    else:
        plan = plan_thinking(
            model, params.reasoning_effort if params.HasField("reasoning_effort") else None, limit, thinking
        )
    request["inferenceConfig"] = _inference_config(params, model, plan.max_tokens, plan.thinking)
    tool_config = _tool_config(params, allows_forced_tool_use(model, plan.thinking), cache)
    if tool_config is not None:
        request["toolConfig"] = tool_config
    cache.check()
    if plan.fields:
        request["additionalModelRequestFields"] = plan.fields
    tier = requested_tier(params, model)
    if tier is not None:
        request["serviceTier"] = {"type": tier}
    return request


def _convert_messages(
    messages: Sequence[chat_pb2.ChatMessage], cache: CachePoints, *, thinks: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split OpenAI messages into Bedrock's system blocks and alternating user/assistant turns.

    Cache markers become cache points after the blocks they mark (caching.py); an
    assistant message's thinking blocks open its turn when the model reasons.
    """
    if not messages:
        raise InvalidArgument("The request must contain at least one message.", field="messages")
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    last_role = chat_pb2.ROLE_UNSPECIFIED
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if message.role == chat_pb2.ROLE_UNSPECIFIED:
            raise InvalidArgument(
                f"{where}.role must be one of system, developer, user, assistant or tool.", field=f"{where}.role"
            )
        if message.role in _SYSTEM_ROLES:
            system.extend(_system_blocks(message, where, cache))
            continue
        if message.role == chat_pb2.ROLE_USER:
            role, blocks = "user", _user_blocks(message, where, cache)
        elif message.role == chat_pb2.ROLE_ASSISTANT:
            reasoning = to_reasoning_blocks(message, where) if thinks else []
            role, blocks = "assistant", reasoning + _assistant_blocks(message, where, cache)
        else:
            role, blocks = "user", [_tool_result_block(message, where), *_tool_result_cache(message, where, cache)]
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
        last_role = message.role
    if not turns:
        raise InvalidArgument("The conversation needs at least one user message.", field="messages")
    if turns[0]["role"] != "user":
        raise InvalidArgument(
            "The conversation must start with a user message (after any system messages).", field="messages"
        )
    if last_role not in (chat_pb2.ROLE_USER, chat_pb2.ROLE_TOOL):
        raise InvalidArgument("The conversation must end with a user or tool message.", field="messages")
    return system, turns


def _system_blocks(message: chat_pb2.ChatMessage, where: str, cache: CachePoints) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(message.content):
        if _is_image(part):
            raise InvalidArgument("System and developer messages may contain only text.", field=f"{where}.content[{j}]")
        if part.text:
            blocks.append({"text": part.text})
            blocks.extend(cache.after(part, f"{where}.content[{j}]", SYSTEM))
    if blocks:
        blocks.extend(cache.after(message, where, SYSTEM))
    return blocks


def _user_blocks(message: chat_pb2.ChatMessage, where: str, cache: CachePoints) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(message.content):
        if _is_image(part):
            blocks.append(_image_block(part.image_url.url, f"{where}.content[{j}].image_url.url"))
        elif part.text:
            blocks.append({"text": part.text})
        else:
            continue
        blocks.extend(cache.after(part, f"{where}.content[{j}]", MESSAGES))
    if not blocks:
        raise InvalidArgument(f"{where} is a user message with no content.", field=f"{where}.content")
    blocks.extend(cache.after(message, where, MESSAGES))
    return blocks


def _image_block(url: str, field: str) -> dict[str, Any]:
    """A Converse image block from a base64 data URL; remote URLs are never fetched."""
    if url.startswith(("http://", "https://")):
        raise InvalidArgument(
            f"{field} must be a base64 data URL (data:image/png;base64,...); the gateway does not fetch remote images.",
            field=field,
        )
    match = _DATA_URL.match(url)
    if match is None:
        raise InvalidArgument(
            f"{field} must be a data URL of the form data:image/<png|jpeg|gif|webp>;base64,<data>.", field=field
        )
    try:
        data = base64.b64decode(match.group(2), validate=True)
    except binascii.Error:
        data = b""
    if not data:
        raise InvalidArgument(f"{field} does not contain valid base64 image data.", field=field)
    return {"image": {"format": match.group(1), "source": {"bytes": data}}}


def _assistant_blocks(message: chat_pb2.ChatMessage, where: str, cache: CachePoints) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(message.content):
        if _is_image(part):
            raise InvalidArgument(
                "Assistant messages may contain only text and tool calls.", field=f"{where}.content[{j}]"
            )
        if part.text:
            blocks.append({"text": part.text})
            blocks.extend(cache.after(part, f"{where}.content[{j}]", MESSAGES))
    for k, call in enumerate(message.tool_calls):
        blocks.append(_tool_use_block(call, f"{where}.tool_calls[{k}]"))
    if not blocks:
        raise InvalidArgument(f"{where} is an assistant message with neither content nor tool calls.", field=where)
    blocks.extend(cache.after(message, where, MESSAGES))
    return blocks


def _tool_result_cache(message: chat_pb2.ChatMessage, where: str, cache: CachePoints) -> list[dict[str, Any]]:
    """One cache point after a tool result marked on the message or on any of its parts (they join into one block)."""
    points = cache.after(message, where, MESSAGES)
    for j, part in enumerate(message.content):
        marked = cache.after(part, f"{where}.content[{j}]", MESSAGES)
        points = points or marked
    return points


def _tool_use_block(call: chat_pb2.ToolCall, where: str) -> dict[str, Any]:
    if not call.id:
        raise InvalidArgument(f"{where}.id is required.", field=f"{where}.id")
    if not call.function.name:
        raise InvalidArgument(f"{where}.function.name is required.", field=f"{where}.function.name")
    arguments = parse_json_object(call.function.arguments)
    if arguments is None:
        raise InvalidArgument(
            f"{where}.function.arguments must be a JSON object encoded as a string.",
            field=f"{where}.function.arguments",
        )
    return {"toolUse": {"toolUseId": call.id, "name": call.function.name, "input": arguments}}


def _tool_result_block(message: chat_pb2.ChatMessage, where: str) -> dict[str, Any]:
    if not message.tool_call_id:
        raise InvalidArgument(f"{where} is a tool message without tool_call_id.", field=f"{where}.tool_call_id")
    for j, part in enumerate(message.content):
        if _is_image(part):
            raise InvalidArgument("Tool messages may contain only text.", field=f"{where}.content[{j}]")
    text = "".join(part.text for part in message.content)
    parsed = parse_json_object(text)
    content: dict[str, Any] = {"json": parsed} if parsed is not None else {"text": text}
    return {"toolResult": {"toolUseId": message.tool_call_id, "content": [content], "status": "success"}}


def _inference_config(
    params: chat_pb2.ChatCompletionParams, model: CatalogModel, max_tokens: int, thinking: bool
) -> dict[str, Any]:
    # The limit is always sent explicitly: the answer then can never be longer than the
    # output bound the quota ledger reserved for it.
    config: dict[str, Any] = {"maxTokens": max_tokens}
    temperature = params.temperature if params.HasField("temperature") else None
    if temperature is not None and not 0 <= temperature <= 2:
        raise InvalidArgument(f"temperature must be between 0 and 2, but is {temperature}.", field="temperature")
    top_p = params.top_p if params.HasField("top_p") else None
    if top_p is not None and not 0 <= top_p <= 1:
        raise InvalidArgument(f"top_p must be between 0 and 1, but is {top_p}.", field="top_p")
    config.update(sampling(model, temperature, top_p, thinking))
    if params.stop:
        if len(params.stop) > MAX_STOP_SEQUENCES:
            raise InvalidArgument(
                f"At most {MAX_STOP_SEQUENCES} stop sequences are allowed, but {len(params.stop)} were given.",
                field="stop",
            )
        if not all(params.stop):
            raise InvalidArgument("Stop sequences must not be empty.", field="stop")
        config["stopSequences"] = list(params.stop)
    return config


def _tool_config(
    params: chat_pb2.ChatCompletionParams, allow_forced: bool, cache: CachePoints
) -> dict[str, Any] | None:
    """Bedrock's toolConfig, or None when no tools are sent (none given, or tool_choice none).

    A forced choice (`required` or a named function) goes as `auto` where the model
    refuses forced tool use (`allow_forced` false): the tools stay offered.
    """
    mode = params.tool_choice.mode
    if mode in (chat_pb2.TOOL_CHOICE_MODE_REQUIRED, chat_pb2.TOOL_CHOICE_MODE_FUNCTION) and not params.tools:
        raise InvalidArgument("tool_choice requires a tool, but the request has no tools.", field="tool_choice")
    if not params.tools or mode == chat_pb2.TOOL_CHOICE_MODE_NONE:
        return None
    specs = [_tool_spec(tool, f"tools[{i}]") for i, tool in enumerate(params.tools)]
    names = [spec["toolSpec"]["name"] for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InvalidArgument(f"Tool names must be unique; '{duplicates[0]}' appears more than once.", field="tools")
    entries: list[dict[str, Any]] = []
    for i, (tool, spec) in enumerate(zip(params.tools, specs, strict=True)):
        entries.append(spec)
        entries.extend(cache.after(tool, f"tools[{i}]", TOOLS))
    config: dict[str, Any] = {"tools": entries}
    if mode == chat_pb2.TOOL_CHOICE_MODE_FUNCTION and params.tool_choice.function.name not in names:
        raise InvalidArgument(
            f"tool_choice names the function '{params.tool_choice.function.name}', "
            "which is not one of the request's tools.",
            field="tool_choice.function.name",
        )
    if mode == chat_pb2.TOOL_CHOICE_MODE_REQUIRED and allow_forced:
        config["toolChoice"] = {"any": {}}
    elif mode == chat_pb2.TOOL_CHOICE_MODE_FUNCTION and allow_forced:
        config["toolChoice"] = {"tool": {"name": params.tool_choice.function.name}}
    else:
        config["toolChoice"] = {"auto": {}}
    return config


def _tool_spec(tool: chat_pb2.Tool, where: str) -> dict[str, Any]:
    if tool.type not in ("", "function"):
        raise InvalidArgument(f"{where}.type must be 'function', but is '{tool.type}'.", field=f"{where}.type")
    function = tool.function
    if not _TOOL_NAME.match(function.name):
        raise InvalidArgument(
            f"{where}.function.name must be 1 to 64 letters, digits, '_' or '-', but is '{function.name}'.",
            field=f"{where}.function.name",
        )
    schema: dict[str, Any]
    if function.HasField("parameters"):
        schema = _struct_to_python(function.parameters)
    else:
        schema = {"type": "object", "properties": {}}
    spec: dict[str, Any] = {"name": function.name, "inputSchema": {"json": schema}}
    if function.description:
        spec["description"] = function.description
    return {"toolSpec": spec}


def _struct_to_python(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct as plain Python, with whole numbers as ints (JSON Schema's `maxItems: 3`, not 3.0)."""
    return {key: _value_to_python(value) for key, value in struct.fields.items()}


def _value_to_python(value: struct_pb2.Value) -> object:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return _struct_to_python(value.struct_value)
    if kind == "list_value":
        return [_value_to_python(item) for item in value.list_value.values]
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() else number
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    return None


# --- response -----------------------------------------------------------------------------


def from_converse_response(response: Mapping[str, Any], requested: str | None = None) -> ConverseResult:
    """The gateway's view of a Converse answer; UpstreamError if Bedrock's shape is unreadable.

    `requested` is the service tier asked for, used when Bedrock does not report one.
    """
    try:
        blocks: Sequence[Mapping[str, Any]] = response["output"]["message"]["content"]
        usage: Mapping[str, Any] = response.get("usage", {})
        texts: list[str] = []
        reasoning: list[str] = []
        thinking_blocks: list[chat_pb2.ThinkingBlock] = []
        calls: list[chat_pb2.ToolCall] = []
        for block in blocks:
            if "text" in block:
                texts.append(block["text"])
            elif "reasoningContent" in block:
                reasoning.append(block["reasoningContent"].get("reasoningText", {}).get("text", ""))
                thinking_blocks.append(from_reasoning_block(block["reasoningContent"]))
            elif "toolUse" in block:
                tool_use = block["toolUse"]
                calls.append(
                    chat_pb2.ToolCall(
                        id=tool_use["toolUseId"],
                        type="function",
                        function=chat_pb2.FunctionCall(
                            name=tool_use["name"], arguments=compact_json(tool_use["input"])
                        ),
                    )
                )
        message = chat_pb2.AssistantMessage(
            role=chat_pb2.ROLE_ASSISTANT, tool_calls=calls, thinking_blocks=thinking_blocks
        )
        if texts:
            message.content = "".join(texts)
        if any(reasoning):
            message.reasoning_content = "".join(reasoning)
        return ConverseResult(
            message=message,
            finish_reason=finish_reason(str(response.get("stopReason", ""))),
            input_tokens=int(usage.get("inputTokens", 0)),
            output_tokens=int(usage.get("outputTokens", 0)),
            cache_read_tokens=int(usage.get("cacheReadInputTokens", 0)),
            cache_write_tokens=int(usage.get("cacheWriteInputTokens", 0)),
            cache_write_1h_tokens=cache_write_1h(usage),
            service_tier=served_tier(response, requested),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UpstreamError("Bedrock returned a Converse response the gateway could not read.") from exc
