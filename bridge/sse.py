"""Server-sent events framing as the OpenAI SDKs read it.

Each chunk is one `data: {json}` event, flushed on its own; the success path ends with
`data: [DONE]`. An error after the headers are out is one `data: {"error": {...}}` event and
the stream closes without `[DONE]` (openai-python raises APIError on exactly that).
"""

from __future__ import annotations

HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # tells nginx-like proxies in front not to buffer the stream
]
DONE = b"data: [DONE]\n\n"


def event(data: bytes) -> bytes:
    """One event carrying a JSON document (which never contains a raw newline)."""
    return b"data: " + data + b"\n\n"
