"""Request ids at the bridge: the client's when well formed, else a fresh one; added to the response start."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import pytest

from llmgw.bridge.request_id import request_id_for, sending_request_id


@pytest.mark.parametrize(
    ("headers", "kept"),
    [
        ([(b"x-request-id", b"abc-123.x:y_z")], True),
        ([(b"x-request-id", b"has space")], False),
        ([(b"x-request-id", b"a" * 129)], False),
        ([(b"x-request-id", "é".encode())], False),
        ([], False),
    ],
)
def test_client_id_is_kept_only_when_well_formed(headers: list[tuple[bytes, bytes]], kept: bool) -> None:
    """Letters, digits and ._:- up to 128 characters are kept; anything else is replaced by req_<hex>."""
    found = request_id_for(headers)
    if kept:
        assert found == headers[0][1].decode()
    else:
        assert found.startswith("req_")
        assert len(found) == len("req_") + 24


async def test_header_is_added_to_the_response_start_only() -> None:
    """The start message gains x-request-id next to its own headers; body messages pass unchanged."""
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    wrapped = sending_request_id(send, "req_1")
    await wrapped({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"x")]})
    await wrapped({"type": "http.response.body", "body": b"hi"})
    assert sent[0]["headers"] == [(b"content-type", b"x"), (b"x-request-id", b"req_1")]
    assert sent[1] == {"type": "http.response.body", "body": b"hi"}
