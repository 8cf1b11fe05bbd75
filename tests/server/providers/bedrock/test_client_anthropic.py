"""BedrockClient's Anthropic calls against the fake Bedrock over real HTTP, on the event loop.

InvokeModel with raw bodies, InvokeModelWithResponseStream, the native `/anthropic/v1/messages`
route and CountTokens (server/providers/bedrock/client.py, transport.py, native.py).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from llmgw.eventstream import encode_chunk
from llmgw.fakebedrock.config import FakeBedrockConfig
from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.server.providers.bedrock.client import BedrockClient
from llmgw.wire.errors import GatewayError, InvalidArgument, UpstreamThrottled, UpstreamTimeout
from tests.model_ids import HAIKU_45
from tests.server.providers.bedrock.conftest import LONG_PAUSES, aborted_streams, make_client

OPUS_47 = "global.anthropic.claude-opus-4-7"  # api = "messages": served by the native route
BETA = "context-1m-2025-08-07"
WAIT_S = 10.0

Streamer = Callable[[BedrockClient, str], AsyncGenerator[dict[str, Any], None]]


def invoke_body(prompt: str, max_tokens: int = 256) -> bytes:
    """An InvokeModel body for Claude, spelled with spaces and an odd key order (it must go as it is)."""
    body = {
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "anthropic_version": "bedrock-2023-05-31",
    }
    return json.dumps(body, indent=1).encode()


def native_body(prompt: str, *, stream: bool) -> bytes:
    body = {"model": OPUS_47, "max_tokens": 256, "messages": [{"role": "user", "content": prompt}], "stream": stream}
    return json.dumps(body).encode()


def invoke_stream(bedrock: BedrockClient, prompt: str) -> AsyncGenerator[dict[str, Any], None]:
    return bedrock.invoke_model_stream(HAIKU_45, invoke_body(prompt))


def native_stream(bedrock: BedrockClient, prompt: str) -> AsyncGenerator[dict[str, Any], None]:
    return bedrock.native_messages_stream(OPUS_47, native_body(prompt, stream=True), [BETA])


STREAMS = pytest.mark.parametrize("streamer", [invoke_stream, native_stream], ids=["invoke", "native"])


def anthropic_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Anthropic events inside the `chunk` events."""
    assert all(isinstance(event["chunk"]["bytes"], bytes) for event in events)
    return [json.loads(event["chunk"]["bytes"]) for event in events]


def streamed_text(events: list[dict[str, Any]]) -> str:
    return "".join(
        event["delta"].get("text", "") for event in anthropic_events(events) if event["type"] == "content_block_delta"
    )


def unary_text(raw: bytes) -> str:
    return "".join(block.get("text", "") for block in json.loads(raw)["content"])


async def collect(events: AsyncIterator[dict[str, Any]], into: list[dict[str, Any]]) -> None:
    async for event in events:
        into.append(event)


async def test_invoke_model_raw_and_its_stream_agree(client: BedrockClient) -> None:
    """A raw InvokeModel answer is Bedrock's JSON; its stream's chunks carry the same text and end with metrics."""
    raw = await client.invoke_model_raw(HAIKU_45, invoke_body("Tell me a story"))
    events = [event async for event in client.invoke_model_stream(HAIKU_45, invoke_body("Tell me a story"))]
    parsed = anthropic_events(events)
    assert json.loads(raw)["type"] == "message"
    assert streamed_text(events) == unary_text(raw)
    assert parsed[0]["type"] == "message_start"
    assert parsed[-1]["type"] == "message_stop"
    assert "amazon-bedrock-invocationMetrics" in parsed[-1]


async def test_native_route_unary_and_stream_agree_and_send_betas(
    client: BedrockClient, fake: FakeBedrockServer
) -> None:
    """The native route answers both ways with the same text, as Server-sent events parsed into chunk events."""
    before = fake.app.stats.native_messages
    raw = await client.native_messages(OPUS_47, native_body("Hello there", stream=False), [BETA])
    events = [event async for event in native_stream(client, "Hello there")]
    assert streamed_text(events) == unary_text(raw)
    assert [event["type"] for event in anthropic_events(events)][-1] == "message_stop"
    assert fake.app.stats.native_messages - before == 2
    assert fake.app.stats.betas_seen.count(BETA) == 2


async def test_count_tokens(client: BedrockClient) -> None:
    """CountTokens counts an InvokeModel body; a model that cannot count is a clear InvalidArgument."""
    assert await client.count_tokens(HAIKU_45, invoke_body("count these words please")) > 0
    with pytest.raises(InvalidArgument, match="counting tokens"):
        await client.count_tokens("amazon.nova-micro-v1:0", invoke_body("no"))


@STREAMS
async def test_stream_refused_before_its_first_event(fake: FakeBedrockServer, streamer: Streamer) -> None:
    """Throttling on every attempt surfaces from the stream as UpstreamThrottled."""
    bedrock = make_client(fake.url, max_attempts=1)
    try:
        with pytest.raises(UpstreamThrottled):
            async for _ in streamer(bedrock, "[[fault:throttle]] busy"):
                pass
    finally:
        await bedrock.close()


@STREAMS
async def test_in_stream_error_after_the_first_events(client: BedrockClient, streamer: Streamer) -> None:
    """An in-stream error (event-stream exception, SSE `error` event) is a GatewayError after the events before it."""
    seen: list[dict[str, Any]] = []
    with pytest.raises(GatewayError) as caught:
        await collect(streamer(client, "[[fault:mid_stream]] break"), seen)
    assert anthropic_events(seen)[0]["type"] == "message_start"
    assert "StreamErrorException" in caught.value.message


async def test_native_refusal_keeps_bedrock_message(client: BedrockClient) -> None:
    """A refused native call carries Bedrock's own validation message."""
    body = json.dumps({"model": OPUS_47, "messages": [{"role": "user", "content": "x"}]}).encode()
    with pytest.raises(InvalidArgument, match="max_tokens"):
        await client.native_messages(OPUS_47, body, [])


async def test_attempts_count_calls_in_total(fake: FakeBedrockServer) -> None:
    """BEDROCK_MAX_ATTEMPTS counts calls: 3 attempts reach the fake 3 times; one throttle is absorbed by a retry."""
    bedrock = make_client(fake.url, max_attempts=3, routed_attempts=1)
    try:
        assert await bedrock.invoke_model_raw(HAIKU_45, invoke_body("[[fault:throttle:1]] once"))
        before = fake.app.stats.requests
        with pytest.raises(UpstreamThrottled):
            await bedrock.invoke_model_raw(HAIKU_45, invoke_body("[[fault:throttle]] always"))
        assert fake.app.stats.requests - before == 3
        before = fake.app.stats.requests
        with pytest.raises(UpstreamThrottled):  # the router's calls get one attempt: it retries them itself
            await bedrock.native_messages(OPUS_47, native_body("[[fault:throttle:1]] routed", stream=False), [])
        assert fake.app.stats.requests - before == 1
    finally:
        await bedrock.close()


@STREAMS
async def test_a_silent_stream_times_out(fake: FakeBedrockServer, streamer: Streamer) -> None:
    """A stream that goes quiet for longer than the read timeout ends with UpstreamTimeout."""
    bedrock = make_client(fake.url, max_attempts=1, read_timeout_s=0.5)
    try:
        with pytest.raises(UpstreamTimeout):
            await collect(streamer(bedrock, f"{LONG_PAUSES} quiet"), [])
    finally:
        await bedrock.close()


async def test_a_slow_unary_answer_times_out(fake: FakeBedrockServer) -> None:
    """A raw InvokeModel whose answer takes longer than the read timeout ends with UpstreamTimeout."""
    bedrock = make_client(fake.url, max_attempts=1, read_timeout_s=0.5)
    try:
        with pytest.raises(UpstreamTimeout):
            await bedrock.invoke_model_raw(HAIKU_45, invoke_body("[[ttft_ms:30000]] slow"))
    finally:
        await bedrock.close()


@STREAMS
async def test_closing_a_stream_frees_its_connection_and_tells_bedrock(
    fake: FakeBedrockServer, streamer: Streamer
) -> None:
    """Closing a stream mid-pause cuts the connection at once: the fake sees the client leave, the pool's only
    connection serves the next call (not 30 s later, at the next token)."""
    bedrock = make_client(fake.url, max_concurrency=1)
    try:
        events = streamer(bedrock, f"{LONG_PAUSES} stop me")
        await anext(events)
        await events.aclose()
        raw = await asyncio.wait_for(bedrock.invoke_model_raw(HAIKU_45, invoke_body("short")), timeout=WAIT_S)
        assert unary_text(raw)
        assert await aborted_streams(fake, within_s=10) == 1
    finally:
        await bedrock.close()


@STREAMS
async def test_a_cancelled_consumer_closes_the_stream(fake: FakeBedrockServer, streamer: Streamer) -> None:
    """Cancelling the task that reads a stream frees its connection just like closing it."""
    bedrock = make_client(fake.url, max_concurrency=1)
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in streamer(bedrock, f"{LONG_PAUSES} long"):
            first.set()

    try:
        task = asyncio.create_task(consume())
        await asyncio.wait_for(first.wait(), timeout=WAIT_S)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        raw = await asyncio.wait_for(bedrock.invoke_model_raw(HAIKU_45, invoke_body("short")), timeout=WAIT_S)
        assert unary_text(raw)
    finally:
        await bedrock.close()


class _EndlessBedrock:
    """A Bedrock stand-in on a free port whose InvokeModelWithResponseStream answer is `total` bytes of chunks.

    It counts the bytes it has managed to write: aiohttp's server waits for the socket to drain
    before writing more, so the count stops growing when the client stops reading.
    """

    frame_data = b"x" * 16384

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self.written = 0
        self._runner: web.AppRunner | None = None

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "application/vnd.amazon.eventstream"})
        await response.prepare(request)
        for number in range(self.frames):
            event = {"type": "content_block_delta", "index": number, "delta": {"text": self.frame_data.decode()}}
            frame = encode_chunk(json.dumps(event).encode())
            await response.write(frame)
            self.written += len(frame)
        await response.write_eof()
        return response

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/model/{model}/invoke-with-response-stream", self._answer)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def test_a_slow_consumer_holds_bedrock_back() -> None:
    """A stream reads Bedrock only as its consumer asks: while the consumer holds its first event, Bedrock
    cannot send more than the buffers hold (some MB of a 64 MB answer); once the consumer reads on, every
    event arrives, in order."""
    endless = _EndlessBedrock(frames=4096)
    bedrock = make_client(await endless.start())
    try:
        events = bedrock.invoke_model_stream(HAIKU_45, invoke_body("a long one"))
        first = await anext(events)
        last, still, deadline = -1, 0, time.monotonic() + WAIT_S
        while still < 5 and time.monotonic() < deadline:  # until the server's writes stop moving
            await asyncio.sleep(0.05)
            still = still + 1 if endless.written == last else 0
            last = endless.written
        total = endless.frames * len(_EndlessBedrock.frame_data)
        assert endless.written < total // 2  # about 9 MB here: kernel socket buffers and aiohttp's 128 KiB
        numbers = [event["index"] for event in anthropic_events([first, *[event async for event in events]])]
        assert numbers == list(range(endless.frames))
    finally:
        await bedrock.close()
        await endless.stop()


async def test_hundreds_of_anthropic_streams_without_threads() -> None:
    """600 concurrent InvokeModelWithResponseStream and native streams are all open at Bedrock before the first
    of them gets its first token, and the process gains no thread per stream.

    On a thread pool of 256 (the old client's), only 256 could be open when the first token
    comes and the last stream would wait ceil(600 / 256) = 3 first-token times; here every
    stream is in flight at once and all first tokens arrive within two first-token times.
    """
    streams, first_token_s = 600, 5.0
    with FakeBedrockServer(FakeBedrockConfig(ttft_ms=int(first_token_s * 1000), output_tokens=1)) as slow:
        bedrock = make_client(slow.url, max_concurrency=streams)
        threads_before = threading.active_count()
        open_at_first_token: list[int] = []
        threads_seen: list[int] = []
        waited: list[float] = []
        started = time.monotonic()

        async def one(i: int) -> None:
            streamer = invoke_stream if i % 2 else native_stream
            events: list[dict[str, Any]] = []
            async for event in streamer(bedrock, f"stream {i}"):
                events.append(event)
                if json.loads(event["chunk"]["bytes"])["type"] == "content_block_delta" and not streamed_text(
                    events[:-1]
                ):
                    open_at_first_token.append(slow.app.stats.streams_started)
                    threads_seen.append(threading.active_count())
                    waited.append(time.monotonic() - started)
            assert streamed_text(events)

        try:
            await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(streams))), timeout=120)
        finally:
            await bedrock.close()
    assert len(waited) == streams
    assert min(open_at_first_token) == streams
    assert max(waited) < 2 * first_token_s
    assert max(threads_seen) - threads_before < 16
