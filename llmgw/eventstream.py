"""AWS event-stream framing (application/vnd.amazon.eventstream), as botocore encodes and decodes it.

Shared by the fake Bedrock (which answers in it), the server (which re-frames Bedrock's
InvokeModelWithResponseStream for the passthrough, and decodes every Bedrock stream) and the
bridge (whose in-band error ends such a stream), so the one encoder every side uses is the one
botocore is tested against.

`FrameDecoder` decodes what botocore's `EventStreamBuffer` decodes, to the same headers and
payloads and with the same errors (tests/test_eventstream.py compares the two on generated
frames), at a fraction of its cost: botocore's parser re-slices its buffer for every field
and header, about a tenth of the gateway's CPU per streamed answer (bench/RESULTS.md). Here a
frame is read with `struct` at offsets into one buffer, and a header block already seen
(Bedrock sends the same three headers with every event of a type) is parsed once.

A frame is: total length and headers length (big-endian uint32), the CRC32 of those
8 bytes, the headers, the payload, and the CRC32 of everything before it. Each header
is a 1-byte name length, the name, a type byte (7 = string), a 2-byte value length
and the value.
"""

import base64
import functools
import struct
import zlib
from collections.abc import Mapping
from types import MappingProxyType

from botocore.eventstream import (
    ChecksumMismatch,
    DuplicateHeader,
    InvalidHeadersLength,
    InvalidPayloadLength,
    ParserError,
)

_STRING_HEADER = 7
_PRELUDE = struct.Struct(">II")
_CRC = struct.Struct(">I")
# Prelude (8) + prelude CRC (4) + message CRC (4).
_OVERHEAD = 16


def encode_headers(headers: Mapping[str, str]) -> bytes:
    """Encode string-valued headers in event-stream header wire format."""
    parts = []
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        parts.append(bytes([len(raw_name)]) + raw_name + bytes([_STRING_HEADER]) + struct.pack(">H", len(raw_value)))
        parts.append(raw_value)
    return b"".join(parts)


def encode_frame(headers: bytes, payload: bytes) -> bytes:
    """Frame already-encoded headers and a payload into one event-stream message."""
    prelude = _PRELUDE.pack(len(headers) + len(payload) + _OVERHEAD, len(headers))
    prelude_crc = _CRC.pack(zlib.crc32(prelude))
    body = prelude + prelude_crc + headers + payload
    return body + _CRC.pack(zlib.crc32(body))


_EVENT_HEADERS: dict[str, bytes] = {}


def encode_event(event_type: str, payload: bytes) -> bytes:
    """One `:message-type event` frame with a JSON payload; headers are cached per event type."""
    headers = _EVENT_HEADERS.get(event_type)
    if headers is None:
        headers = encode_headers(
            {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
        )
        _EVENT_HEADERS[event_type] = headers
    return encode_frame(headers, payload)


def encode_chunk(data: bytes) -> bytes:
    """One InvokeModelWithResponseStream `chunk` event: `{"bytes": "<base64 of data>"}`."""
    return encode_event("chunk", b'{"bytes":"' + base64.b64encode(data) + b'"}')


def encode_exception(exception_type: str, payload: bytes) -> bytes:
    """One `:message-type exception` frame, which botocore raises as EventStreamError with that code."""
    headers = encode_headers(
        {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    )
    return encode_frame(headers, payload)


HeaderValue = bool | int | str | bytes
# The limits botocore enforces, so a frame one refuses the other refuses too.
_MAX_HEADERS_LENGTH = 128 * 1024
_MAX_PAYLOAD_LENGTH = 24 * 1024 * 1024
# Total length, headers length and the prelude's CRC.
_PRELUDE_WITH_CRC = struct.Struct(">III")
_PRELUDE_LENGTH = 12
_U16 = struct.Struct(">H")
_TRUE, _FALSE, _BYTE_ARRAY, _UUID = 0, 1, 6, 9
# byte, short, integer, long and timestamp (milliseconds, read as botocore does: an integer).
_INTEGERS = {
    2: struct.Struct(">b"),
    3: struct.Struct(">h"),
    4: struct.Struct(">i"),
    5: struct.Struct(">q"),
    8: struct.Struct(">q"),
}


class MalformedHeaders(ParserError):
    """A header block that ends inside a header, or names a type the format does not have."""


def _parse_headers(block: bytes) -> dict[str, HeaderValue]:
    """One frame's header block as botocore reads it: name -> bool, int, str or bytes."""
    headers: dict[str, HeaderValue] = {}
    offset, end = 0, len(block)
    try:
        while offset < end:
            name_end = offset + 1 + block[offset]
            name = block[offset + 1 : name_end].decode()
            kind = block[name_end]
            offset = name_end + 1
            value: HeaderValue
            if kind in (_STRING_HEADER, _BYTE_ARRAY):
                (length,) = _U16.unpack_from(block, offset)
                raw = block[offset + 2 : offset + 2 + length]
                value = raw.decode() if kind == _STRING_HEADER else raw
                offset += 2 + length
            elif kind in (_TRUE, _FALSE):
                value = kind == _TRUE
            elif kind == _UUID:
                value = block[offset : offset + 16]
                offset += 16
            elif kind in _INTEGERS:
                layout = _INTEGERS[kind]
                (value,) = layout.unpack_from(block, offset)
                offset += layout.size
            else:
                raise MalformedHeaders(f"The header '{name}' has the unknown type {kind}.")
            if name in headers:
                raise DuplicateHeader(name)
            headers[name] = value
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise MalformedHeaders("A header block ends inside a header or is not UTF-8.") from exc
    if offset != end:
        raise MalformedHeaders("A header block ends inside a header.")
    return headers


class FrameDecoder:
    """Event-stream bytes, cut anywhere, -> (headers, payload) per frame, in order (one per stream).

    The bytes of an unfinished frame are kept as the pieces they came in and joined once the
    frame is whole, so a large frame read in many small pieces is copied once, not once per piece.
    """

    def __init__(self) -> None:
        self._pieces: list[bytes] = []
        self._held = 0
        self._needed = 0

    def feed(self, data: bytes) -> tuple[list[tuple[Mapping[str, HeaderValue], bytes]], ParserError | None]:
        """The frames `data` completes, in order, and the corruption found after them, if any.

        The error is botocore's (a ParserError); the stream is unusable after it. Frames with the
        same header block share one read-only mapping of it.
        """
        if self._pieces:
            self._pieces.append(data)
            self._held += len(data)
            if self._held < self._needed:
                return [], None
            buffer = b"".join(self._pieces)
        else:
            buffer = data
        frames: list[tuple[Mapping[str, HeaderValue], bytes]] = []
        try:
            offset, needed = self._frames(buffer, frames)
        except ParserError as exc:
            return frames, exc
        rest = buffer[offset:] if offset < len(buffer) else b""
        self._pieces = [rest] if rest else []
        self._held, self._needed = len(rest), needed
        return frames, None

    @staticmethod
    def _frames(buffer: bytes, frames: list[tuple[Mapping[str, HeaderValue], bytes]]) -> tuple[int, int]:
        """Appends the whole frames at the start of `buffer`; where they end, and the bytes the next needs."""
        view = memoryview(buffer)
        offset, size = 0, len(buffer)
        while size - offset >= _PRELUDE_LENGTH:
            total, headers_length, prelude_crc = _PRELUDE_WITH_CRC.unpack_from(buffer, offset)
            computed = zlib.crc32(view[offset : offset + 8])
            if computed != prelude_crc:
                raise ChecksumMismatch(prelude_crc, computed)
            if headers_length > _MAX_HEADERS_LENGTH:
                raise InvalidHeadersLength(headers_length)
            payload_length = total - headers_length - _OVERHEAD
            if payload_length > _MAX_PAYLOAD_LENGTH or payload_length < 0:
                raise InvalidPayloadLength(payload_length)
            end = offset + total
            if end > size:
                return offset, total
            (message_crc,) = _CRC.unpack_from(buffer, end - 4)
            computed = zlib.crc32(view[offset + 8 : end - 4], prelude_crc)
            if computed != message_crc:
                raise ChecksumMismatch(message_crc, computed)
            headers_end = offset + _PRELUDE_LENGTH + headers_length
            frames.append((_headers(buffer[offset + _PRELUDE_LENGTH : headers_end]), buffer[headers_end : end - 4]))
            offset = end
        return offset, _PRELUDE_LENGTH


@functools.lru_cache(maxsize=64)
def _headers(block: bytes) -> Mapping[str, HeaderValue]:
    """The parsed header block, shared by every stream: Bedrock sends a handful of distinct ones."""
    return MappingProxyType(_parse_headers(block))
