"""Fixtures for the benchmark tools: the zero-work server on a free port in the test's loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bench.zero_work_server import ZeroWorkApp
from llmgw.bridge.http_server import serve_http

TOKENS = 5


@pytest.fixture
async def zero_work_address() -> AsyncIterator[str]:
    """HOST:PORT of a zero-work server answering TOKENS words, stopped after the test."""
    bound: list[int] = []
    ready = asyncio.Event()
    task = asyncio.create_task(serve_http(ZeroWorkApp("m", TOKENS), "127.0.0.1", 0, ready=ready, on_bound=bound.append))
    await asyncio.wait_for(ready.wait(), timeout=10)
    yield f"127.0.0.1:{bound[0]}"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
