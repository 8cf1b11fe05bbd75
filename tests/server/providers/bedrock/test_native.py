"""The native Messages route's SSE reader, over bytes cut at awkward places."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest
from botocore.awsrequest import AWSResponse

from llmgw.server.providers.bedrock.native import NativeError, SseEvents

STREAM = (
    b'event: message_start\ndata: {"type":"message_start"}\n\n'
    b'event: ping\r\ndata: {"type":"ping"}\r\n\r\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"text":"a\\nb"}}\n\n'
)


class _Raw:
    """A urllib3-like body that hands out its bytes in fixed-size pieces."""

    def __init__(self, data: bytes, size: int) -> None:
        self.data = data
        self.size = size
        self.closed = False

    def stream(self, amount: int, decode_content: bool = True) -> Iterator[bytes]:
        for start in range(0, len(self.data), self.size):
            yield self.data[start : start + self.size]

    def close(self) -> None:
        self.closed = True


def events(data: bytes, size: int) -> SseEvents:
    response = AWSResponse("http://x", 200, cast(Any, {}), cast(Any, _Raw(data, size)))
    return SseEvents(response)


@pytest.mark.parametrize("size", [1, 7, 4096])
def test_events_come_whole_however_the_bytes_are_cut(size: int) -> None:
    """Each event's data arrives once, in InvokeModelWithResponseStream's chunk shape."""
    assert [event["chunk"]["bytes"] for event in events(STREAM, size)] == [
        b'{"type":"message_start"}',
        b'{"type":"ping"}',
        b'{"type":"content_block_delta","delta":{"text":"a\\nb"}}',
    ]


def test_an_error_event_raises() -> None:
    """An in-stream `error` event ends the stream with its message."""
    data = b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"busy"}}\n\n'
    with pytest.raises(NativeError, match="busy"):
        list(events(data, 5))
