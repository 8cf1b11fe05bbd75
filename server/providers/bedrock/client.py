"""The one boto3 Bedrock Runtime client of the gateway, made usable from asyncio.

boto3 blocks, so every call runs on a thread of the client's own pool, sized like
its HTTP connection pool: requests neither block the event loop nor queue behind
one another. A streamed answer holds one thread that reads botocore's EventStream
and hands its events to the loop, waking the loop only when the consumer waits for
one (a consumer that falls behind takes every event available in one wake-up
instead of one wake-up per token); when the consumer stops early, the HTTP stream
is closed at once so Bedrock stops generating (and charging) and the thread exits.
Every botocore failure leaves this module as a domain error (errors.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import AsyncGenerator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import boto3  # noqa: TID251  # this module is boto3's one home
from botocore.config import Config
from botocore.eventstream import EventStream

from llmgw.server.providers.bedrock.converse import compact_json, parse_json_object
from llmgw.server.providers.bedrock.embeddings import INPUT_TOKEN_HEADER
from llmgw.server.providers.bedrock.errors import map_bedrock_error
from llmgw.server.providers.bedrock.native import NativeMessagesClient, SseEvents
from llmgw.wire.errors import UpstreamError

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class BedrockClientConfig:
    """Where Bedrock is and how patiently to talk to it; the same code serves AWS and the fake."""

    region: str
    endpoint_url: str | None = None
    max_attempts: int = 3
    connect_timeout_s: float = 5
    read_timeout_s: float = 120
    max_concurrency: int = 256
    access_key_id: str | None = None
    secret_access_key: str | None = None


class _End:
    """Marks the end of a stream in the handoff between the reader thread and the loop."""


_END = _End()

_Item = dict[str, Any] | BaseException | _End


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


STREAM_BUFFER_EVENTS = 256


class _Handoff:
    """Stream items from the reader thread to the loop, as many per loop wake-up as have arrived.

    The thread appends under a lock and schedules a wake-up only when the consumer is
    waiting on an empty buffer, so a burst of events costs one loop callback, not one each.
    The buffer is bounded (`capacity` events): when the consumer (in the end, the client
    reading its SSE stream) falls behind, the reader thread waits, stops reading the socket,
    and TCP flow control slows Bedrock down, instead of the whole answer piling up in memory.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, capacity: int = STREAM_BUFFER_EVENTS) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._capacity = capacity
        self._closed = False
        self._items: list[_Item] = []
        self._waiter: asyncio.Future[None] | None = None

    @property
    def buffered(self) -> int:
        """How many items wait for the consumer."""
        with self._lock:
            return len(self._items)

    def close(self) -> None:
        """The consumer is gone: release a reader waiting for room (its items are dropped)."""
        with self._lock:
            self._closed = True
            self._items.clear()
            self._room.notify_all()

    def put(self, item: _Item) -> None:
        """Append an item (reader thread), waiting while the buffer is full; wake the consumer if it waits."""
        with self._lock:
            while len(self._items) >= self._capacity and not self._closed and isinstance(item, dict):
                self._room.wait()
            if self._closed:
                return
            self._items.append(item)
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is listening any more
                self._loop.call_soon_threadsafe(_wake, waiter)

    async def take(self) -> list[_Item]:
        """Every item that has arrived, in order, waiting for the first if there is none yet (loop)."""
        while True:
            with self._lock:
                if self._items:
                    items, self._items = self._items, []
                    self._room.notify_all()
                    return items
                waiter = self._waiter = self._loop.create_future()
            await waiter


class _StreamReader:
    """One ConverseStream read on a worker thread, closable from the loop at any moment."""

    def __init__(self, handoff: _Handoff) -> None:
        self._handoff = handoff
        self._lock = threading.Lock()
        self._stream: EventStream[Any] | SseEvents | None = None
        self._closed = False

    def run(self, open_stream: Callable[[], EventStream[Any] | SseEvents]) -> None:
        """Open the stream and forward its events until it ends, fails or is closed."""
        try:
            stream = open_stream()
            with self._lock:
                if self._closed:
                    _close_event_stream(stream)
                    return
                self._stream = stream
            put = self._handoff.put
            for event in stream:
                if self._closed:
                    return
                put(event)
            put(_END)
        except Exception as exc:  # handed to the consumer, which raises it
            if not self._closed:
                self._handoff.put(exc)
        finally:
            with self._lock:
                self._closed = True
                if self._stream is not None:
                    _close_event_stream(self._stream)

    def close(self) -> None:
        """Stop reading: close the HTTP stream so Bedrock stops generating and the thread wakes."""
        self._handoff.close()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._stream is not None:
                _close_event_stream(self._stream)


def _close_event_stream(stream: EventStream[Any] | SseEvents) -> None:
    """Close a botocore EventStream, waking a thread blocked reading it.

    Closing a socket does not wake a thread blocked in recv() on it; shutting it
    down does. urllib3 2 offers that as HTTPResponse.shutdown(), on the stream
    botocore keeps privately; without it, close() alone still ends the stream.
    """
    raw = getattr(stream, "_raw_stream", None)
    shutdown = getattr(raw, "shutdown", None)
    if callable(shutdown):
        with contextlib.suppress(ValueError, RuntimeError, OSError):
            shutdown()
    with contextlib.suppress(Exception):
        stream.close()


class BedrockClient:
    """Async Converse, ConverseStream and InvokeModel over one thread-safe boto3 client."""

    def __init__(self, config: BedrockClientConfig) -> None:
        session = boto3.session.Session(
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
            region_name=config.region,
        )
        self._client = session.client(
            "bedrock-runtime",
            endpoint_url=config.endpoint_url,
            config=Config(
                # botocore's "max_attempts" counts retries (3 meant 4 calls); "total_max_attempts" counts calls.
                retries={"total_max_attempts": config.max_attempts, "mode": "standard"},
                connect_timeout=config.connect_timeout_s,
                read_timeout=config.read_timeout_s,
                max_pool_connections=config.max_concurrency,
            ),
        )
        self._executor = ThreadPoolExecutor(max_workers=config.max_concurrency, thread_name_prefix="bedrock")
        self._readers: set[_StreamReader] = set()
        self._native = NativeMessagesClient(
            self._client.meta.endpoint_url,
            config.region,
            session.get_credentials,
            connect_timeout_s=config.connect_timeout_s,
            read_timeout_s=config.read_timeout_s,
            max_pool_connections=config.max_concurrency,
        )

    async def _run(self, model_id: str, call: Callable[[], _T]) -> _T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, call)
        except Exception as exc:
            raise map_bedrock_error(exc, model_id) from exc

    async def converse(self, request: dict[str, Any]) -> dict[str, Any]:
        """One Converse call (kwargs from converse.to_converse_request); the parsed response."""
        response = await self._run(request["modelId"], functools.partial(self._client.converse, **request))
        return dict(response)

    def converse_stream(self, request: dict[str, Any]) -> AsyncGenerator[dict[str, Any], None]:
        """The ConverseStream events, as boto3 yields them; closing the iterator stops Bedrock."""

        def open_stream() -> EventStream[Any]:
            return self._client.converse_stream(**request)["stream"]

        return self._events(request["modelId"], open_stream)

    def invoke_model_stream(self, model_id: str, body: bytes) -> AsyncGenerator[dict[str, Any], None]:
        """InvokeModelWithResponseStream with a raw JSON body; its `chunk` events as boto3 yields them."""

        def open_stream() -> EventStream[Any]:
            response = self._client.invoke_model_with_response_stream(
                modelId=model_id, body=body, contentType="application/json", accept="application/json"
            )
            return response["body"]

        return self._events(model_id, open_stream)

    async def invoke_model_raw(self, model_id: str, body: bytes) -> bytes:
        """InvokeModel with a raw JSON body; Bedrock's answer bytes, unchanged."""

        def call() -> bytes:
            response = self._client.invoke_model(
                modelId=model_id, body=body, contentType="application/json", accept="application/json"
            )
            with contextlib.closing(response["body"]) as stream:
                return bytes(stream.read())

        return await self._run(model_id, call)

    async def native_messages(self, model_id: str, body: bytes, betas: Sequence[str]) -> bytes:
        """One call to the native `/anthropic/v1/messages` route (native.py); the answer's bytes."""
        return await self._run(model_id, functools.partial(self._native.create, body, betas))

    def native_messages_stream(
        self, model_id: str, body: bytes, betas: Sequence[str]
    ) -> AsyncGenerator[dict[str, Any], None]:
        """A streamed native Messages call; its events in InvokeModelWithResponseStream's `chunk` shape."""
        return self._events(model_id, functools.partial(self._native.stream, body, betas))

    async def count_tokens(self, model_id: str, invoke_body: bytes) -> int:
        """Bedrock's CountTokens for an InvokeModel body; the input tokens it counts."""

        def call() -> int:
            response = self._client.count_tokens(modelId=model_id, input={"invokeModel": {"body": invoke_body}})
            return int(response["inputTokens"])

        return await self._run(model_id, call)

    async def _events(
        self, model_id: str, open_stream: Callable[[], EventStream[Any] | SseEvents]
    ) -> AsyncGenerator[dict[str, Any], None]:
        """The events of a stream opened on a worker thread; closing the iterator stops Bedrock."""
        loop = asyncio.get_running_loop()
        handoff = _Handoff(loop)
        reader = _StreamReader(handoff)
        self._readers.add(reader)
        try:
            loop.run_in_executor(self._executor, reader.run, open_stream)
        except RuntimeError as exc:  # the executor was shut down by close()
            self._readers.discard(reader)
            raise UpstreamError("The Bedrock client is closed.") from exc
        try:
            while True:
                for item in await handoff.take():
                    if isinstance(item, _End):
                        return
                    if isinstance(item, BaseException):
                        raise map_bedrock_error(item, model_id) from item
                    yield item
        finally:
            reader.close()
            self._readers.discard(reader)

    async def invoke_model(self, model_id: str, body: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """One InvokeModel call with a JSON body; the JSON answer and its input-token header."""
        payload = compact_json(body).encode("utf-8")

        def call() -> tuple[bytes, str | None]:
            response = self._client.invoke_model(
                modelId=model_id, body=payload, contentType="application/json", accept="application/json"
            )
            with contextlib.closing(response["body"]) as stream:
                raw = stream.read()
            headers: dict[str, str] = response["ResponseMetadata"].get("HTTPHeaders", {})
            return raw, headers.get(INPUT_TOKEN_HEADER)

        raw, tokens = await self._run(model_id, call)
        parsed = parse_json_object(raw)
        if parsed is None:
            raise UpstreamError(f"Bedrock answered the model '{model_id}' with a body that is not a JSON object.")
        return parsed, tokens

    def close(self) -> None:
        """Stop open streams, wait for their threads, and release the HTTP connections."""
        for reader in list(self._readers):
            reader.close()
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._native.close()
        self._client.close()
