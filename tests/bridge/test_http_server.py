"""serve_http: uvicorn in the caller's loop, port reporting, cancellation and bind failures."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket

import pytest

from llmgw.bridge import create_app, serve_http


async def get(port: int, path: str) -> tuple[int, object]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_serves_until_cancelled() -> None:
    """The server reports its port, answers, and stops cleanly when its task is cancelled."""
    app = create_app(f"127.0.0.1:{unused_port()}")
    ready = asyncio.Event()
    ports: list[int] = []
    task = asyncio.create_task(serve_http(app, "127.0.0.1", 0, ready=ready, on_bound=ports.append))
    await asyncio.wait_for(ready.wait(), 10)
    status, body = await get(ports[0], "/healthz")
    assert (status, body) == (503, {"status": "unreachable"})
    status, body = await get(ports[0], "/v1/nope")
    assert status == 404
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    with pytest.raises(ConnectionRefusedError):
        await get(ports[0], "/healthz")
    await app.aclose()


async def test_bind_failure_is_oserror() -> None:
    """An address in use is an OSError, not a SystemExit."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        app = create_app("127.0.0.1:1")
        with pytest.raises(OSError, match="cannot serve HTTP"):
            await asyncio.wait_for(serve_http(app, "127.0.0.1", taken.getsockname()[1]), 10)
        await app.aclose()
