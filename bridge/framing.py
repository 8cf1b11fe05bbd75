"""How one HTTP API looks on the wire: error bodies, streamed events, the stream's end.

The route table gives every route its API's `Framing` (`routes.HttpApi`, declared per service
in `app.create_app`); the app never asks which API it is serving. Three exist:

- OpenAI's (`openai_shapes.py`, the default): errors as `{"error": {...}}`, each streamed
  message one `data:` event, `data: [DONE]` at the end (`sse.py`);
- Anthropic's (`anthropic_shapes.py`), for MessagesService: Anthropic's error JSON and named
  SSE events;
- Bedrock's (`bedrock_shapes.py`), for BedrockService: Bedrock's error JSON with an
  `x-amzn-errortype` header, and the stream's bytes relayed as they are (`google.api.HttpBody`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from llmgw.bridge.errors import OpenAIError

Headers = list[tuple[bytes, bytes]]


class Framing(Protocol):
    """The wire shapes of one family of routes."""

    def error(self, error: OpenAIError) -> tuple[bytes, Headers]:
        """An error response's body and its extra headers (beyond content type and length)."""

    def stream_headers(self, content_type: str | None) -> Headers:
        """The headers of a stream; `content_type` is the first message's own, for raw bodies."""

    def stream_item(self, payload: dict[str, object] | bytes) -> bytes | None:
        """One streamed message on the wire: a JSON payload, or raw bytes; None if it cannot be serialized."""

    def stream_error(self, error: OpenAIError) -> bytes:
        """The in-band error that ends a stream whose headers are already out."""

    def stream_end(self) -> bytes:
        """What ends a stream that succeeded (may be empty)."""


def retry_headers(error: OpenAIError) -> Headers:
    """`Retry-After` when the server said how long to wait."""
    return [] if error.retry_after is None else [(b"retry-after", str(error.retry_after).encode())]


def fallback_stream_error(framing: Framing) -> bytes:
    """The in-band error for a message that could not be serialized."""
    return framing.stream_error(OpenAIError(500, "internal error", "api_error"))


def allow_header(allow: Sequence[str]) -> Headers:
    """`Allow` for a 405."""
    return [(b"allow", ", ".join(allow).encode())] if allow else []
