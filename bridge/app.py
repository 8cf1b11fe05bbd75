"""The ASGI app: HTTP/JSON and SSE in front of the gateway's gRPC services.

Raw ASGI rather than Starlette: every request here follows one fixed path (route lookup from
the generated table, one body read, one transcode, one RPC), so a framework's per-request
Request/Response objects, middleware stack and routing would be pure overhead on the hot path
the gateway competes on, while the ASGI messages we send are few and simple. Served by uvicorn
with httptools and uvloop (see `http_server.serve_http`).

All RPCs share one grpc.aio channel, owned by the app: opened at lifespan startup (or on the
first request), closed at lifespan shutdown or by `aclose()`. In `llmgw serve` the channel is
handed in: the gateway's in-process channel, which calls the servicers through the server's
pipeline without leaving the process; the bridge cannot tell the difference.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import cast
from urllib.parse import quote

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc

from llmgw.bridge.anthropic_shapes import ANTHROPIC_API
from llmgw.bridge.bedrock_shapes import BEDROCK_API
from llmgw.bridge.chunks import FAST_PATH, encode_chunk
from llmgw.bridge.codec import dumps
from llmgw.bridge.errors import FALLBACK_BODY, ClientError, OpenAIError, from_rpc_error
from llmgw.bridge.framing import Framing, allow_header, fallback_stream_error
from llmgw.bridge.http_server import Receive, Scope, Send, serve_http
from llmgw.bridge.metadata import outgoing_metadata, response_headers
from llmgw.bridge.openai_params import CHAT_PATH, check_chat_params
from llmgw.bridge.openai_shapes import DISPATCHERS, OPENAI_FRAMING, OPENAI_SHAPES
from llmgw.bridge.openapi import build_openapi, load_comments
from llmgw.bridge.request_body import ClientGone, JsonLimits, decode_json, is_large, read_body
from llmgw.bridge.request_id import METADATA_KEY, request_id_for, sending_request_id
from llmgw.bridge.router import Router
from llmgw.bridge.routes import HttpApi, Route, RouteTable, build_route_table, discover_services
from llmgw.bridge.transcode import build_request, response_payload
from llmgw.v1 import chat_service_pb2, key_service_pb2

__all__ = ["BridgeApp", "create_app", "serve_http"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024
HEALTH_TIMEOUT_SECONDS = 2.0
_JSON = (b"content-type", b"application/json")
_GET_CALLER = "/llmgw.v1.KeyService/GetCaller"
_SAFE_PATH_CHARS = "/%:@!$&'()*+,;=-._~"
# Responses can be large (embeddings of 96 texts); requests are bounded by max_body_bytes.
_CHANNEL_OPTIONS = [("grpc.max_receive_message_length", 64 * 1024 * 1024), ("grpc.max_send_message_length", -1)]
#: The services that speak another API than OpenAI's, with its JSON shapes and wire framing.
APIS: dict[str, HttpApi] = {"llmgw.v1.MessagesService": ANTHROPIC_API, "llmgw.v1.BedrockService": BEDROCK_API}


class _Gate:
    """One large request's turn through the bridge's heavy steps (see `request_body.is_large`).

    Large bodies take turns from reading the body until the server has received the request
    (its initial metadata arrived): parsing, transcoding and serializing megabytes hold the
    GIL, and taking turns keeps every such stall short instead of letting several pile up in
    front of other requests. The turn ends once, on whichever path comes first.
    """

    def __init__(self, semaphore: asyncio.Semaphore | None) -> None:
        self._semaphore = semaphore
        self._held = False

    async def enter(self) -> None:
        """Wait for the turn."""
        if self._semaphore is not None:
            await self._semaphore.acquire()
            self._held = True

    def leave(self) -> None:
        """Give the turn back (idempotent)."""
        if self._held and self._semaphore is not None:
            self._held = False
            self._semaphore.release()

    async def leave_when_received(self, call: grpc.aio.Call) -> None:
        """Give the turn back once the server has the request (or the call has ended)."""
        if self._held:
            try:
                await call.initial_metadata()
            finally:
                self.leave()


_NO_GATE = _Gate(None)


async def _verified() -> None:
    """The credential check of a request whose caller was checked already."""


class _Refused(Exception):
    """The server refused the caller's credential before the body was read."""

    def __init__(self, error: OpenAIError) -> None:
        super().__init__(error.message)
        self.error = error


class BridgeApp:
    """The bridge as an ASGI application over one route table and one gRPC channel."""

    def __init__(
        self,
        target: str,
        table: RouteTable,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        channel_credentials: grpc.ChannelCredentials | None = None,
        metrics: Callable[[], tuple[bytes, str]] | None = None,
        channel: grpc.aio.Channel | None = None,
        json_limits: JsonLimits | None = None,
        drop_unsupported_params: bool = False,
    ) -> None:
        self.target = target
        self._given_channel = channel
        self.drop_unsupported_params = drop_unsupported_params
        self._metrics = metrics
        self.table = table
        self.max_body_bytes = max_body_bytes
        limits = json_limits or JsonLimits()
        self.json_limits = JsonLimits(max_body_bytes, limits.max_depth, limits.max_string_chars, limits.max_messages)
        self._credentials = channel_credentials
        self._router = Router(table)
        self._channel: grpc.aio.Channel | None = None
        self._unary: dict[str, grpc.aio.UnaryUnaryMultiCallable[Message, Message]] = {}
        self._streaming: dict[str, grpc.aio.UnaryStreamMultiCallable[Message, Message]] = {}
        self._health: health_pb2_grpc.HealthStub | None = None
        self._get_caller: grpc.aio.UnaryUnaryMultiCallable[Message, Message] | None = None
        self._openapi: bytes | None = None
        self._large_bodies = asyncio.Semaphore(1)

    def _open(self) -> grpc.aio.Channel:
        if self._channel is None:
            if self._given_channel is not None:
                channel = self._given_channel
            elif self._credentials is None:
                channel = grpc.aio.insecure_channel(self.target, options=_CHANNEL_OPTIONS)
            else:
                channel = grpc.aio.secure_channel(self.target, self._credentials, options=_CHANNEL_OPTIONS)
            for route in self.table.routes:
                serializer, deserializer = route.request_class.SerializeToString, route.response_class.FromString
                if route.server_streaming:
                    self._streaming[route.rpc] = channel.unary_stream(route.rpc_path, serializer, deserializer)
                else:
                    self._unary[route.rpc] = channel.unary_unary(route.rpc_path, serializer, deserializer)
            self._health = health_pb2_grpc.HealthStub(channel)
            self._get_caller = channel.unary_unary(
                _GET_CALLER,
                key_service_pb2.GetCallerRequest.SerializeToString,
                key_service_pb2.GetCallerResponse.FromString,
            )
            self._channel = channel
        return self._channel

    async def aclose(self) -> None:
        """Close the gRPC channel (idempotent); in-flight calls are cancelled."""
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope: HTTP requests and the lifespan; others are ignored."""
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._open()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        path = quote(scope.get("raw_path") or scope["path"].encode(), safe=_SAFE_PATH_CHARS)
        self._open()
        request_id = request_id_for(scope["headers"])
        send = sending_request_id(send, request_id)
        framing: Framing = OPENAI_FRAMING
        gate = _NO_GATE
        try:
            if path in ("/healthz", "/openapi.json") or (path == "/metrics" and self._metrics is not None):
                if method != "GET":
                    raise ClientError(f"Method {method} is not allowed for {path}", http_status=405, allow=["GET"])
                if path == "/metrics":
                    await self._send_metrics(send)
                else:
                    await (self._healthz(send) if path == "/healthz" else self._send_openapi(send))
                return
            match = self._router.match(method, path)
            framing = match.endpoint.framing or OPENAI_FRAMING
            metadata = (*outgoing_metadata(scope["headers"]), (METADATA_KEY, request_id))
            body: object = None
            if match.endpoint.takes_body:
                verify: Callable[[], Awaitable[None]] = functools.partial(self._verify, metadata)
                if is_large(scope["headers"], self.json_limits.max_body_bytes):
                    await verify()  # a bad key never waits for (or takes) a large body's turn
                    verify = _verified
                    gate = _Gate(self._large_bodies)
                    await gate.enter()
                raw = await read_body(scope, receive, self.json_limits.max_body_bytes, verify)
                body = raw if match.endpoint.raw_body else await decode_json(raw, self.json_limits)
                if match.endpoint.template.source == CHAT_PATH:
                    body = check_chat_params(body, self.drop_unsupported_params)
            route = match.endpoint.select(body)
            request = build_request(route, body, match.values, scope.get("query_string", b""))
        except ClientError as exc:
            gate.leave()
            await _send_error(send, framing, exc.to_openai(), exc.allow)
            return
        except _Refused as exc:
            gate.leave()
            # The body was not read: close the connection rather than read and discard it.
            await _send_error(send, framing, exc.error, close=True)
            return
        except ClientGone:
            gate.leave()
            return
        except BaseException:
            gate.leave()
            raise
        try:
            if route.server_streaming:
                await self._stream(route, request, metadata, receive, send, gate)
            else:
                await self._call(route, request, metadata, receive, send, gate)
        finally:
            gate.leave()

    async def _verify(self, metadata: Sequence[tuple[str, str]]) -> None:
        """Check the caller's credential with the server before a large body is read.

        A server without GetCaller (an older gateway behind an `--http-only` bridge) answers
        UNIMPLEMENTED; the body is then read and the call authenticated as before.
        """
        assert self._get_caller is not None  # noqa: S101 - _open() ran first
        try:
            await self._get_caller(key_service_pb2.GetCallerRequest(), metadata=tuple(metadata))
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise _Refused(from_rpc_error(exc)) from None

    async def _call(
        self,
        route: Route,
        request: Message,
        metadata: Sequence[tuple[str, str]],
        receive: Receive,
        send: Send,
        gate: _Gate,
    ) -> None:
        call = self._unary[route.rpc](request, metadata=metadata)
        watcher = asyncio.ensure_future(_cancel_on_disconnect(receive, call))
        try:
            await gate.leave_when_received(call)
            response = await call
            headers = response_headers((*(await call.initial_metadata()), *(await call.trailing_metadata())))
        except grpc.aio.AioRpcError as exc:
            await _send_error(send, route.framing or OPENAI_FRAMING, from_rpc_error(exc))
            return
        except asyncio.CancelledError:
            if _left(watcher):
                return
            raise
        finally:
            watcher.cancel()
        payload = _render(route, response)
        if payload is None:
            await _send_json(send, 500, FALLBACK_BODY)
        elif isinstance(payload[0], bytes):
            content_type = (payload[1] or "application/octet-stream").encode()
            await _send_body(send, 200, payload[0], [(b"content-type", content_type), *headers])
        else:
            body = _dumps(route, payload[0])
            await _send_json(send, 200, body, headers) if body is not None else await _send_json(
                send, 500, FALLBACK_BODY
            )

    async def _stream(
        self,
        route: Route,
        request: Message,
        metadata: Sequence[tuple[str, str]],
        receive: Receive,
        send: Send,
        gate: _Gate,
    ) -> None:
        call = self._streaming[route.rpc](request, metadata=metadata)
        watcher = asyncio.ensure_future(_cancel_on_disconnect(receive, call))
        framing = route.framing or OPENAI_FRAMING
        try:
            try:
                await gate.leave_when_received(call)
                message = await call.read()
            except grpc.aio.AioRpcError as exc:
                await _send_error(send, framing, from_rpc_error(exc))
                return
            render = _stream_renderer(route)
            rendered = None if message is grpc.aio.EOF else render(route, cast(Message, message))
            content_type = rendered[1] if rendered is not None else None
            await send({"type": "http.response.start", "status": 200, "headers": framing.stream_headers(content_type)})
            try:
                while message is not grpc.aio.EOF:
                    chunk = None if rendered is None else framing.stream_item(rendered[0])
                    if chunk is None:
                        await send({"type": "http.response.body", "body": fallback_stream_error(framing)})
                        return
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    message = await call.read()
                    rendered = None if message is grpc.aio.EOF else render(route, cast(Message, message))
            except grpc.aio.AioRpcError as exc:
                await send({"type": "http.response.body", "body": framing.stream_error(from_rpc_error(exc))})
                return
            await send({"type": "http.response.body", "body": framing.stream_end()})
        except asyncio.CancelledError:
            if _left(watcher):
                return
            raise
        finally:
            watcher.cancel()
            call.cancel()

    async def _healthz(self, send: Send) -> None:
        assert self._health is not None  # noqa: S101 - _open() ran first
        try:
            reply = await self._health.Check(health_pb2.HealthCheckRequest(), timeout=HEALTH_TIMEOUT_SECONDS)
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status).lower()
        except grpc.aio.AioRpcError:
            status = "unreachable"
        await _send_json(send, 200 if status == "serving" else 503, dumps({"status": status}))

    async def _send_metrics(self, send: Send) -> None:
        assert self._metrics is not None  # noqa: S101 - routed here only when set
        body, content_type = self._metrics()
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", content_type.encode())]}
        )
        await send({"type": "http.response.body", "body": body})

    async def _send_openapi(self, send: Send) -> None:
        if self._openapi is None:
            self._openapi = dumps(build_openapi(self.table, load_comments()))
        await _send_json(send, 200, self._openapi)


def _render(route: Route, response: Message) -> tuple[dict[str, object] | bytes, str | None] | None:
    """A response's body (JSON data or HttpBody bytes), or None (logged) when it cannot be rendered."""
    try:
        return response_payload(route, response)
    except (TypeError, ValueError):
        logger.exception("could not serialize a %s response", route.rpc)
        return None


_Payload = tuple[dict[str, object] | bytes, str | None]


def _render_chat_chunk(route: Route, response: Message) -> _Payload | None:
    """A chat stream message as its JSON bytes by the hand-written encoder (bridge/chunks.py): the per-token path."""
    try:
        return encode_chunk(cast(chat_service_pb2.StreamChatCompletionResponse, response).chunk), None
    except (TypeError, ValueError):
        logger.exception("could not serialize a %s response", route.rpc)
        return None


def _stream_renderer(route: Route) -> Callable[[Route, Message], _Payload | None]:
    """How each message of a stream is rendered: the chat chunk encoder where it applies, else the generic one."""
    chat = route.response_class is chat_service_pb2.StreamChatCompletionResponse and route.response_body == "chunk"
    return _render_chat_chunk if FAST_PATH and chat else _render


def _dumps(route: Route, payload: dict[str, object]) -> bytes | None:
    """JSON text, or None (logged) when the data cannot be serialized (e.g. a NaN double)."""
    try:
        return dumps(payload)
    except (TypeError, ValueError):
        logger.exception("could not serialize a %s response", route.rpc)
        return None


async def _cancel_on_disconnect(receive: Receive, call: grpc.aio.Call) -> bool:
    """Cancel the call as soon as the client disconnects; True once it did."""
    while (await receive())["type"] != "http.disconnect":
        pass
    call.cancel()
    return True


def _left(watcher: asyncio.Future[bool]) -> bool:
    """Whether the disconnect watcher saw the client go (so a CancelledError is the call's)."""
    return watcher.done() and not watcher.cancelled() and watcher.result()


async def _send_json(send: Send, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    content_length = (b"content-length", str(len(body)).encode())
    await send({"type": "http.response.start", "status": status, "headers": [_JSON, content_length, *headers]})
    await send({"type": "http.response.body", "body": body})


async def _send_body(send: Send, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]]) -> None:
    content_length = (b"content-length", str(len(body)).encode())
    await send({"type": "http.response.start", "status": status, "headers": [content_length, *headers]})
    await send({"type": "http.response.body", "body": body})


async def _send_error(
    send: Send, framing: Framing, error: OpenAIError, allow: Sequence[str] = (), *, close: bool = False
) -> None:
    body, headers = framing.error(error)
    closing = [(b"connection", b"close")] if close else []
    await _send_json(send, error.http_status, body, [*allow_header(allow), *headers, *closing])


def create_app(
    target: str,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    channel_credentials: grpc.ChannelCredentials | None = None,
    metrics: Callable[[], tuple[bytes, str]] | None = None,
    channel: grpc.aio.Channel | None = None,
    json_limits: JsonLimits | None = None,
    drop_unsupported_params: bool = False,
) -> BridgeApp:
    """The bridge for the llmgw.v1 services at `target` (`host:port`), routes from their annotations.

    `metrics` renders the Prometheus exposition served at `GET /metrics` (absent: no such route).
    `channel`, when given, is used instead of a channel to `target` (the gateway's in-process one).
    """
    table = build_route_table(discover_services(), DISPATCHERS, OPENAI_SHAPES, APIS)
    return BridgeApp(
        target,
        table,
        max_body_bytes=max_body_bytes,
        channel_credentials=channel_credentials,
        metrics=metrics,
        channel=channel,
        json_limits=json_limits,
        drop_unsupported_params=drop_unsupported_params,
    )
