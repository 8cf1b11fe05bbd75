"""Slowloris-style probes: idle, slow-header, slow-body, huge-header and surplus connections are closed."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from llmgw.bridge.http_limits import HttpLimits
from tests.bridge.conftest import GOOD_KEY, LoopThread, Upstream, running_bridge
from tests.support import read_until_closed

SHORT = HttpLimits(header_timeout_s=0.3, body_timeout_s=0.3, keepalive_s=0.3, max_header_bytes=8192)
WAIT_S = 10.0  # the most any probe waits for the server to act (it acts after SHORT's 0.3 s)


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname or "", parts.port or 0), timeout=WAIT_S)


@pytest.fixture(scope="module")
def strict_bridge(loop_thread: LoopThread, upstream: Upstream) -> Iterator[str]:
    """A bridge whose timeouts are short enough to watch."""
    with running_bridge(loop_thread, upstream.target, limits=SHORT) as url:
        yield url


def test_idle_connection_closed(strict_bridge: str) -> None:
    """A connection that never sends a byte is closed after the header timeout, with 408."""
    with connect(strict_bridge) as sock:
        assert read_until_closed(sock).startswith(b"HTTP/1.1 408")


def test_partial_header_closed(strict_bridge: str) -> None:
    """Headers that never end are cut off at the header timeout."""
    with connect(strict_bridge) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a")
        assert read_until_closed(sock).startswith(b"HTTP/1.1 408")


def test_partial_body_closed(strict_bridge: str) -> None:
    """A body that stops arriving is cut off at the body timeout."""
    with connect(strict_bridge) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + GOOD_KEY.encode()
            + b'\r\nContent-Length: 100\r\n\r\n{"model"'
        )
        assert read_until_closed(sock).startswith(b"HTTP/1.1 408")


def test_keepalive_idle_closed(strict_bridge: str) -> None:
    """After a response, an idle keep-alive connection is closed after the keep-alive timeout."""
    with connect(strict_bridge) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = read_until_closed(sock)
    assert reply.startswith(b"HTTP/1.1 200")
    assert reply.count(b"HTTP/1.1") == 1


def test_complete_huge_header_gets_431(strict_bridge: str) -> None:
    """A header block over the limit, even one that ends, gets 431."""
    with connect(strict_bridge) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
        assert read_until_closed(sock).startswith(b"HTTP/1.1 431")


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_unterminated_huge_headers_keep_memory_flat(strict_bridge: str) -> None:
    """50 connections pushing 4 MiB unterminated headers are each cut off near the limit; memory stays flat."""
    before = _rss_kib()
    chunk = b"a" * 65536
    replies = []
    for _ in range(50):
        with connect(strict_bridge) as sock:
            sent = 0
            try:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nX-Big: ")
                while sent < 4 * 1024 * 1024:
                    sock.sendall(chunk)
                    sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            replies.append(read_until_closed(sock))
    refused = [reply for reply in replies if reply.startswith(b"HTTP/1.1 431")]
    assert len(refused) >= 45, "nearly every connection sees the 431 (a reset may race it)"
    assert _rss_kib() - before < 64 * 1024, "the server (same process) did not buffer the headers"


def test_connections_beyond_the_limit_refused(loop_thread: LoopThread, upstream: Upstream) -> None:
    """One connection more than max_connections is answered 503 and closed; the others still work."""
    limits = HttpLimits(header_timeout_s=WAIT_S * 3, max_connections=5)
    with running_bridge(loop_thread, upstream.target, limits=limits) as url:
        held = [connect(url) for _ in range(5)]
        try:
            held[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert held[0].recv(65536).startswith(b"HTTP/1.1 200")
            with connect(url) as extra:
                assert read_until_closed(extra).startswith(b"HTTP/1.1 503")
        finally:
            for sock in held:
                sock.close()
