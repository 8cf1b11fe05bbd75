"""Blocking database work runs on the runner's threads, not on the event loop's."""

from __future__ import annotations

import threading

import pytest

from llmgw.server.store.runner import DatabaseRunner


async def test_calls_run_off_the_loop_thread_and_return_their_result() -> None:
    runner = DatabaseRunner(threads=2)
    try:
        name = await runner.run(lambda: threading.current_thread().name)
        assert name.startswith("llmgw-db")
        assert name != threading.current_thread().name
        assert await runner.run(lambda: 6 * 7) == 42
    finally:
        runner.close()


async def test_an_exception_reaches_the_caller() -> None:
    runner = DatabaseRunner(threads=1)

    def fail() -> None:
        raise LookupError("no such row")

    try:
        with pytest.raises(LookupError, match="no such row"):
            await runner.run(fail)
    finally:
        runner.close()
