"""BedrockClient against the fake Bedrock over real HTTP (server/providers/bedrock/client.py)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from llmgw.fakebedrock.config import FakeBedrockConfig
from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.server.core.catalog import Catalog
from llmgw.server.providers.bedrock.client import BedrockClient, BedrockClientConfig, _Handoff
from llmgw.server.providers.bedrock.converse import from_converse_response, to_converse_request
from llmgw.server.providers.bedrock.embeddings import build_invoke_bodies, parse_invoke_response
from llmgw.server.providers.bedrock.stream import StreamTranslator
from llmgw.v1 import chat_pb2
from llmgw.wire.errors import GatewayError, UpstreamThrottled
from tests.model_ids import HAIKU as HAIKU_ID

CATALOG = Catalog.load()
HAIKU = CATALOG.get(HAIKU_ID)
# Markers for a stream that pauses 30 s between tokens: a reader thread blocked in
# recv() on it is only freed in time if closing the stream wakes it.
LONG_PAUSES = "[[tokens:3]] [[token_delay_ms:30000]]"


def make_client(url: str, *, max_attempts: int = 2, max_concurrency: int = 256) -> BedrockClient:
    return BedrockClient(
        BedrockClientConfig(
            region="us-east-1",
            endpoint_url=url,
            max_attempts=max_attempts,
            max_concurrency=max_concurrency,
            access_key_id="fake-key-id",
            secret_access_key="fake-secret",
        )
    )


def request(prompt: str) -> dict[str, Any]:
    params = chat_pb2.ChatCompletionParams(
        model=HAIKU.id,
        messages=[chat_pb2.ChatMessage(role=chat_pb2.ROLE_USER, content=[chat_pb2.ContentPart(text=prompt)])],
    )
    return to_converse_request(params, HAIKU)


@pytest.fixture
def fake() -> Iterator[FakeBedrockServer]:
    with FakeBedrockServer(FakeBedrockConfig()) as server:
        yield server


@pytest.fixture
def slow_fake() -> Iterator[FakeBedrockServer]:
    with FakeBedrockServer(FakeBedrockConfig(ttft_ms=300, output_tokens=3)) as server:
        yield server


@pytest.fixture
async def client(fake: FakeBedrockServer) -> AsyncIterator[BedrockClient]:
    bedrock = make_client(fake.url)
    yield bedrock
    bedrock.close()


async def stream_text(bedrock: BedrockClient, prompt: str) -> tuple[str, StreamTranslator]:
    translator = StreamTranslator()
    parts: list[str] = []
    async for event in bedrock.converse_stream(request(prompt)):
        for choice in translator.feed(event):
            parts.append(choice.delta.content)
    return "".join(parts), translator


async def collect(events: AsyncIterator[dict[str, Any]], into: list[dict[str, Any]]) -> None:
    async for event in events:
        into.append(event)


async def test_converse_round_trip(client: BedrockClient) -> None:
    """A unary Converse call returns an answer the translator reads, with usage."""
    result = from_converse_response(await client.converse(request("Hello there")))
    assert result.message.content
    assert result.finish_reason == chat_pb2.FINISH_REASON_STOP
    assert result.input_tokens > 0
    assert result.output_tokens > 0


async def test_converse_stream_round_trip(client: BedrockClient) -> None:
    """A streamed answer concatenates to the unary answer, and ends with usage metadata."""
    unary = from_converse_response(await client.converse(request("Tell me a story")))
    text, translator = await stream_text(client, "Tell me a story")
    assert text == unary.message.content
    assert translator.finished
    assert translator.finish_reason == chat_pb2.FINISH_REASON_STOP
    assert (translator.input_tokens, translator.output_tokens) == (unary.input_tokens, unary.output_tokens)


async def test_invoke_model_round_trip(client: BedrockClient) -> None:
    """An InvokeModel embedding call returns a vector of the asked size and its token count."""
    model = CATALOG.get("amazon.titan-embed-text-v2:0")
    (body,) = build_invoke_bodies(model, ["embed me"], 256)
    answer, header = await client.invoke_model(model.id, body)
    batch = parse_invoke_response(model, answer, header)
    assert len(batch.vectors) == 1
    assert len(batch.vectors[0]) == 256
    assert batch.input_tokens > 0


async def test_early_aclose_frees_the_thread(fake: FakeBedrockServer) -> None:
    """Closing a stream mid-pause frees its only worker thread at once (not at the next token, 30 s away)."""
    bedrock = make_client(fake.url, max_concurrency=1)
    try:
        events = bedrock.converse_stream(request(f"{LONG_PAUSES} go on"))
        assert "messageStart" in await anext(events)
        await anext(events)
        await events.aclose()
        result = await asyncio.wait_for(bedrock.converse(request("short")), timeout=5)
        assert result["stopReason"] == "end_turn"
    finally:
        bedrock.close()


async def test_cancelled_consumer_closes_the_stream(fake: FakeBedrockServer) -> None:
    """Cancelling the task that reads a stream frees the worker thread just like aclose."""
    bedrock = make_client(fake.url, max_concurrency=1)
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in bedrock.converse_stream(request(f"{LONG_PAUSES} long")):
            first.set()

    try:
        task = asyncio.create_task(consume())
        await asyncio.wait_for(first.wait(), timeout=5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        result = await asyncio.wait_for(bedrock.converse(request("short")), timeout=5)
        assert result["stopReason"] == "end_turn"
    finally:
        bedrock.close()


async def test_fifty_streams_overlap(slow_fake: FakeBedrockServer) -> None:
    """50 concurrent streams, each 300 ms to first token, finish far sooner than one after another."""
    bedrock = make_client(slow_fake.url)
    try:
        started = time.monotonic()
        results = await asyncio.gather(*(stream_text(bedrock, f"stream {i}") for i in range(50)))
        elapsed = time.monotonic() - started
    finally:
        bedrock.close()
    assert all(text and translator.finished for text, translator in results)
    assert elapsed < 50 * 0.3 / 3


async def test_throttling_is_retried(client: BedrockClient) -> None:
    """One throttled attempt is retried by botocore and the call then succeeds."""
    result = await client.converse(request("[[fault:throttle:1]] retry me"))
    assert result["stopReason"] == "end_turn"


async def test_persistent_throttling_raises_upstream_throttled(client: BedrockClient) -> None:
    """Throttling on every attempt surfaces as UpstreamThrottled naming the model."""
    with pytest.raises(UpstreamThrottled, match=HAIKU.id):
        await client.converse(request("[[fault:throttle]] always busy"))


async def test_stream_refused_before_first_event(fake: FakeBedrockServer) -> None:
    """A stream refused before it starts raises the mapped error from the iterator."""
    bedrock = make_client(fake.url, max_attempts=1)
    try:
        with pytest.raises(UpstreamThrottled):
            await stream_text(bedrock, "[[fault:throttle]] busy stream")
    finally:
        bedrock.close()


async def test_mid_stream_error_after_first_events(client: BedrockClient) -> None:
    """An in-stream exception raises a mapped GatewayError after the events before it were delivered."""
    seen: list[dict[str, Any]] = []
    with pytest.raises(GatewayError) as caught:
        await collect(client.converse_stream(request("[[fault:mid_stream]] break halfway")), seen)
    assert seen
    assert "messageStart" in seen[0]
    assert HAIKU.id in caught.value.message


async def test_handoff_delivers_a_burst_in_one_take() -> None:
    """Events a thread hands over while nobody waits arrive together, in order, in one take."""
    handoff = _Handoff(asyncio.get_running_loop())

    def burst() -> None:
        for i in range(5):
            handoff.put({"n": i})

    thread = threading.Thread(target=burst)
    thread.start()
    thread.join()
    assert await handoff.take() == [{"n": i} for i in range(5)]


async def test_handoff_wakes_a_waiting_consumer() -> None:
    """A consumer waiting on an empty handoff is woken by the thread's next event."""
    handoff = _Handoff(asyncio.get_running_loop())
    waiting = asyncio.ensure_future(handoff.take())
    await asyncio.sleep(0)
    assert not waiting.done()
    thread = threading.Thread(target=handoff.put, args=({"n": 1},))
    thread.start()
    thread.join()
    assert await asyncio.wait_for(waiting, timeout=5) == [{"n": 1}]
