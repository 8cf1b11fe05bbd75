"""Which HTTP headers cross between the client and the gRPC server, each way.

Request headers that travel as call metadata, unchanged:
- `Authorization` and `x-api-key` (Anthropic's key header; the server accepts either): the
  server owns authentication, so a missing or malformed key is its to reject with
  UNAUTHENTICATED (401), not ours;
- `anthropic-beta` and `anthropic-version`, which the Messages and Bedrock services filter and pin;
- `x-claude-code-session-id`, recorded in the request log.
A value gRPC cannot carry (non-printable or non-ASCII bytes) is dropped, which the server then
sees as a missing header. A credential longer than `MAX_CREDENTIAL_BYTES` is refused with 431
here: gRPC's metadata limit (8 KiB) would otherwise fail the call as a transport error.

Response headers: a unary call's initial or trailing metadata named `x-llmgw-*` (e.g.
`x-llmgw-token-count: estimate`) becomes a response header of the same name.
"""

from __future__ import annotations

from collections.abc import Iterable

from llmgw.bridge.errors import ClientError

MAX_CREDENTIAL_BYTES = 7168
_CREDENTIALS = (b"authorization", b"x-api-key")
_FORWARDED = {
    b"authorization": "authorization",
    b"x-api-key": "x-api-key",
    b"anthropic-beta": "anthropic-beta",
    b"anthropic-version": "anthropic-version",
    b"x-claude-code-session-id": "x-claude-code-session-id",
}
_RESPONSE_PREFIX = "x-llmgw-"


def _printable_ascii(value: bytes) -> bool:
    return all(0x20 <= byte <= 0x7E for byte in value)


def outgoing_metadata(headers: Iterable[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    """The gRPC metadata for a request with these (lowercased ASGI) headers; ClientError 431 for a huge credential."""
    for name, value in headers:
        if name in _CREDENTIALS and len(value) > MAX_CREDENTIAL_BYTES:
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


def response_headers(metadata: Iterable[tuple[str, str | bytes]] | None) -> list[tuple[bytes, bytes]]:
    """The response headers for a call's metadata: its `x-llmgw-*` entries."""
    return [
        (name.encode("ascii"), value.encode("ascii") if isinstance(value, str) else value)
        for name, value in metadata or ()
        if name.startswith(_RESPONSE_PREFIX)
    ]
