"""Fixtures: a real grpc.aio server with small in-test llmgw.v1 servicers, and the bridge over real HTTP.

Both run on 127.0.0.1 port 0 in an event loop of their own thread, so the synchronous OpenAI
SDK can call them from a test without blocking them.

`bridge_url` is parametrised over the two ways the bridge reaches the services: over the
network (a grpc.aio channel, as `llmgw serve --http-only --grpc-target` does) and in-process
(the gateway's InProcessChannel, as `llmgw serve` does), so every bridge test runs in both.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast

import grpc
import pytest
from google.protobuf import any_pb2, json_format, struct_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from llmgw.bridge import create_app, serve_http
from llmgw.bridge.http_limits import HttpLimits
from llmgw.bridge.request_body import JsonLimits
from llmgw.server.rpc.inprocess import InProcessChannel, LocalHandlers
from llmgw.v1 import (
    chat_pb2,
    chat_service_pb2,
    chat_service_pb2_grpc,
    embedding_service_pb2,
    embedding_service_pb2_grpc,
    key_service_pb2,
    key_service_pb2_grpc,
    model_pb2,
    model_service_pb2,
    model_service_pb2_grpc,
)
from tests.model_ids import HAIKU

T = TypeVar("T")
GOOD_KEY = "sk-good"

# model name -> (status, ErrorInfo reason, field) the fake servicers abort with
FAILURES: dict[str, tuple[grpc.StatusCode, str, str | None]] = {
    "deny": (grpc.StatusCode.PERMISSION_DENIED, "MODEL_ACCESS_DENIED", None),
    "missing": (grpc.StatusCode.NOT_FOUND, "MODEL_NOT_FOUND", "model"),
    "quota": (grpc.StatusCode.RESOURCE_EXHAUSTED, "QUOTA_EXCEEDED", None),
    "invalid": (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST", "messages"),
    "throttled": (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_THROTTLED", None),
    "timeout": (grpc.StatusCode.DEADLINE_EXCEEDED, "UPSTREAM_TIMEOUT", None),
}


class LoopThread:
    """An asyncio loop running in a daemon thread, driven from tests with `run`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


BRIDGE_MODES = ("network", "in-process")


class Runner(Protocol):
    """Something that runs a coroutine on its loop and waits: a LoopThread or a GatewayThread."""

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T: ...


@dataclass
class UpstreamState:
    """What the fake servicers observed, for tests to assert on."""

    stream_cancelled: threading.Event = field(default_factory=threading.Event)
    last_metadata: dict[str, str] = field(default_factory=dict)
    caller_checks: int = 0


async def abort(context: grpc.aio.ServicerContext[Any, Any], model: str) -> None:
    code, reason, param = FAILURES[model]
    info = error_details_pb2.ErrorInfo(reason=reason, domain="llmgw.dev", metadata={"field": param} if param else {})
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(code=code.value[0], message=f"{model} failed", details=[detail])
    await context.abort(code, f"{model} failed", (("grpc-status-details-bin", status.SerializeToString()),))


async def check_auth(context: grpc.aio.ServicerContext[Any, Any], state: UpstreamState) -> None:
    metadata = {key: str(value) for key, value in (context.invocation_metadata() or ())}
    state.last_metadata = metadata
    if metadata.get("authorization") != f"Bearer {GOOD_KEY}":
        await abort_unauthenticated(context)


async def abort_unauthenticated(context: grpc.aio.ServicerContext[Any, Any]) -> None:
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.ErrorInfo(reason="INVALID_API_KEY", domain="llmgw.dev"))
    status = status_pb2.Status(code=grpc.StatusCode.UNAUTHENTICATED.value[0], message="invalid key", details=[detail])
    trailer = (("grpc-status-details-bin", status.SerializeToString()),)
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid key", trailer)


class FakeChat(chat_service_pb2_grpc.ChatServiceServicer):
    """Echoes the request it received as the answer text; model names select failures."""

    def __init__(self, state: UpstreamState) -> None:
        self.state = state

    async def CreateChatCompletion(self, request: Any, context: Any) -> Any:
        await check_auth(context, self.state)
        params = request.params
        if params.model in FAILURES:
            await abort(context, params.model)
        if params.model == "crash":
            raise RuntimeError("secret internal detail")
        echo = json_format.MessageToJson(params, preserving_proto_field_name=True)
        completion = chat_pb2.ChatCompletion(
            id="chatcmpl-1",
            object="chat.completion",
            created=1_700_000_000,
            model=params.model,
            choices=[
                chat_pb2.Choice(
                    index=0,
                    message=chat_pb2.AssistantMessage(role=chat_pb2.ROLE_ASSISTANT, content=echo),
                    finish_reason=chat_pb2.FINISH_REASON_STOP,
                )
            ],
            usage=chat_pb2.Usage(prompt_tokens=3, completion_tokens=2, total_tokens=5, cost_usd="0.000001"),
        )
        return chat_service_pb2.CreateChatCompletionResponse(completion=completion)

    async def StreamChatCompletion(self, request: Any, context: Any) -> AsyncIterator[Any]:
        await check_auth(context, self.state)
        params = request.params
        if params.model in FAILURES:
            await abort(context, params.model)

        def chunk(**kwargs: Any) -> Any:
            choice = chat_pb2.ChunkChoice(index=0, **kwargs)
            return chat_service_pb2.StreamChatCompletionResponse(
                chunk=chat_pb2.ChatCompletionChunk(
                    id="chatcmpl-2",
                    object="chat.completion.chunk",
                    created=1_700_000_000,
                    model=params.model,
                    choices=[choice],
                )
            )

        yield chunk(delta=chat_pb2.ChoiceDelta(role=chat_pb2.ROLE_ASSISTANT, content=""))
        if params.model == "slow":
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                self.state.stream_cancelled.set()
                raise
        for piece in ("Hel", "lo"):
            yield chunk(delta=chat_pb2.ChoiceDelta(content=piece))
        if params.model == "midfail":
            await abort(context, "throttled")
        yield chunk(delta=chat_pb2.ChoiceDelta(), finish_reason=chat_pb2.FINISH_REASON_STOP)
        if params.stream_options.include_usage:
            yield chat_service_pb2.StreamChatCompletionResponse(
                chunk=chat_pb2.ChatCompletionChunk(
                    id="chatcmpl-2",
                    object="chat.completion.chunk",
                    created=1_700_000_000,
                    model=params.model,
                    usage=chat_pb2.Usage(prompt_tokens=3, completion_tokens=2, total_tokens=5),
                )
            )


class FakeModels(model_service_pb2_grpc.ModelServiceServicer):
    """Two models, one with a `:` in its id."""

    def __init__(self, state: UpstreamState) -> None:
        self.state = state
        self.models = {
            HAIKU: model_pb2.Model(
                id=HAIKU, object="model", created=1, owned_by="anthropic", kind=model_pb2.MODEL_KIND_CHAT
            ),
            "amazon.titan-embed-text-v2:0": model_pb2.Model(
                id="amazon.titan-embed-text-v2:0",
                object="model",
                created=1,
                owned_by="amazon",
                kind=model_pb2.MODEL_KIND_EMBEDDING,
            ),
        }

    async def ListModels(self, request: Any, context: Any) -> Any:
        await check_auth(context, self.state)
        return model_service_pb2.ListModelsResponse(object="list", data=list(self.models.values()))

    async def GetModel(self, request: Any, context: Any) -> Any:
        await check_auth(context, self.state)
        if request.model not in self.models:
            await abort(context, "missing")
        return model_service_pb2.GetModelResponse(model=self.models[request.model])


class FakeEmbeddings(embedding_service_pb2_grpc.EmbeddingServiceServicer):
    """One 3-dimensional vector per input text."""

    def __init__(self, state: UpstreamState) -> None:
        self.state = state

    async def CreateEmbedding(self, request: Any, context: Any) -> Any:
        await check_auth(context, self.state)
        data = []
        for i, _text in enumerate(request.input):
            vector = struct_pb2.Value(
                list_value=struct_pb2.ListValue(
                    values=[struct_pb2.Value(number_value=v) for v in (0.5, -0.25, float(i))]
                )
            )
            data.append(embedding_service_pb2.Embedding(object="embedding", index=i, embedding=vector))
        return embedding_service_pb2.CreateEmbeddingResponse(
            object="list",
            data=data,
            model=request.model,
            usage=embedding_service_pb2.EmbeddingUsage(prompt_tokens=4, total_tokens=4),
        )


class FakeKeys(key_service_pb2_grpc.KeyServiceServicer):
    """Only GetCaller: the bridge's check before it reads a large body."""

    def __init__(self, state: UpstreamState) -> None:
        self.state = state

    async def GetCaller(self, request: Any, context: Any) -> Any:
        await check_auth(context, self.state)
        self.state.caller_checks += 1
        return key_service_pb2.GetCallerResponse(user="alice", key_name="main")


@dataclass
class Upstream:
    """The running fake gRPC server."""

    target: str
    state: UpstreamState
    channel: grpc.aio.Channel


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture(scope="session")
def upstream(loop_thread: LoopThread) -> Iterator[Upstream]:
    state = UpstreamState()

    local = LocalHandlers()

    async def start() -> tuple[grpc.aio.Server, int]:
        server = grpc.aio.server()
        chat, models, embeddings = FakeChat(state), FakeModels(state), FakeEmbeddings(state)
        keys = FakeKeys(state)  # type: ignore[abstract]  # only GetCaller is served
        health_servicer = health.aio.HealthServicer()
        await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        for registry in (server, cast(grpc.aio.Server, local)):  # add_* call only LocalHandlers' two methods
            chat_service_pb2_grpc.add_ChatServiceServicer_to_server(chat, registry)
            model_service_pb2_grpc.add_ModelServiceServicer_to_server(models, registry)
            embedding_service_pb2_grpc.add_EmbeddingServiceServicer_to_server(embeddings, registry)
            key_service_pb2_grpc.add_KeyServiceServicer_to_server(keys, registry)
            health_pb2_grpc.add_HealthServicer_to_server(health_servicer, registry)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, port

    server, port = loop_thread.run(start())
    yield Upstream(f"127.0.0.1:{port}", state, InProcessChannel(local, ()))
    loop_thread.run(server.stop(None))


@contextlib.contextmanager
def running_bridge(
    loop_thread: Runner,
    target: str,
    channel: grpc.aio.Channel | None = None,
    metrics: Callable[[], tuple[bytes, str]] | None = None,
    *,
    max_body_bytes: int = 64 * 1024,
    limits: HttpLimits | None = None,
    json_limits: JsonLimits | None = None,
) -> Iterator[str]:
    """The bridge for `target` (or over `channel`) served on a free port of `loop_thread`; yields its base URL.

    An in-process `channel` must belong to a server on the same loop as `loop_thread`.
    """

    async def start() -> tuple[asyncio.Task[None], int]:
        app = create_app(
            target, max_body_bytes=max_body_bytes, channel=channel, metrics=metrics, json_limits=json_limits
        )
        ready = asyncio.Event()
        ports: list[int] = []
        server = serve_http(app, "127.0.0.1", 0, ready=ready, on_bound=ports.append, limits=limits)
        task = asyncio.create_task(server)
        await asyncio.wait_for(ready.wait(), 10)
        return task, ports[0]

    async def stop(task: asyncio.Task[None]) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    task, port = loop_thread.run(start())
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop_thread.run(stop(task))


@pytest.fixture(scope="session", params=BRIDGE_MODES)
def bridge_url(request: pytest.FixtureRequest, loop_thread: LoopThread, upstream: Upstream) -> Iterator[str]:
    channel = upstream.channel if request.param == "in-process" else None
    with running_bridge(loop_thread, upstream.target, channel) as url:
        yield url


@contextlib.contextmanager
def gateway_bridge(gateway: Any, mode: str, *, metrics: bool = False) -> Iterator[str]:
    """The bridge in front of a GatewayThread's gateway, over the network or in its process (on its loop)."""
    served = gateway.gateway
    render = served.metrics.render if metrics else None
    if mode == "in-process":
        with running_bridge(gateway, gateway.grpc_target, served.in_process_channel(), render) as url:
            yield url
        return
    loop = LoopThread()
    try:
        with running_bridge(loop, gateway.grpc_target, None, render) as url:
            yield url
    finally:
        loop.close()
