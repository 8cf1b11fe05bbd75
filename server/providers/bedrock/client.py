"""The gateway's Bedrock Runtime client: Converse, ConverseStream and InvokeModel on the event loop.

boto3 is used at start-up for what it does best and what must match the AWS SDKs exactly:
the credential chain, the endpoint of the region, the signing name and the operations'
error shapes (for the retry rules). Chat and embedding calls (Converse, ConverseStream,
InvokeModel) then go through transport.py (botocore's signer and retry rules over an
aiohttp pool): no call holds a thread and the pool size (BEDROCK_MAX_CONCURRENCY) is the
only limit on calls in flight. Bodies are the REST-JSON shapes boto3 would send; answers
are parsed once, straight from JSON into the dicts boto3 would return (the event stream
with botocore's own `EventStreamBuffer`), so converse.py and stream.py read them unchanged.

The Anthropic Messages API's calls (InvokeModel with raw bodies and its response stream,
the native `/anthropic/v1/messages` route, CountTokens) still run boto3 or native.py on a
thread pool of the same size, their streams handed to the loop by `_Handoff`; moving them
onto the transport is the next step (bench/RESULTS.md).

When the consumer of a stream stops early or is cancelled, the HTTP connection is closed
at once so Bedrock stops generating (and charging). Every failure leaves this module as a
domain error (errors.py).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import threading
from collections.abc import AsyncGenerator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import boto3  # noqa: TID251  # this module is boto3's one home
from botocore.config import Config
from botocore.credentials import AssumeRoleCredentialFetcher, Credentials, DeferredRefreshableCredentials
from botocore.eventstream import EventStream, EventStreamBuffer, EventStreamMessage
from botocore.exceptions import EventStreamError

from llmgw.server.providers.bedrock.converse import compact_json, parse_json_object
from llmgw.server.providers.bedrock.embeddings import INPUT_TOKEN_HEADER
from llmgw.server.providers.bedrock.errors import map_bedrock_error
from llmgw.server.providers.bedrock.native import NativeMessagesClient, SseEvents
from llmgw.server.providers.bedrock.transport import BedrockTransport, TransportConfig, connection_error
from llmgw.wire.errors import UpstreamError

_T = TypeVar("_T")
_OPERATIONS = ("Converse", "ConverseStream", "InvokeModel")
_JSON = "application/json"
_EVENT_STREAM = "application/vnd.amazon.eventstream"


@dataclass(frozen=True, slots=True)
class BedrockClientConfig:
    """Where Bedrock is and how patiently to talk to it; the same code serves AWS and the fake.

    `max_concurrency` is the size of the HTTP connection pool: the most Bedrock calls
    (streams included) in flight at once; more wait for a connection. `profile` signs
    with a named AWS profile; `role_arn` with a role assumed through STS (from the
    profile's or the default credentials), refreshed before it expires.
    `transport_max_attempts` (None: `max_attempts`) bounds the attempts of the calls made
    on the event loop (Converse, ConverseStream, InvokeModel); the gateway's router sets 1,
    since it retries them itself, across regions.
    """

    region: str
    endpoint_url: str | None = None
    max_attempts: int = 3
    transport_max_attempts: int | None = None
    connect_timeout_s: float = 5
    read_timeout_s: float = 120
    max_concurrency: int = 2048
    access_key_id: str | None = None
    secret_access_key: str | None = None
    profile: str | None = None
    role_arn: str | None = None


def _json_default(value: object) -> str:
    """Blobs (image bytes) travel base64-encoded in REST-JSON, as botocore's serializer sends them."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot send a {type(value).__name__} to Bedrock")


def _body(request: dict[str, Any]) -> bytes:
    fields = {key: value for key, value in request.items() if key != "modelId"}
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False, default=_json_default).encode("utf-8")


def _model_path(model_id: str, action: str) -> str:
    return f"/model/{quote(model_id, safe='')}/{action}"


def _decode_blobs(block: dict[str, Any]) -> None:
    """Blob members arrive base64-encoded in JSON; botocore decodes them to bytes, and so does this.

    The Converse output blobs: a reasoning block's `redactedContent`, an image's or a
    document's `source.bytes`.
    """
    reasoning = block.get("reasoningContent")
    if isinstance(reasoning, dict) and isinstance(reasoning.get("redactedContent"), str):
        reasoning["redactedContent"] = base64.b64decode(reasoning["redactedContent"])
    for kind in ("image", "document"):
        source = block.get(kind, {}).get("source") if isinstance(block.get(kind), dict) else None
        if isinstance(source, dict) and isinstance(source.get("bytes"), str):
            source["bytes"] = base64.b64decode(source["bytes"])


def _event(message: EventStreamMessage) -> dict[str, Any]:
    """One event-stream message as boto3 yields it ({event type: payload}), or the in-stream error raised."""
    headers: dict[str, Any] = message.headers  # type: ignore[assignment]  # a dict; botocore-stubs say int
    kind = headers.get(":message-type")
    if kind == "event":
        payload = parse_json_object(message.payload) or {}
        delta = payload.get("delta")
        if isinstance(delta, dict) and "reasoningContent" in delta:
            _decode_blobs(delta)
        return {headers.get(":event-type", ""): payload}
    if kind == "exception":
        body = parse_json_object(message.payload) or {}
        code, text = headers.get(":exception-type", ""), body.get("message") or body.get("Message") or ""
    else:
        code, text = headers.get(":error-code", ""), headers.get(":error-message", "")
    raise EventStreamError({"Error": {"Code": str(code), "Message": str(text)}}, "ConverseStream")


def _credentials(session: boto3.session.Session, role_arn: str | None) -> Credentials | None:
    """The session's credentials, or those of `role_arn` assumed with them (fetched on first use, then refreshed)."""
    if role_arn is None:
        return session.get_credentials()
    fetcher = AssumeRoleCredentialFetcher(
        client_creator=session._session.create_client,  # botocore's documented hook for STS
        source_credentials=session.get_credentials(),
        role_arn=role_arn,
        extra_args={"RoleSessionName": "llmgw"},
    )
    return DeferredRefreshableCredentials(refresh_using=fetcher.fetch_credentials, method="assume-role")


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
    """Async Converse, ConverseStream and InvokeModel over one connection pool."""

    def __init__(self, config: BedrockClientConfig) -> None:
        session = boto3.session.Session(
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
            region_name=config.region,
            profile_name=config.profile,
        )
        credentials = _credentials(session, config.role_arn)
        # Made only to read the endpoint and service model; it never sends a request.
        reference = session.client("bedrock-runtime", endpoint_url=config.endpoint_url)
        model = reference.meta.service_model
        self._transport = BedrockTransport(
            TransportConfig(
                endpoint_url=reference.meta.endpoint_url,
                region=reference.meta.region_name,
                signing_name=model.signing_name or "bedrock",
                credentials=credentials,
                max_attempts=config.transport_max_attempts or config.max_attempts,
                connect_timeout_s=config.connect_timeout_s,
                read_timeout_s=config.read_timeout_s,
                max_connections=config.max_concurrency,
            ),
            {name: model.operation_model(name) for name in _OPERATIONS},
        )
        reference.close()
        # The Anthropic Messages API's calls, still blocking (see the module docstring).
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
            lambda: credentials,
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

    async def _call(
        self, model_id: str, operation: str, path: str, body: bytes
    ) -> tuple[bytes, aiohttp.ClientResponse]:
        try:
            response = await self._transport.open(operation, path, body, _JSON)
            try:
                raw = await response.read()
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise connection_error(exc, path) from exc
            finally:
                response.release()
        except Exception as exc:
            raise map_bedrock_error(exc, model_id) from exc
        return raw, response

    async def converse(self, request: dict[str, Any]) -> dict[str, Any]:
        """One Converse call (kwargs from converse.to_converse_request); the parsed response."""
        model_id: str = request["modelId"]
        raw, _ = await self._call(model_id, "Converse", _model_path(model_id, "converse"), _body(request))
        parsed = parse_json_object(raw)
        if parsed is None:
            raise UpstreamError(f"Bedrock answered the model '{model_id}' with a body that is not a JSON object.")
        content = parsed.get("output", {}).get("message", {}).get("content")
        for block in content if isinstance(content, list) else ():
            if isinstance(block, dict):
                _decode_blobs(block)
        return parsed

    async def converse_stream(self, request: dict[str, Any]) -> AsyncGenerator[dict[str, Any], None]:
        """The ConverseStream events one by one, as boto3 yields them; closing the iterator stops Bedrock."""
        batches = self.converse_stream_batches(request)
        try:
            async for batch in batches:
                for event in batch:
                    yield event
        finally:
            await batches.aclose()

    async def converse_stream_batches(self, request: dict[str, Any]) -> AsyncGenerator[list[dict[str, Any]], None]:
        """The ConverseStream events, as boto3 yields them, in batches; closing the iterator stops Bedrock.

        Each batch is every event that arrived in one read: events that piled up while the
        consumer was busy (e.g. sending the previous chunk to a slow client) come together,
        so the consumer can coalesce them into one message.
        """
        model_id: str = request["modelId"]
        path = _model_path(model_id, "converse-stream")
        try:
            response = await self._transport.open("ConverseStream", path, _body(request), _EVENT_STREAM)
        except Exception as exc:
            raise map_bedrock_error(exc, model_id) from exc
        buffer = EventStreamBuffer()
        complete = False
        try:
            try:
                async for data in response.content.iter_any():
                    buffer.add_data(data)
                    events: list[dict[str, Any]] = []
                    failure: Exception | None = None
                    try:
                        for message in buffer:
                            events.append(_event(message))
                    except Exception as exc:  # an in-stream error: the events before it are delivered first
                        failure = exc
                    if events:
                        yield events
                    if failure is not None:
                        raise failure
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise map_bedrock_error(connection_error(exc, path), model_id) from exc
            except Exception as exc:  # in-stream errors (EventStreamError) and corrupt frames
                raise map_bedrock_error(exc, model_id) from exc
            complete = True
        finally:
            # A stream read to its end goes back to the pool; one abandoned midway is cut off.
            if complete:
                response.release()
            else:
                response.close()

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
        raw, response = await self._call(model_id, "InvokeModel", _model_path(model_id, "invoke"), payload)
        parsed = parse_json_object(raw)
        if parsed is None:
            raise UpstreamError(f"Bedrock answered the model '{model_id}' with a body that is not a JSON object.")
        return parsed, response.headers.get(INPUT_TOKEN_HEADER)

    async def close(self) -> None:
        """Release the HTTP connections; streams still open end with an upstream error."""
        await self._transport.close()
        for reader in list(self._readers):
            reader.close()
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._native.close()
        self._client.close()
