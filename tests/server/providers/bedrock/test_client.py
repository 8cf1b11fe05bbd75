"""BedrockClient against the fake Bedrock over real HTTP (server/providers/bedrock/client.py, transport.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from llmgw.fakebedrock.config import FakeBedrockConfig
from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.server.core.catalog import Catalog
from llmgw.server.providers.bedrock.client import BedrockClient
from llmgw.server.providers.bedrock.converse import from_converse_response, to_converse_request
from llmgw.server.providers.bedrock.embeddings import build_invoke_bodies, parse_invoke_response
from llmgw.server.providers.bedrock.stream import StreamTranslator
from llmgw.v1 import chat_pb2
from llmgw.wire.errors import GatewayError, UpstreamThrottled
from tests.model_ids import HAIKU as HAIKU_ID
from tests.server.providers.bedrock.conftest import LONG_PAUSES, aborted_streams, make_client

CATALOG = Catalog.load()
HAIKU = CATALOG.get(HAIKU_ID)


def request(prompt: str) -> dict[str, Any]:
    params = chat_pb2.ChatCompletionParams(
        model=HAIKU.id,
        messages=[chat_pb2.ChatMessage(role=chat_pb2.ROLE_USER, content=[chat_pb2.ContentPart(text=prompt)])],
    )
    return to_converse_request(params, HAIKU)


@pytest.fixture
def slow_fake() -> Iterator[FakeBedrockServer]:
    with FakeBedrockServer(FakeBedrockConfig(ttft_ms=300, output_tokens=3)) as server:
        yield server


async def stream_text(bedrock: BedrockClient, prompt: str) -> tuple[str, StreamTranslator]:
    translator = StreamTranslator()
    parts: list[str] = []
    async for batch in bedrock.converse_stream_batches(request(prompt)):
        for choice in translator.feed_batch(batch):
            parts.append(choice.delta.content)
    return "".join(parts), translator


async def collect(batches: AsyncIterator[list[dict[str, Any]]], into: list[dict[str, Any]]) -> None:
    async for batch in batches:
        into.extend(batch)


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


async def test_early_aclose_frees_the_connection(fake: FakeBedrockServer) -> None:
    """Closing a stream mid-pause frees the pool's only connection at once (not at the next token, 30 s away)."""
    bedrock = make_client(fake.url, max_concurrency=1)
    try:
        events = bedrock.converse_stream_batches(request(f"{LONG_PAUSES} go on"))
        assert "messageStart" in (await anext(events))[0]
        await events.aclose()
        result = await asyncio.wait_for(bedrock.converse(request("short")), timeout=5)
        assert result["stopReason"] == "end_turn"
    finally:
        await bedrock.close()


async def test_cancelled_consumer_closes_the_stream(fake: FakeBedrockServer) -> None:
    """Cancelling the task that reads a stream frees its connection just like aclose."""
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
        await bedrock.close()


async def test_fifty_streams_overlap(slow_fake: FakeBedrockServer) -> None:
    """50 concurrent streams, each 300 ms to first token, finish far sooner than one after another."""
    bedrock = make_client(slow_fake.url)
    try:
        started = time.monotonic()
        results = await asyncio.gather(*(stream_text(bedrock, f"stream {i}") for i in range(50)))
        elapsed = time.monotonic() - started
    finally:
        await bedrock.close()
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
        await bedrock.close()


async def test_mid_stream_error_after_first_events(client: BedrockClient) -> None:
    """An in-stream exception raises a mapped GatewayError after the events before it were delivered."""
    seen: list[dict[str, Any]] = []
    with pytest.raises(GatewayError) as caught:
        await collect(client.converse_stream_batches(request("[[fault:mid_stream]] break halfway")), seen)
    assert seen
    assert "messageStart" in seen[0]
    assert HAIKU.id in caught.value.message


async def test_early_aclose_tells_bedrock(fake: FakeBedrockServer) -> None:
    """An abandoned stream is cut off on the wire, so the fake sees the client leave (and stops generating)."""
    bedrock = make_client(fake.url)
    try:
        events = bedrock.converse_stream(request(f"{LONG_PAUSES} stop me"))
        await anext(events)
        await events.aclose()
        assert await aborted_streams(fake, within_s=5) == 1
    finally:
        await bedrock.close()


async def test_image_bytes_travel_as_base64(client: BedrockClient) -> None:
    """A request with image bytes is sent the way botocore sends blobs, and Bedrock accepts it."""
    params = chat_pb2.ChatCompletionParams(
        model=HAIKU.id,
        messages=[
            chat_pb2.ChatMessage(
                role=chat_pb2.ROLE_USER,
                content=[
                    chat_pb2.ContentPart(text="What is this?"),
                    chat_pb2.ContentPart(
                        image_url=chat_pb2.ImageUrl(url="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB")
                    ),
                ],
            )
        ],
    )
    result = from_converse_response(await client.converse(to_converse_request(params, HAIKU)))
    assert result.message.content


async def test_unreachable_bedrock_is_an_upstream_error() -> None:
    """Nothing listening: the connection error is retried, then mapped to an UpstreamError naming the model."""
    bedrock = make_client("http://127.0.0.1:9", max_attempts=2)
    try:
        with pytest.raises(GatewayError, match="could not be reached") as caught:
            await stream_text(bedrock, "anyone there?")
        assert HAIKU.id in caught.value.message
    finally:
        await bedrock.close()


async def test_two_thousand_streams_get_their_first_token_together() -> None:
    """2,000 concurrent streams are all open at Bedrock before the first of them gets its first token.

    With a thread per stream and 256 threads, only 256 could be open when the first token
    comes, and the last stream would wait ceil(2000 / 256) = 8 first-token times; here every
    stream is in flight at once and all first tokens arrive within a few first-token times.
    """
    streams, first_token_s = 2000, 8.0
    with FakeBedrockServer(FakeBedrockConfig(ttft_ms=int(first_token_s * 1000), output_tokens=1)) as slow:
        bedrock = make_client(slow.url, max_concurrency=streams)
        open_at_first_token: list[int] = []
        waited: list[float] = []
        started = time.monotonic()

        async def one(i: int) -> None:
            translator = StreamTranslator()
            async for batch in bedrock.converse_stream_batches(request(f"stream {i}")):
                seen_before = translator.deltas_seen
                translator.feed_batch(batch)
                if seen_before == 0 and translator.deltas_seen > 0:
                    open_at_first_token.append(slow.app.stats.streams_started)
                    waited.append(time.monotonic() - started)
            assert translator.finished

        try:
            await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(streams))), timeout=120)
        finally:
            await bedrock.close()
    assert len(waited) == streams
    assert min(open_at_first_token) == streams
    assert max(waited) < 3 * first_token_s
