from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping
from typing import Any

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer, ParserError
from hypothesis import given, settings
from hypothesis import strategies as st

from llmgw.eventstream import FrameDecoder, HeaderValue, encode_event, encode_exception, encode_frame, encode_headers


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


# Every header type of the format, as (type byte, strategy for its value, encoder of the value).
_HEADER_TYPES: list[tuple[int, st.SearchStrategy[Any], Any]] = [
    (0, st.just(True), lambda _: b""),
    (1, st.just(False), lambda _: b""),
    (2, st.integers(-(2**7), 2**7 - 1), struct.Struct(">b").pack),
    (3, st.integers(-(2**15), 2**15 - 1), struct.Struct(">h").pack),
    (4, st.integers(-(2**31), 2**31 - 1), struct.Struct(">i").pack),
    (5, st.integers(-(2**63), 2**63 - 1), struct.Struct(">q").pack),
    (6, st.binary(max_size=40), lambda value: struct.pack(">H", len(value)) + value),
    (7, st.text(max_size=40), lambda value: struct.pack(">H", len(value.encode())) + value.encode()),
    (8, st.integers(0, 2**62), struct.Struct(">q").pack),
    (9, st.binary(min_size=16, max_size=16), lambda value: value),
]


@st.composite
def _typed_header(draw: st.DrawFn) -> tuple[str, bytes]:
    """One header of any type: its name and its encoded bytes."""
    name = draw(st.text(min_size=1, max_size=12).filter(lambda text: len(text.encode()) < 256))
    kind, values, encode = draw(st.sampled_from(_HEADER_TYPES))
    raw_name = name.encode()
    return name, bytes([len(raw_name)]) + raw_name + bytes([kind]) + encode(draw(values))


@st.composite
def _frame(draw: st.DrawFn) -> bytes:
    """A well-formed frame with headers of every type and any payload."""
    headers = dict(draw(st.lists(_typed_header(), max_size=6, unique_by=lambda header: header[0])))
    return encode_frame(b"".join(headers.values()), draw(st.binary(max_size=300)))


def _cut(data: bytes, cuts: list[int]) -> list[bytes]:
    """`data` in pieces, cut at the given offsets."""
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    return [data[start:end] for start, end in zip([0, *points], [*points, len(data)], strict=True)]


def _ours(pieces: list[bytes]) -> tuple[list[tuple[dict[str, HeaderValue], bytes]], str | None]:
    """Frames and the error (type: message) as FrameDecoder decodes the pieces."""
    decoder, frames = FrameDecoder(), []
    for piece in pieces:
        decoded, error = decoder.feed(piece)
        frames += [(dict(headers), payload) for headers, payload in decoded]
        if error is not None:
            return frames, f"{type(error).__name__}: {error}"
    return frames, None


def _botocores(pieces: list[bytes]) -> tuple[list[tuple[dict[str, HeaderValue], bytes]], str | None]:
    """Frames and the error (type: message) as botocore's EventStreamBuffer decodes the pieces."""
    buffer, frames = EventStreamBuffer(), []
    try:
        for piece in pieces:
            buffer.add_data(piece)
            for message in buffer:
                frames.append((message.to_response_dict()["headers"], message.payload))
    except ParserError as error:
        return frames, f"{type(error).__name__}: {error}"
    return frames, None


@settings(max_examples=150, deadline=None)
@given(st.lists(_frame(), max_size=5), st.lists(st.integers(0, 10_000), max_size=8))
def test_frame_decoder_decodes_what_botocore_decodes(frames: list[bytes], cuts: list[int]) -> None:
    """Any frames, cut anywhere: the same headers (every type) and payloads as botocore, in order."""
    pieces = _cut(b"".join(frames), cuts)
    assert _ours(pieces) == _botocores(pieces)
    assert len(_ours(pieces)[0]) == len(frames)


@settings(max_examples=150, deadline=None)
@given(st.lists(_frame(), min_size=1, max_size=4), st.data())
def test_frame_decoder_refuses_what_botocore_refuses(frames: list[bytes], data: st.DataObject) -> None:
    """A flipped bit anywhere fails a checksum as botocore's does, after the frames before it."""
    stream = bytearray(b"".join(frames))
    position = data.draw(st.integers(0, len(stream) - 1))
    stream[position] ^= 1 << data.draw(st.integers(0, 7))
    pieces = _cut(bytes(stream), data.draw(st.lists(st.integers(0, 10_000), max_size=4)))
    ours, botocores = _ours(pieces), _botocores(pieces)
    assert ours == botocores
    assert (ours[1] or "").startswith("ChecksumMismatch")


def test_frames_before_a_corrupt_one_in_the_same_piece_are_returned() -> None:
    """One read holding good frames and then a corrupt one yields the good ones and the error."""
    good = encode_event("messageStart", b'{"role":"assistant"}')
    bad = bytearray(encode_event("messageStop", b"{}"))
    bad[-1] ^= 0xFF
    frames, error = FrameDecoder().feed(good + bytes(bad))
    assert [headers[":event-type"] for headers, _ in frames] == ["messageStart"]
    assert isinstance(error, ChecksumMismatch)


@pytest.mark.parametrize(
    ("prelude", "message"),
    [
        (struct.pack(">II", 16 + 200 * 1024, 200 * 1024), "InvalidHeadersLength"),
        (struct.pack(">II", 16 + 25 * 1024 * 1024, 0), "InvalidPayloadLength"),
    ],
)
def test_oversized_frames_are_refused_before_they_arrive(prelude: bytes, message: str) -> None:
    """A prelude announcing more than botocore's limits is refused at once, as botocore refuses it."""
    piece = prelude + struct.pack(">I", zlib.crc32(prelude))
    assert _ours([piece]) == _botocores([piece])
    assert (_ours([piece])[1] or "").startswith(message)


def test_a_large_frame_in_small_pieces_decodes_whole() -> None:
    """A 2 MB payload read 1 KiB at a time comes out once, byte for byte, after its last piece."""
    payload = bytes(range(256)) * 8192
    frame = encode_event("chunk", payload)
    decoder = FrameDecoder()
    pieces = [frame[start : start + 1024] for start in range(0, len(frame), 1024)]
    outputs = [decoder.feed(piece) for piece in pieces]
    assert all(output == ([], None) for output in outputs[:-1])
    [(headers, body)], error = outputs[-1]
    assert (headers[":event-type"], body, error) == ("chunk", payload, None)


def test_header_blocks_are_shared_and_read_only() -> None:
    """Events of one type share their parsed headers, which no consumer can change."""
    first, second = (encode_event("contentBlockDelta", payload) for payload in (b"{}", b'{"a":1}'))
    frames, _ = FrameDecoder().feed(first + second)
    assert frames[0][0] is frames[1][0]
    headers: Mapping[str, HeaderValue] = frames[0][0]
    with pytest.raises(TypeError):
        headers[":event-type"] = "x"  # type: ignore[index]
