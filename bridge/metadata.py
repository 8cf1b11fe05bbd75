"""Which HTTP request headers travel to the gRPC server as call metadata.

Only `Authorization` crosses, as `authorization`, unchanged: the server owns authentication,
so a missing or malformed key is its to reject with UNAUTHENTICATED (401), not ours. A value
gRPC cannot carry (non-printable or non-ASCII bytes) is dropped, which the server then sees as
a missing key.
"""

from __future__ import annotations

from collections.abc import Iterable

_FORWARDED = {b"authorization": "authorization"}


def _printable_ascii(value: bytes) -> bool:
    return all(0x20 <= byte <= 0x7E for byte in value)


def outgoing_metadata(headers: Iterable[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    """The gRPC metadata for a request with these (lowercased ASGI) headers."""
    return tuple(
        (_FORWARDED[name], value.decode("ascii"))
        for name, value in headers
        if name in _FORWARDED and _printable_ascii(value)
    )
