"""Serving an ASGI app with uvicorn inside the caller's event loop.

`llmgw serve` runs the gRPC server and the bridge in one process and one loop, so this drives
uvicorn's startup, main loop and shutdown directly instead of `uvicorn.run` (which would own the
loop) or `Server.serve` (which would take over SIGINT/SIGTERM from the CLI). uvicorn with
httptools (C HTTP parser) and uvloop is the fastest well-kept ASGI server stack on the
registry; its logging config is left to the caller, and access logs are off (the gRPC server
records every request).
"""

from __future__ import annotations

import asyncio
import math
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import uvicorn

from llmgw.bridge.http_limits import HttpLimits, protocol_class

GRACEFUL_SHUTDOWN_SECONDS = 5
LISTEN_BACKLOG = 2048  # uvicorn's own default

Scope = MutableMapping[str, Any]
ASGIMessage = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[ASGIMessage]]
Send = Callable[[ASGIMessage], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def serve_http(
    app: ASGIApp,
    host: str,
    port: int,
    *,
    ready: asyncio.Event | None = None,
    on_bound: Callable[[int], None] | None = None,
    ssl_certfile: Path | None = None,
    ssl_keyfile: Path | None = None,
    graceful_shutdown_seconds: float = GRACEFUL_SHUTDOWN_SECONDS,
    reuse_port: bool = False,
    limits: HttpLimits | None = None,
) -> None:
    """Serve `app` on host:port until cancelled, then shut down gracefully.

    `ready` is set once the socket listens; `on_bound` receives the bound port (useful with
    port 0). With `ssl_certfile` and `ssl_keyfile` it serves HTTPS. On cancellation it stops
    accepting at once and gives open requests (streams included) `graceful_shutdown_seconds`
    to finish before cancelling them. With `reuse_port` the socket is bound with SO_REUSEPORT,
    so several worker processes share the port (the kernel spreads connections over them).
    `limits` are the connection limits (http_limits.py; default: `HttpLimits()`).
    Raises OSError when the address cannot be bound.
    """
    limits = limits or HttpLimits()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol_class(limits),
        timeout_keep_alive=limits.keepalive_s,  # type: ignore[arg-type,unused-ignore]  # hinted int; floats work
        loop="none",
        lifespan="on",
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=math.ceil(graceful_shutdown_seconds),
        ssl_certfile=None if ssl_certfile is None else str(ssl_certfile),
        ssl_keyfile=None if ssl_keyfile is None else str(ssl_keyfile),
    )
    server = uvicorn.Server(config)
    config.load()
    server.lifespan = config.lifespan_class(config)
    sockets = [_reuse_port_socket(host, port)] if reuse_port else None
    try:
        await server.startup(sockets=sockets)
    except SystemExit as exc:
        raise OSError(f"cannot serve HTTP on {host}:{port}") from exc
    try:
        bound = server.servers[0].sockets[0].getsockname()[1]
        if on_bound is not None:
            on_bound(bound)
        if ready is not None:
            ready.set()
        await server.main_loop()
    finally:
        server.should_exit = True
        await server.shutdown(sockets=sockets)


def _reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port that other processes may bind too (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock
