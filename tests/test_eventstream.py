from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from llmgw.eventstream import encode_event, encode_exception, encode_frame, encode_headers


def decode(data: bytes) -> list[tuple[dict[str, Any], bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    # to_response_dict() exposes the decoded headers (botocore-stubs types `.headers` as int).
    return [(message.to_response_dict()["headers"], message.payload) for message in buffer]


def test_event_frame_round_trips_through_botocore() -> None:
    """An event frame decodes to its three headers and the exact payload."""
    payload = json.dumps({"contentBlockIndex": 0, "delta": {"text": "héllo"}}).encode()
    [(headers, body)] = decode(encode_event("contentBlockDelta", payload))
    assert headers == {
        ":event-type": "contentBlockDelta",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    assert body == payload


def test_exception_frame_carries_exception_type() -> None:
    """An exception frame is typed by :exception-type, which botocore maps to the error code."""
    [(headers, body)] = decode(encode_exception("modelStreamErrorException", b'{"message":"boom"}'))
    assert headers[":message-type"] == "exception"
    assert headers[":exception-type"] == "modelStreamErrorException"
    assert json.loads(body) == {"message": "boom"}


def test_frames_split_across_chunks_decode_in_order() -> None:
    """Frames fed byte by byte decode in order, as they would from a chunked HTTP body."""
    frames = [encode_event("messageStart", b'{"role":"assistant"}'), encode_event("messageStop", b"{}")]
    buffer = EventStreamBuffer()
    decoded = []
    for byte in b"".join(frames):
        buffer.add_data(bytes([byte]))
        decoded += [message.to_response_dict()["headers"][":event-type"] for message in buffer]
    assert decoded == ["messageStart", "messageStop"]


def test_empty_payload_and_unicode_headers() -> None:
    """A frame with no payload and non-ASCII header values still decodes."""
    [(headers, body)] = decode(encode_frame(encode_headers({"név": "érték"}), b""))
    assert headers == {"név": "érték"}
    assert body == b""


@pytest.mark.parametrize("position", [5, 20, -2])
def test_corrupted_frame_fails_its_checksum(position: int) -> None:
    """Flipping any byte (prelude, body or CRC) makes botocore's checksum check fail."""
    frame = bytearray(encode_event("messageStop", b'{"stopReason":"end_turn"}'))
    frame[position] ^= 0x01
    with pytest.raises(ChecksumMismatch):
        decode(bytes(frame))
