"""SSE framing."""

from __future__ import annotations

from llmgw.bridge import sse


def test_framing() -> None:
    """An event is `data: <json>` and a blank line; the end is `data: [DONE]`."""
    assert sse.event(b'{"a":1}') == b'data: {"a":1}\n\n'
    assert sse.DONE == b"data: [DONE]\n\n"
    assert (b"content-type", b"text/event-stream; charset=utf-8") in sse.HEADERS
