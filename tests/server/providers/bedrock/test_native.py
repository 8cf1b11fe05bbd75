"""The native Messages route's wire rules: its SSE decoder over bytes cut at awkward places, headers, errors."""

from __future__ import annotations

from typing import Any

import pytest

from llmgw.server.providers.bedrock import native
from llmgw.server.providers.bedrock.errors import map_bedrock_error
from llmgw.wire.errors import InvalidArgument, ModelNotFound, UpstreamThrottled

STREAM = (
    b'event: message_start\ndata: {"type":"message_start"}\n\n'
    b'event: ping\r\ndata: {"type":"ping"}\r\n\r\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"text":"a\\nb"}}\n\n'
)
ERROR = b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"busy"}}\n\n'


def decode(data: bytes, size: int) -> tuple[list[dict[str, Any]], native.NativeError | None]:
    """Feed `data` in pieces of `size` bytes; the events and the error, as a stream would see them."""
    decoder = native.SseDecoder()
    events: list[dict[str, Any]] = []
    for start in range(0, len(data), size):
        found, failure = decoder.feed(data[start : start + size])
        events.extend(found)
        if failure is not None:
            return events, failure
    return events, None


@pytest.mark.parametrize("size", [1, 7, 4096])
def test_events_come_whole_however_the_bytes_are_cut(size: int) -> None:
    """Each event's data arrives once, byte for byte, in InvokeModelWithResponseStream's chunk shape."""
    events, failure = decode(STREAM, size)
    assert failure is None
    assert [event["chunk"]["bytes"] for event in events] == [
        b'{"type":"message_start"}',
        b'{"type":"ping"}',
        b'{"type":"content_block_delta","delta":{"text":"a\\nb"}}',
    ]


@pytest.mark.parametrize("size", [5, 4096])
def test_an_error_event_ends_the_stream_after_the_events_before_it(size: int) -> None:
    """An in-stream `error` event is a NativeError with its message, after every event before it."""
    events, failure = decode(STREAM + ERROR, size)
    assert len(events) == 3
    assert failure is not None
    assert (failure.status, failure.message) == (0, "busy")


def test_headers_pin_the_version_and_join_the_betas() -> None:
    """anthropic-version is always sent; betas go comma-joined in anthropic-beta, and only when there are some."""
    assert native.headers(["a-1", "b-2"]) == {"anthropic-version": "2023-06-01", "anthropic-beta": "a-1,b-2"}
    assert native.headers([]) == {"anthropic-version": "2023-06-01"}


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (
            400,
            b'{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: required"}}',
            InvalidArgument,
            "max_tokens: required",
        ),
        (400, b'{"message":"messages: at least one"}', InvalidArgument, "messages: at least one"),
        (
            429,
            b'{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}',
            UpstreamThrottled,
            "too busy",
        ),
        (404, b"not json", ModelNotFound, "does not offer"),
    ],
)
def test_refusals_map_by_status_with_bedrocks_message(status: int, body: bytes, error: type, text: str) -> None:
    """An error answer of either body style maps by its status, keeping a validation message for the caller."""
    mapped = map_bedrock_error(native.refusal(status, body), "m")
    assert isinstance(mapped, error)
    assert text in mapped.message


def test_a_200_for_an_unknown_route_is_a_not_found() -> None:
    """Bedrock's UnknownOperationException body, even with 200, means the route is not served there."""
    with pytest.raises(native.NativeError) as caught:
        native.checked_answer(b'{"Output":{"__type":"com.amazon.coral.service#UnknownOperationException"}}')
    assert caught.value.status == 404
    assert native.checked_answer(b'{"type":"message"}') == b'{"type":"message"}'
