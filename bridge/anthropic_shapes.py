"""Anthropic's Messages API shapes on `/v1/messages`: input hooks and the wire framing.

Input hooks (`ANTHROPIC_SHAPES`, keyed by field name), for the fields Anthropic accepts
as a string or a list of blocks: `"s"` -> `[{"type": "text", "text": "s"}]` (message content,
the system prompt, a tool result's content). Free-form JSON objects (a tool call's `input`, a
tool's `input_schema`) are held in the proto as their JSON text (messages.proto says why):
`json_text` writes them in on the way in, and the output hook `json_value` reads them back out,
key order kept both ways.

`AnthropicFraming` gives these routes Anthropic's error JSON,
`{"type": "error", "error": {"type": ..., "message": ...}}`, with the error type chosen by
HTTP status as the Anthropic SDKs read it, and its SSE: each event is `event: <type>` plus
`data: <json>`, with no `[DONE]`; an error after the headers is an `error` event. Refusals
no retry can fix (quota used up, model not allowed) carry `x-should-retry: false`, which the
Anthropic SDKs (and so Claude Code) honour instead of retrying a 429 or 403.
"""

from __future__ import annotations

from llmgw.bridge.codec import dumps, loads
from llmgw.bridge.errors import ClientError, OpenAIError
from llmgw.bridge.framing import Headers, retry_headers
from llmgw.bridge.routes import HttpApi, InputHook, JsonShapes, OutputHook

SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]

#: Anthropic's error `type` for each HTTP status the gateway sends.
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    504: "api_error",
}
#: Error codes a retry cannot fix; told to the SDKs with `x-should-retry: false`.
FINAL_CODES = frozenset({"quota_exceeded", "model_access_denied", "invalid_api_key"})
_FALLBACK = b'{"type":"error","error":{"type":"api_error","message":"internal error"}}'


def text_blocks(value: object, where: str) -> object:
    """A plain string is one text block; a list of blocks passes through."""
    if isinstance(value, str):
        return [{"type": "text", "text": value}]
    return value


def json_text(value: object, where: str) -> object:
    """A JSON object as its compact text (key order kept), for a field that holds JSON text."""
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, dict):
        raise ClientError(f"{where}: expected an object", param=where)
    return dumps(value).decode()


def json_value(text: object) -> object:
    """The JSON value a JSON-text field holds, for the response; the text itself if it is not JSON."""
    if not isinstance(text, str):
        return text
    try:
        return loads(text.encode())
    except ValueError:
        return text


INPUT_HOOKS: dict[str, InputHook] = {
    "llmgw.v1.InputMessage.content": text_blocks,
    "llmgw.v1.MessageParams.system": text_blocks,
    "llmgw.v1.ContentBlock.content": text_blocks,
    "llmgw.v1.ContentBlock.input": json_text,
    "llmgw.v1.MessageTool.input_schema": json_text,
}
OUTPUT_HOOKS: dict[str, OutputHook] = {
    "llmgw.v1.ContentBlock.input": json_value,
    "llmgw.v1.MessageTool.input_schema": json_value,
}


def error_payload(error: OpenAIError) -> dict[str, object]:
    """Anthropic's error object for an error."""
    kind = ERROR_TYPES.get(error.http_status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": error.message}}


def _json(payload: dict[str, object]) -> bytes:
    try:
        return dumps(payload)
    except (TypeError, ValueError):
        return _FALLBACK


def _complete_start(payload: dict[str, object]) -> dict[str, object]:
    """A `message_start` message as the SDKs expect it: empty content and null stop fields present."""
    message = payload.get("message")
    if payload.get("type") == "message_start" and isinstance(message, dict):
        message.setdefault("content", [])
        message.setdefault("stop_reason", None)
        message.setdefault("stop_sequence", None)
    return payload


class AnthropicFraming:
    """Anthropic's error JSON and named server-sent events."""

    def error(self, error: OpenAIError) -> tuple[bytes, Headers]:
        """The error body, `Retry-After` and `x-should-retry: false` for final refusals."""
        headers = retry_headers(error)
        if error.code in FINAL_CODES:
            headers.append((b"x-should-retry", b"false"))
        return _json(error_payload(error)), headers

    def stream_headers(self, content_type: str | None) -> Headers:
        """Server-sent events."""
        return SSE_HEADERS

    def stream_item(self, payload: dict[str, object] | bytes) -> bytes | None:
        """`event: <type>` and `data: <json>`."""
        if isinstance(payload, bytes):
            return None
        try:
            data = dumps(_complete_start(payload))
        except (TypeError, ValueError):
            return None
        name = payload.get("type")
        return b"event: " + str(name).encode() + b"\ndata: " + data + b"\n\n"

    def stream_error(self, error: OpenAIError) -> bytes:
        """An `error` event."""
        return b"event: error\ndata: " + _json(error_payload(error)) + b"\n\n"

    def stream_end(self) -> bytes:
        """Nothing: `message_stop` was the last event."""
        return b""


ANTHROPIC = AnthropicFraming()
ANTHROPIC_SHAPES = JsonShapes(input_hooks=INPUT_HOOKS, output_hooks=OUTPUT_HOOKS)
ANTHROPIC_API = HttpApi(ANTHROPIC_SHAPES, ANTHROPIC)
"""Anthropic's Messages API, as MessagesService speaks it over HTTP."""
