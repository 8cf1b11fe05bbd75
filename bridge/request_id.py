"""The request id of an HTTP request: the client's `x-request-id` when well formed, else a new one.

The bridge forwards it to the gRPC server as `x-request-id` metadata (where the
per-call log line carries it) and returns it to the client as the `x-request-id`
response header, on errors and streams too, so a client can quote it to an operator.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any

from llmgw.bridge.http_server import Send
from llmgw.wire import request_id

HEADER = request_id.HEADER.encode("ascii")
METADATA_KEY = request_id.HEADER


def request_id_for(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The client's request id when well formed, else a fresh one."""
    for name, value in headers:
        if name == HEADER:
            candidate = value.decode("latin-1")
            if request_id.is_well_formed(candidate):
                return candidate
    return request_id.new_request_id()


def sending_request_id(send: Send, request_id: str) -> Send:
    """`send` with the `x-request-id` header added to the response start."""
    header = (HEADER, request_id.encode("ascii"))

    async def send_with_id(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), header]}
        await send(message)

    return send_with_id
