"""Reading a request body at a bounded cost: the caller first, then the bytes, then a capped parse.

Three rules, so that no request, least of all an unauthenticated one, can make the bridge
spend much on it:

1. A body larger than `PREAUTH_BYTES` (or of unknown length) is read only after the caller's
   credential is verified (`KeyService.GetCaller`, one cheap RPC). A bad key gets its 401
   before a byte of the body is read; uvicorn stops reading the socket once its small buffer
   is full, so the unread body costs nothing. Small bodies are read at once: parsing them
   costs less than the extra RPC.
2. The JSON is parsed with caps (`JsonLimits`): nesting depth, string length and the number
   of chat `messages`, each a setting, each refused with a 400 naming it. Lone surrogates
   (a surrogate escape with no partner), which no protobuf string can hold, are refused the same way.
3. A body larger than `OFFLOAD_BYTES` is parsed on a worker thread, so the event loop keeps
   serving other requests (`/healthz` included) while it runs; and large requests take turns
   through the bridge (app.py's `_Gate`), since decoding and encoding megabytes of JSON and
   protobuf hold the GIL whichever thread does it: one at a time, each stall stays short.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from llmgw.bridge.codec import loads
from llmgw.bridge.errors import ClientError
from llmgw.bridge.http_server import Receive, Scope
from llmgw.wire.echo import echo

PREAUTH_BYTES = 64 * 1024
OFFLOAD_BYTES = 1024 * 1024

Verify = Callable[[], Awaitable[None]]


class ClientGone(Exception):
    """The client closed the connection before we answered."""


@dataclass(frozen=True, slots=True)
class JsonLimits:
    """The most a request's JSON may hold; each is a setting (README: Settings)."""

    max_body_bytes: int = 20 * 1024 * 1024
    max_depth: int = 64
    max_string_chars: int = 8 * 1024 * 1024
    max_messages: int = 4096


def declared_length(headers: Sequence[tuple[bytes, bytes]], limit: int) -> int | None:
    """The Content-Length, None when absent; a ClientError when malformed or above `limit`."""
    for name, value in headers:
        if name == b"content-length":
            if not value.isdigit():
                raise ClientError("Content-Length: not a number")
            length = int(value)
            if length > limit:
                raise too_large(limit)
            return length
    return None


def is_large(headers: Sequence[tuple[bytes, bytes]], limit: int) -> bool:
    """Whether a body is large enough to be parsed off the loop and take turns (or of unknown length)."""
    length = declared_length(headers, limit)
    return length is None or length > OFFLOAD_BYTES


def too_large(limit: int) -> ClientError:
    """The 413 for a body above `limit` bytes."""
    return ClientError(f"body: larger than {limit} bytes", http_status=413, code="request_too_large")


async def read_body(scope: Scope, receive: Receive, limit: int, verify: Verify) -> bytes:
    """The request's body, read only once `verify` accepted the caller when it is large or of unknown length.

    Raises ClientError (413) past `limit`, ClientGone when the client left, and whatever
    `verify` raises when the credential is refused.
    """
    length = declared_length(scope["headers"], limit)
    if length is None or length > PREAUTH_BYTES:
        await verify()
    return await read_bytes(receive, limit)


async def decode_json(raw: bytes, limits: JsonLimits) -> object:
    """`parse_json`, on a worker thread for a body over OFFLOAD_BYTES."""
    if len(raw) > OFFLOAD_BYTES:
        return await asyncio.get_running_loop().run_in_executor(None, parse_json, raw, limits)
    return parse_json(raw, limits)


async def read_bytes(receive: Receive, limit: int) -> bytes:
    """Every chunk of the body, refusing (413) as soon as it passes `limit` bytes."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        body += message.get("body", b"")
        if len(body) > limit:
            raise too_large(limit)
        if not message.get("more_body", False):
            return bytes(body)


def parse_json(raw: bytes, limits: JsonLimits) -> object:
    """Parse and check a body against `limits`; ClientError (400) says what is wrong and where."""
    try:
        value = loads(raw)
    except UnicodeDecodeError as exc:
        raise ClientError(f"body: invalid UTF-8 at byte {exc.start}") from None
    except RecursionError:
        raise _too_deep(limits) from None
    except ValueError as exc:
        raise ClientError(f"body: malformed JSON ({echo(str(exc))})") from None
    check_json(value, limits)
    return value


def check_json(value: object, limits: JsonLimits) -> None:
    """Walk a parsed document (iteratively, so depth costs no stack) and enforce `limits`."""
    if isinstance(value, dict):
        messages = value.get("messages")
        if isinstance(messages, list) and len(messages) > limits.max_messages:
            raise ClientError(
                f"messages: {len(messages)} messages, more than the {limits.max_messages} allowed",
                param="messages",
            )
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_string(item, limits)
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > limits.max_depth:
            raise _too_deep(limits)
        if isinstance(item, dict):
            for key, child in item.items():
                _check_string(key, limits)
                stack.append((child, depth + 1))
        else:
            stack.extend((child, depth + 1) for child in item)


def _check_string(text: str, limits: JsonLimits) -> None:
    if len(text) > limits.max_string_chars:
        raise ClientError(f"body: a string of {len(text)} characters, more than the {limits.max_string_chars} allowed")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ClientError(
                f"body: the string starting {echo(text)} holds a lone surrogate (\\u{ord(text[exc.start]):04x}), "
                "which is not valid Unicode"
            ) from None


def _too_deep(limits: JsonLimits) -> ClientError:
    return ClientError(f"body: JSON nested deeper than {limits.max_depth} levels")
