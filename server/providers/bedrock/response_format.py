"""OpenAI's `response_format` on Converse: a tool whose input schema is the requested one.

Converse has no JSON mode that every model has (the catalog's sources disagree on native
structured outputs, reference 10.2), but every model with forced tool use answers a tool call
with that tool's input: a JSON object following the tool's input schema. So `json_object` and
`json_schema` become one more tool, the answer tool (the schema's name, or `json_answer`),
with the requested schema (any object for `json_object`):

- without the caller's tools (or with `tool_choice: none`), `toolChoice` forces the answer tool;
- with them, under `tool_choice: auto`, the answer tool joins them and `toolChoice` is `any`: the
  model either calls one of the caller's tools or answers in the format. A `required` or named
  `tool_choice` is kept as it is: that turn's answer is a call to the caller's tools anyway.

The answer tool's input comes back as the message content, its call never as a tool call:
unary in `as_json_answer`, streamed by the stream translator (stream.py) as content deltas;
text the model writes besides its calls is charged but not returned, so the content is the JSON. When
only the answer tool was called the finish reason is `stop`, as OpenAI returns a JSON answer.
A model without forced tool use (or a Claude thinking, which refuses it) is INVALID_ARGUMENT
naming `response_format`, never ignored.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from google.protobuf import json_format

from llmgw.server.core.catalog import CatalogModel
from llmgw.server.providers.bedrock.converse import ConverseResult
from llmgw.v1 import chat_pb2
from llmgw.wire.echo import echo
from llmgw.wire.errors import InvalidArgument

JSON_OBJECT_TOOL = "json_answer"
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FIELD = "response_format"
_JSON_TYPES = (chat_pb2.RESPONSE_FORMAT_TYPE_JSON_OBJECT, chat_pb2.RESPONSE_FORMAT_TYPE_JSON_SCHEMA)


def wants_json(params: chat_pb2.ChatCompletionParams) -> bool:
    """Whether the request asks for a JSON answer."""
    return params.HasField("response_format") and params.response_format.type in _JSON_TYPES


def answer_tool_name(params: chat_pb2.ChatCompletionParams) -> str:
    """The name of the answer tool of a request that wants JSON (checked in `json_tool_config`)."""
    if params.response_format.type == chat_pb2.RESPONSE_FORMAT_TYPE_JSON_SCHEMA:
        return params.response_format.json_schema.name
    return JSON_OBJECT_TOOL


def _answer_tool(params: chat_pb2.ChatCompletionParams) -> dict[str, Any]:
    """The answer tool's toolSpec entry."""
    description, schema = "Give the answer as this tool's input.", {"type": "object"}
    if params.response_format.type == chat_pb2.RESPONSE_FORMAT_TYPE_JSON_SCHEMA:
        spec = params.response_format.json_schema
        if not _NAME.fullmatch(spec.name):
            raise InvalidArgument(
                f"response_format.json_schema.name must be 1 to 64 letters, digits, '_' or '-', got {echo(spec.name)}.",
                field="response_format.json_schema.name",
            )
        if not spec.HasField("schema"):
            raise InvalidArgument("response_format.json_schema.schema is required.", field=f"{_FIELD}.json_schema")
        schema = json_format.MessageToDict(spec.schema)
        if spec.description:
            description = spec.description
    name = answer_tool_name(params)
    if any(tool.function.name == name for tool in params.tools):
        raise InvalidArgument(
            f"One of the request's tools is named '{name}', like the response_format answer; rename one of them.",
            field=_FIELD,
        )
    return {"toolSpec": {"name": name, "description": description, "inputSchema": {"json": schema}}}


def json_tool_config(
    params: chat_pb2.ChatCompletionParams,
    model: CatalogModel,
    caller_config: dict[str, Any] | None,
    forced_tool_use: bool,
    *,
    streaming: bool,
) -> dict[str, Any]:
    """Converse's toolConfig for a JSON answer, given the caller's own (None when no tools are sent).

    InvalidArgument when the model cannot be made to answer in the format.
    """
    if not model.capabilities.tools or not forced_tool_use:
        raise InvalidArgument(
            f"The model '{model.id}' cannot give a JSON answer here: response_format needs forced tool use "
            "(and, on Claude, no extended thinking).",
            field=_FIELD,
        )
    if streaming and not model.capabilities.streaming_tools:
        raise InvalidArgument(
            f"The model '{model.id}' cannot stream a JSON answer (it does not stream tool use); "
            "send the request without stream.",
            field=_FIELD,
        )
    answer = _answer_tool(params)
    if caller_config is None:
        return {"tools": [answer], "toolChoice": {"tool": {"name": answer["toolSpec"]["name"]}}}
    if "auto" not in caller_config["toolChoice"]:
        return caller_config
    return {"tools": [*caller_config["tools"], answer], "toolChoice": {"any": {}}}


def as_json_answer(result: ConverseResult, answer_tool: str) -> ConverseResult:
    """The answer tool's input as the message content; the caller's tool calls stay tool calls.

    Text besides the calls (a preamble) is not the answer and is left out, as when streamed.
    The finish reason is `stop` when the answer tool was the only call.
    """
    answers = [call for call in result.message.tool_calls if call.function.name == answer_tool]
    message = chat_pb2.AssistantMessage()
    message.CopyFrom(result.message)
    del message.tool_calls[:]
    message.tool_calls.extend(call for call in result.message.tool_calls if call.function.name != answer_tool)
    if answers:
        message.content = answers[0].function.arguments
    elif message.tool_calls:
        message.ClearField("content")
    finish = result.finish_reason
    if finish == chat_pb2.FINISH_REASON_TOOL_CALLS and not message.tool_calls:
        finish = chat_pb2.FINISH_REASON_STOP
    return replace(result, message=message, finish_reason=finish)
