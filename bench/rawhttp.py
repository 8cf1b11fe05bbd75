"""A minimal HTTP/1.1 keep-alive client on raw asyncio streams, for the load generator.

A load generator sharing a two-core machine with the servers it measures must spend as little
CPU per request as it can, or it measures itself. This client does only what the benchmark
needs: one POST at a time on one persistent connection, bodies framed by Content-Length or
chunked transfer coding (what uvicorn sends for SSE), and the time the first body byte arrived
(time to first token on a stream). No redirects, no TLS, no pipelining, no trailers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass


class HTTPProtocolError(Exception):
    """The server sent something this minimal client does not understand."""


@dataclass(frozen=True, slots=True)
class HTTPResponse:
    """A complete response: status, body, and perf_counter() when the first body byte arrived."""

    status: int
    body: bytes
    first_byte_at: float


class Connection:
    """One persistent HTTP/1.1 connection, reopened when the server closes it."""

    def __init__(self, host: str, port: int, *, headers: dict[str, str] | None = None) -> None:
        self.host = host
        self.port = port
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self._fixed_headers = f"host: {host}:{port}\r\ncontent-type: application/json\r\n{extra}"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> HTTPResponse:
        """POST `body` to `path` and read the whole response."""
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._reader, self._writer
        if reader is None:
            raise HTTPProtocolError("connection lost")
        head = f"POST {path} HTTP/1.1\r\n{self._fixed_headers}content-length: {len(body)}\r\n\r\n"
        writer.write(head.encode("latin-1") + body)
        try:
            return await self._read_response(reader)
        except (asyncio.IncompleteReadError, ConnectionError, HTTPProtocolError):
            await self.close()
            raise

    async def _read_response(self, reader: asyncio.StreamReader) -> HTTPResponse:
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 "):
            raise HTTPProtocolError(f"not an HTTP/1.1 status line: {head[:40]!r}")
        status = int(head[9:12])
        length: int | None = None
        chunked, keep_alive = False, True
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                keep_alive = b"close" not in value.lower()
        if chunked:
            body, first_byte_at = await _read_chunked(reader)
        elif length is not None:
            body = await reader.readexactly(length)
            first_byte_at = time.perf_counter()
        else:
            body = await reader.read()
            first_byte_at = time.perf_counter()
            keep_alive = False
        if not keep_alive:
            await self.close()
        return HTTPResponse(status, body, first_byte_at)

    async def close(self) -> None:
        """Close the connection (idempotent); the next post() opens a new one."""
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def _read_chunked(reader: asyncio.StreamReader) -> tuple[bytes, float]:
    """A chunked body and the time its first non-empty chunk arrived."""
    parts: list[bytes] = []
    first_byte_at = 0.0
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0], 16)
        except ValueError:
            raise HTTPProtocolError(f"bad chunk size line {size_line[:40]!r}") from None
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(parts), first_byte_at or time.perf_counter()
        chunk = await reader.readexactly(size + 2)
        if not parts:
            first_byte_at = time.perf_counter()
        parts.append(chunk[:-2])
