"""Blocking database work, run off the event loop on the store's own thread pool.

peewee is synchronous. Every servicer, authenticator and cache that reads or writes the
database outside the group-commit writer goes through one DatabaseRunner, injected by the
Gateway, so the pool's size is set in one place and no call site builds its own executor call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

_T = TypeVar("_T")

DEFAULT_THREADS = 8


class DatabaseRunner:
    """Runs a blocking call on the database thread pool and awaits its result."""

    def __init__(self, threads: int = DEFAULT_THREADS) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="llmgw-db")

    async def run(self, call: Callable[[], _T]) -> _T:
        """The result of `call()`, computed on a database thread."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    def close(self) -> None:
        """Wait for running calls, then stop the threads."""
        self._pool.shutdown(wait=True)
