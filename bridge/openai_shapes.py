"""The OpenAI request shapes that are not plain proto JSON, each rewritten in one small hook.

A hook receives a field's decoded JSON value and its path (for error messages) and returns the
value in proto JSON shape; `transcode.parse_into` calls it before the generic rules, so a hook
only reshapes and never touches protobuf. The hooks, by field:

- `ChatMessage.content`: a string is one text part, `"s"` -> `[{"type": "text", "text": "s"}]`
  (`""` -> no parts, as assistant messages with only tool calls send it); a list passes through.
- `ChatCompletionParams.stop`, `CreateEmbeddingRequest.input`: a string is a one-item list.
- `ChatCompletionParams.tool_choice`: `"auto"` / `"none"` / `"required"` -> `{"mode": ...}`;
  `{"type": "function", "function": {...}}` -> `{"mode": "function", "function": {...}}`.

JSON `null` meaning "absent" is a generic rule of `transcode`, not a hook. The `stream: true`
switch to the server-streaming RPC is `StreamFlagDispatcher`, declared in `DISPATCHERS` for the
one endpoint that needs it. `OPENAI_SHAPES` bundles the hooks with the output rules OpenAI's
shapes need (an unset enum left out of a streamed `delta`) and the gateway's money rule (a
`*_usd` amount may be sent as a number); the route table hands them to the transcoder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llmgw.bridge import sse
from llmgw.bridge.codec import dumps
from llmgw.bridge.errors import ClientError, OpenAIError
from llmgw.bridge.framing import Headers, retry_headers
from llmgw.bridge.routes import Dispatcher, InputHook, JsonShapes, Route, RouteTableError


def content_parts(value: object, where: str) -> object:
    """Message content: a plain string is a single text part."""
    if isinstance(value, str):
        return [{"type": "text", "text": value}] if value else []
    return value


def string_or_list(value: object, where: str) -> object:
    """A field OpenAI accepts as one string or a list of strings."""
    return [value] if isinstance(value, str) else value


def tool_choice(value: object, where: str) -> object:
    """OpenAI's string and object forms of `tool_choice` as the proto ToolChoice message."""
    if isinstance(value, str):
        return {"mode": value}
    if isinstance(value, dict) and "mode" not in value and "type" in value:
        if value["type"] != "function":
            raise ClientError(f"{where}.type: unknown value {value['type']!r}", param=f"{where}.type")
        return {"mode": "function", "function": value.get("function")}
    return value


INPUT_HOOKS: dict[str, InputHook] = {
    "llmgw.v1.ChatMessage.content": content_parts,
    "llmgw.v1.ChatCompletionParams.stop": string_or_list,
    "llmgw.v1.ChatCompletionParams.tool_choice": tool_choice,
    "llmgw.v1.CreateEmbeddingRequest.input": string_or_list,
}


@dataclass(frozen=True, slots=True)
class StreamFlagDispatcher:
    """Splits a unary and a server-streaming RPC on one endpoint by a boolean body field.

    OpenAI has one URL for both answers and says which with `"stream": true`; absent, null and
    false mean the unary RPC.
    """

    field: str

    def check(self, routes: Sequence[Route]) -> None:
        """Exactly one unary and one server-streaming route."""
        if sorted(route.server_streaming for route in routes) != [False, True]:
            raise RouteTableError(f"stream dispatch needs one unary and one streaming RPC, got {len(routes)} routes")

    def choose(self, routes: Sequence[Route], body: object) -> Route:
        """The streaming route when the body's flag is true, else the unary one."""
        flag = body.get(self.field) if isinstance(body, dict) else None
        if flag is not None and not isinstance(flag, bool):
            raise ClientError(f"{self.field}: expected a boolean", param=self.field)
        streaming = flag is True
        return next(route for route in routes if route.server_streaming == streaming)


DISPATCHERS: dict[frozenset[str], Dispatcher] = {
    frozenset(
        {"llmgw.v1.ChatService.CreateChatCompletion", "llmgw.v1.ChatService.StreamChatCompletion"}
    ): StreamFlagDispatcher("stream"),
    # Anthropic's Messages API switches between its unary and streamed answers the same way.
    frozenset({"llmgw.v1.MessagesService.CreateMessage", "llmgw.v1.MessagesService.StreamMessage"}): (
        StreamFlagDispatcher("stream")
    ),
}


class OpenAIFraming:
    """OpenAI's wire shapes: the SDKs' error body, `data:` events and `[DONE]`."""

    def error(self, error: OpenAIError) -> tuple[bytes, Headers]:
        """OpenAI's `{"error": {...}}` body."""
        return error.body(), retry_headers(error)

    def stream_headers(self, content_type: str | None) -> Headers:
        """Server-sent events."""
        return sse.HEADERS

    def stream_item(self, payload: dict[str, object] | bytes) -> bytes | None:
        """One `data:` event."""
        if isinstance(payload, bytes):
            return sse.event(payload)
        try:
            return sse.event(dumps(payload))
        except (TypeError, ValueError):
            return None

    def stream_error(self, error: OpenAIError) -> bytes:
        """One `data: {"error": ...}` event."""
        return sse.event(error.body())

    def stream_end(self) -> bytes:
        """`data: [DONE]`."""
        return sse.DONE


OPENAI_FRAMING = OpenAIFraming()


OPENAI_SHAPES = JsonShapes(
    input_hooks=INPUT_HOOKS,
    # `role` appears in a chunk's first delta only; later deltas leave it out rather than null.
    omit_unset_enums=frozenset({"llmgw.v1.ChoiceDelta"}),
    numeric_string_suffix="_usd",
)
