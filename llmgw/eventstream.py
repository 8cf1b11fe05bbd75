"""AWS event-stream framing (application/vnd.amazon.eventstream), as botocore decodes it.

Shared by the fake Bedrock (which answers in it), the server (which re-frames Bedrock's
InvokeModelWithResponseStream for the passthrough) and the bridge (whose in-band error ends such
a stream), so the one encoder every side uses is the one botocore is tested against.

A frame is: total length and headers length (big-endian uint32), the CRC32 of those
8 bytes, the headers, the payload, and the CRC32 of everything before it. Each header
is a 1-byte name length, the name, a type byte (7 = string), a 2-byte value length
and the value.
"""

import base64
import struct
import zlib
from collections.abc import Mapping

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
