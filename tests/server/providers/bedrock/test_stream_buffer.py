"""Backpressure: the reader thread never holds more than a bounded number of a stream's events."""

from __future__ import annotations

import asyncio
import threading

from llmgw.server.providers.bedrock.client import _END, _Handoff

WAIT_S = 10.0


def test_reader_waits_for_a_slow_consumer() -> None:
    """A producer of 1,000 events into a 16-event buffer stays at most 16 ahead, and everything arrives in order."""

    async def run() -> tuple[list[object], int]:
        handoff = _Handoff(asyncio.get_running_loop(), capacity=16)
        peak = 0

        def produce() -> None:
            for number in range(1000):
                handoff.put({"n": number})
            handoff.put(_END)

        producer = threading.Thread(target=produce)
        producer.start()
        received: list[object] = []
        while not received or received[-1] is not _END:
            await asyncio.sleep(0.001)  # a slow consumer: the producer must wait for it
            peak = max(peak, handoff.buffered)
            received.extend(await asyncio.wait_for(handoff.take(), WAIT_S))
        producer.join(WAIT_S)
        return received, peak

    received, peak = asyncio.run(run())
    assert received[:-1] == [{"n": number} for number in range(1000)]
    assert peak <= 16


def test_closing_releases_a_waiting_reader() -> None:
    """When the consumer goes away, a reader blocked on a full buffer is released and its events dropped."""

    async def run() -> bool:
        handoff = _Handoff(asyncio.get_running_loop(), capacity=2)
        done = threading.Event()

        def produce() -> None:
            for number in range(10):
                handoff.put({"n": number})
            done.set()

        producer = threading.Thread(target=produce)
        producer.start()
        await asyncio.sleep(0.05)
        blocked = not done.is_set()
        handoff.close()
        producer.join(WAIT_S)
        return blocked and done.is_set() and handoff.buffered == 0

    assert asyncio.run(run())
