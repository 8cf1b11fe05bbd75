"""Bounded body reading: the caller is checked before a large body is read, and the JSON has caps."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from llmgw.bridge.errors import ClientError
from llmgw.bridge.request_body import JsonLimits, parse_json
from tests.bridge.conftest import LoopThread, Upstream, running_bridge
from tests.bridge.test_app import raw

DEEP = json.loads("[" * 20 + "]" * 20)
LIMITS = JsonLimits(max_body_bytes=1024 * 1024, max_depth=8, max_string_chars=1000, max_messages=3)


@pytest.fixture(scope="module")
def roomy_bridge(loop_thread: LoopThread, upstream: Upstream) -> Iterator[str]:
    """A bridge that takes bodies up to 32 MiB, with the caps of LIMITS but a roomy string size."""
    limits = JsonLimits(max_depth=8, max_string_chars=30 * 1024 * 1024, max_messages=3)
    with running_bridge(loop_thread, upstream.target, max_body_bytes=32 * 1024 * 1024, json_limits=limits) as url:
        yield url


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[" * 100_000, "nested deeper than 8"),
        (json.dumps({"tools": [{"parameters": {"a": DEEP}}]}).encode(), "nested deeper than 8"),
        (b'{"messages": [{"content": "\\ud800"}]}', "lone surrogate"),
        (b'{"model": "\\udfff"}', "lone surrogate"),
        (json.dumps({"messages": [{}] * 4}).encode(), "4 messages, more than the 3"),
        (json.dumps({"model": "x" * 1001}).encode(), "1001 characters, more than the 1000"),
        (json.dumps({"x" * 1001: 1}).encode(), "1001 characters"),
        (b'{"a": NaN}', "malformed JSON"),
        (b"\xff", "invalid UTF-8"),
    ],
)
def test_parse_refuses(body: bytes, message: str) -> None:
    """Deep nesting, lone surrogates, too many messages, long strings and bad JSON are 400s that say which."""
    with pytest.raises(ClientError, match=message) as caught:
        parse_json(body, LIMITS)
    assert caught.value.http_status == 400


def test_parse_accepts_within_limits() -> None:
    """A document at every limit parses to itself."""
    document = {"messages": [{"content": "é" * 1000}] * 3, "deep": [[[[[[1]]]]]]}
    assert parse_json(json.dumps(document).encode(), LIMITS) == document


def test_bad_nesting_over_http(roomy_bridge: str) -> None:
    """Over HTTP the caps are OpenAI 400s, and the bridge keeps serving."""
    status, _, body = raw(roomy_bridge, "POST", "/v1/chat/completions", b"[" * 100_000)
    assert status == 400
    assert "nested deeper" in body["error"]["message"]
    status, _, body = raw(roomy_bridge, "POST", "/v1/chat/completions", b'{"model": "a\\ud800b", "messages": []}')
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"


def test_bad_key_refused_before_the_body_is_read(roomy_bridge: str, upstream: Upstream) -> None:
    """A large body with a bad key gets 401 after only its headers were sent, and the connection is closed."""
    parts = urlsplit(roomy_bridge)
    with socket.create_connection((parts.hostname or "", parts.port or 0), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-bad\r\n"
            b"Content-Type: application/json\r\nContent-Length: 18000000\r\n\r\n{"
        )
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401")
    assert b"connection: close" in head.lower()
    assert json.loads(body)["error"]["code"] == "invalid_api_key"


def test_large_valid_body_checks_the_caller_first(roomy_bridge: str, upstream: Upstream) -> None:
    """A large body with a good key is checked once with GetCaller, then parsed (off the loop) and served."""
    before = upstream.state.caller_checks
    text = "word " * 400_000
    body = json.dumps({"model": "echo", "messages": [{"role": "user", "content": text}]}).encode()
    status, _, answer = raw(roomy_bridge, "POST", "/v1/chat/completions", body)
    assert status == 200
    assert text in json.loads(answer["choices"][0]["message"]["content"])["messages"][0]["content"][0]["text"]
    assert upstream.state.caller_checks == before + 1
    status, _, _ = raw(roomy_bridge, "POST", "/v1/chat/completions", b'{"model": "echo", "messages": []}')
    assert status == 200
    assert upstream.state.caller_checks == before + 1, "small bodies are not pre-checked"
