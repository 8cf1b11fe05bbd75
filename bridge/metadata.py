"""Which HTTP request headers travel to the gRPC server as call metadata.

Only `Authorization` crosses, as `authorization`, unchanged: the server owns authentication,
so a missing or malformed key is its to reject with UNAUTHENTICATED (401), not ours. A value
gRPC cannot carry (non-printable or non-ASCII bytes) is dropped, which the server then sees as
a missing key. A value longer than `MAX_CREDENTIAL_BYTES` is refused with 431 here: gRPC's
metadata limit (8 KiB) would otherwise fail the call as a transport error.
"""

from __future__ import annotations

from collections.abc import Iterable

from llmgw.bridge.errors import ClientError

MAX_CREDENTIAL_BYTES = 7168
_FORWARDED = {b"authorization": "authorization"}


def _printable_ascii(value: bytes) -> bool:
    return all(0x20 <= byte <= 0x7E for byte in value)


def outgoing_metadata(headers: Iterable[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    """The gRPC metadata for a request with these (lowercased ASGI) headers; ClientError 431 for a huge credential."""
    for name, value in headers:
        if name in _FORWARDED and len(value) > MAX_CREDENTIAL_BYTES:
            raise ClientError(
                f"{name.decode()}: longer than {MAX_CREDENTIAL_BYTES} bytes",
                http_status=431,
                code="request_headers_too_large",
            )
    return tuple(
        (_FORWARDED[name], value.decode("ascii"))
        for name, value in headers
        if name in _FORWARDED and _printable_ascii(value)
    )
