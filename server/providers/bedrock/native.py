"""Bedrock Runtime's native Anthropic Messages route, `POST /anthropic/v1/messages`: its wire rules.

boto3 has no operation for this route (reference section 10.5); `client.BedrockClient` sends
it through the same signed event-loop transport as every other call (signing name `bedrock`).
This module holds what is particular to the route, with no I/O of its own: the headers it
takes (`anthropic-version` pinned, betas in `anthropic-beta`), its errors, and the parsing of
its streamed answer.

A streamed answer is `text/event-stream`; `SseDecoder` is fed the bytes as they arrive, cut
anywhere, and returns each event's `data` in the shape InvokeModelWithResponseStream's events
have (`{"chunk": {"bytes": ...}}`), so the services read both streams alike. An `error` event
ends the stream with `NativeError`. Failures carry the HTTP status and Bedrock's message;
`errors.map_bedrock_error` maps them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from llmgw.server.providers.bedrock.anthropic import NATIVE_ANTHROPIC_VERSION

PATH = "/anthropic/v1/messages"
SSE = "text/event-stream"


class NativeError(Exception):
    """The native route refused or failed: its HTTP status (0 inside a stream) and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def headers(betas: Sequence[str], version: str = NATIVE_ANTHROPIC_VERSION) -> dict[str, str]:
    """The route's own request headers, besides content type, accept and the signature."""
    sent = {"anthropic-version": version}
    if betas:
        sent["anthropic-beta"] = ",".join(betas)
    return sent


def refusal(status: int, body: bytes) -> NativeError:
    """The error for an answer with a non-2xx status, with Bedrock's message from its body."""
    return NativeError(status, _message_of(body))


def checked_answer(content: bytes) -> bytes:
    """A unary answer's bytes, unless they are Bedrock's answer to a route it does not serve."""
    if b"UnknownOperationException" in content[:200]:  # Bedrock answers unknown routes so, even with 200
        raise NativeError(404, "Bedrock does not serve the Messages API at this endpoint")
    return content


def _message_of(body: bytes) -> str:
    """Bedrock's error text from an Anthropic-style or AWS-style error body."""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    error = data.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    message = data.get("message") or data.get("Message")
    return message if isinstance(message, str) else ""


class SseDecoder:
    """The events of one Server-sent event stream, from its bytes in pieces cut anywhere."""

    def __init__(self) -> None:
        self._buffer = b""
        self._name = ""
        self._data: list[bytes] = []

    def feed(self, piece: bytes) -> tuple[list[dict[str, Any]], NativeError | None]:
        """The events that `piece` completes, and the in-stream error that followed them, if any."""
        events: list[dict[str, Any]] = []
        buffer = self._buffer + piece
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            line = buffer[start:end].rstrip(b"\r")
            start = end + 1
            if line.startswith(b"event:"):
                self._name = line[6:].strip().decode("utf-8", "replace")
            elif line.startswith(b"data:"):
                self._data.append(line[5:].strip())
            elif not line and self._data:
                payload = b"\n".join(self._data)
                name, self._name, self._data = self._name, "", []
                if name == "error":
                    self._buffer = buffer[start:]
                    return events, NativeError(0, _message_of(payload) or "the model stopped while streaming")
                events.append({"chunk": {"bytes": payload}})
        self._buffer = buffer[start:]
        return events, None
