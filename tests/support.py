"""Test support: a real gateway on its own event loop in a background thread.

Running it on a separate thread lets synchronous clients (the sync OpenAI SDK,
sync gRPC stubs, boto3) and asyncio tests talk to the same real server, and lets
one gateway serve a whole module. Everything binds 127.0.0.1 port 0.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import grpc

from llmgw.server.app import Gateway
from llmgw.server.settings import Settings
from llmgw.server.store import keys_repo

_T = TypeVar("_T")
START_TIMEOUT_S = 30.0


def picodollars(usd: str) -> int:
    """An exact USD string from the API (a cost, a limit) as integer picodollars."""
    return int(Decimal(usd) * 10**12)


def gateway_settings(data_dir: Path, bedrock_url: str, **overrides: Any) -> Settings:
    """Settings for a test gateway: loopback, port 0, the fake Bedrock, no retries unless asked."""
    values: dict[str, Any] = {
        "data_dir": str(data_dir),
        "database_url": "",
        "benchmark_mode": True,
        "bedrock_endpoint_url": bedrock_url,
        "bedrock_max_attempts": 1,
        "bedrock_read_timeout_seconds": 10,
        "grpc_listen": "127.0.0.1:0",
        "http_listen": "127.0.0.1:0",
        "admin_list": ["root"],
        "shutdown_grace_seconds": 1,
    }
    values.update(overrides)
    return Settings.load(environ={}, **values)


class GatewayThread:
    """A Gateway served from a background thread's event loop until stop().

    `gateway_options` go to the Gateway constructor (e.g. an injected `clock`).
    """

    def __init__(self, settings: Settings, **gateway_options: Any) -> None:
        self.settings = settings
        self.gateway_options = gateway_options
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="test-gateway", daemon=True)
        self.gateway: Gateway | None = None
        self.port = 0

    @property
    def grpc_target(self) -> str:
        """HOST:PORT of the gRPC server."""
        return f"127.0.0.1:{self.port}"

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        """Run a coroutine on the gateway's loop and wait (bounded) for its result."""
        future: Future[_T] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout=START_TIMEOUT_S)

    def start(self) -> GatewayThread:
        """Start the loop thread and the gateway on it."""
        self._thread.start()

        async def start() -> int:
            self.gateway = Gateway(self.settings, **self.gateway_options)
            return await self.gateway.start()

        self.port = self.run(start())
        return self

    def create_key(self, user: str, name: str, expires_at: datetime | None = None) -> str:
        """A fresh API key for `user`, created straight in the database as `llmgw keys create` does."""
        assert self.gateway is not None
        _, secret = keys_repo.create_key(user, name, expires_at, self.gateway.server_secret)
        return secret

    def stop(self) -> None:
        """Stop the gateway (flushing the request log), then the loop and its thread."""
        if self.gateway is not None:
            self.run(self.gateway.stop(grace=1.0))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=START_TIMEOUT_S)
        self.loop.close()

    def channel(self) -> grpc.Channel:
        """A synchronous channel to the gateway; the caller closes it."""
        return grpc.insecure_channel(self.grpc_target)


def bearer(key: str) -> tuple[tuple[str, str]]:
    """gRPC call metadata carrying an API key."""
    return (("authorization", f"Bearer {key}"),)


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (bounded by the socket's timeout)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data
