"""OpenAI's `response_format` on Converse: a forced tool whose input schema is the requested one.

Converse has no JSON mode. A model that must call a tool, though, answers with that tool's
input, a JSON object following the tool's input schema. So `json_object` and `json_schema`
become one tool (the schema's name, or `json_answer`) with the requested schema (any object
for `json_object`) and `toolChoice` forcing it; the tool's input comes back as the message
content, with finish reason `stop`, as OpenAI returns a JSON answer. It needs forced tool use,
and cannot be mixed with the caller's own tools or (for now) a streamed answer: those are
INVALID_ARGUMENT naming `response_format`, never ignored.
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


def json_tool_config(
    params: chat_pb2.ChatCompletionParams, model: CatalogModel, forced_tool_use: bool, streaming: bool
) -> dict[str, Any]:
    """Converse's toolConfig for a JSON answer; InvalidArgument when it cannot be honoured."""
    if streaming:
        raise InvalidArgument("response_format json_object/json_schema is not supported with stream.", field=_FIELD)
    if params.tools:
        raise InvalidArgument("response_format json_object/json_schema cannot be combined with tools.", field=_FIELD)
    if not model.capabilities.tools or not forced_tool_use:
        raise InvalidArgument(
            f"The model '{model.id}' cannot give a JSON answer here: response_format needs forced tool use "
            "(and, on Claude, no extended thinking).",
            field=_FIELD,
        )
    name, description, schema = JSON_OBJECT_TOOL, "Give the answer as this tool's input.", {"type": "object"}
    if params.response_format.type == chat_pb2.RESPONSE_FORMAT_TYPE_JSON_SCHEMA:
        spec = params.response_format.json_schema
        if not _NAME.fullmatch(spec.name):
            raise InvalidArgument(
                f"response_format.json_schema.name must be 1 to 64 letters, digits, '_' or '-', got {echo(spec.name)}.",
                field="response_format.json_schema.name",
            )
        if not spec.HasField("schema"):
            raise InvalidArgument("response_format.json_schema.schema is required.", field=f"{_FIELD}.json_schema")
        name, schema = spec.name, json_format.MessageToDict(spec.schema)
        if spec.description:
            description = spec.description
    return {
        "tools": [{"toolSpec": {"name": name, "description": description, "inputSchema": {"json": schema}}}],
        "toolChoice": {"tool": {"name": name}},
    }


def as_json_answer(result: ConverseResult) -> ConverseResult:
    """The forced tool's input as the message content, finish reason `stop`, no tool calls."""
    message = chat_pb2.AssistantMessage(role=chat_pb2.ROLE_ASSISTANT)
    if result.message.tool_calls:
        message.content = result.message.tool_calls[0].function.arguments
    elif result.message.HasField("content"):
        message.content = result.message.content
    if result.message.HasField("reasoning_content"):
        message.reasoning_content = result.message.reasoning_content
    finish = result.finish_reason
    if finish == chat_pb2.FINISH_REASON_TOOL_CALLS:
        finish = chat_pb2.FINISH_REASON_STOP
    return replace(result, message=message, finish_reason=finish)
