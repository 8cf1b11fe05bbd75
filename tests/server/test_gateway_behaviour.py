"""Gateway behaviour under load, retries, cancellation; models, embeddings, health and reflection."""

from __future__ import annotations

import asyncio
import base64
import struct
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.server.store.models import RequestRecord
from llmgw.v1 import (
    chat_pb2,
    chat_service_pb2,
    chat_service_pb2_grpc,
    embedding_service_pb2,
    embedding_service_pb2_grpc,
    model_pb2,
    model_service_pb2,
    model_service_pb2_grpc,
)
from tests.chat_requests import params, records, user
from tests.model_ids import HAIKU
from tests.support import GatewayThread, bearer


@pytest.fixture(scope="module")
def key(gateway: GatewayThread) -> str:
    """One key for the module."""
    return gateway.create_key("carol", "behaviour")


def stream_request(text: str) -> chat_service_pb2.StreamChatCompletionRequest:
    """A streaming request for one user message."""
    return chat_service_pb2.StreamChatCompletionRequest(params=params(user(text)))


async def test_200_concurrent_streams_progress_at_once(gateway: GatewayThread, key: str) -> None:
    """200 streams with 200 ms to first token run side by side instead of queueing (well under 200 x 200 ms)."""
    # Each stream lasts about 1.7 s after its first token, so streams that truly run at once
    # overlap by a wide margin even on a busy machine, while queued ones could not.
    prompt = "[[ttft_ms:200]] [[token_delay_ms:50]] [[tokens:30]] hello"
    intervals: list[tuple[float, float]] = []

    async def one(stub: chat_service_pb2_grpc.ChatServiceAsyncStub) -> None:
        first = None
        async for response in stub.StreamChatCompletion(stream_request(prompt), metadata=bearer(key)):
            if first is None and response.chunk.choices:
                first = time.monotonic()
        assert first is not None
        intervals.append((first, time.monotonic()))

    started = time.monotonic()
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        stub = chat_service_pb2_grpc.ChatServiceStub(channel)
        await asyncio.gather(*(one(stub) for _ in range(200)))
    elapsed = time.monotonic() - started
    assert len(intervals) == 200
    assert elapsed < 200 * 0.2 / 2
    # The most streams delivering tokens at the same instant (a sweep over start/end events).
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    open_now = most_open = 0
    for _, change in events:
        open_now += change
        most_open = max(most_open, open_now)
    assert most_open >= 100


def test_abandoned_stream_is_charged_and_reaches_bedrock(
    gateway: GatewayThread, key: str, fake_bedrock: FakeBedrockServer
) -> None:
    """A client that cancels mid-stream is charged for the tokens so far and Bedrock's stream is closed."""
    aborted_before = fake_bedrock.app.stats.streams_aborted
    name = "abandoner"
    abandon_key = gateway.create_key("carol", name)
    with gateway.channel() as channel:
        stub = chat_service_pb2_grpc.ChatServiceStub(channel)
        call = stub.StreamChatCompletion(
            stream_request("[[tokens:500]] [[token_delay_ms:20]] long answer"), metadata=bearer(abandon_key)
        )
        seen = 0
        for response in call:
            seen += len(response.chunk.choices)
            if seen >= 5:
                call.cancel()
                break
    [row] = records(name)
    assert row.outcome == "cancelled"
    assert 5 <= row.output_tokens < 500
    assert row.cost_picodollars > 0
    deadline = time.monotonic() + 5
    while fake_bedrock.app.stats.streams_aborted == aborted_before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake_bedrock.app.stats.streams_aborted > aborted_before


def test_models_list_and_get(gateway: GatewayThread, key: str) -> None:
    """ListModels shows the catalog; GetModel finds ids with ':' and refuses unknown ones."""
    with gateway.channel() as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        listed = stub.ListModels(model_service_pb2.ListModelsRequest(), metadata=bearer(key))
        ids = [m.id for m in listed.data]
        assert listed.object == "list"
        assert ids == sorted(ids)
        assert HAIKU in ids
        assert "global.anthropic.claude-haiku-4-5-20251001-v1:0" in ids
        model = stub.GetModel(model_service_pb2.GetModelRequest(model=HAIKU), metadata=bearer(key)).model
        assert (model.id, model.object, model.owned_by, model.kind) == (
            HAIKU,
            "model",
            "anthropic",
            model_pb2.MODEL_KIND_CHAT,
        )
        assert (model.input_usd_per_million_tokens, model.output_usd_per_million_tokens) == ("0.25", "1.25")
        assert model.capabilities.vision
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetModel(model_service_pb2.GetModelRequest(model="nope:1"), metadata=bearer(key))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("model", ["amazon.titan-embed-text-v2:0", "cohere.embed-english-v3"])
def test_embeddings_float_and_base64(gateway: GatewayThread, key: str, model: str) -> None:
    """Embeddings come back as floats or as base64 float32 of the same vector, and are recorded."""
    with gateway.channel() as channel:
        stub = embedding_service_pb2_grpc.EmbeddingServiceStub(channel)
        texts = ["the first text", "and a second one"]
        floats = stub.CreateEmbedding(
            embedding_service_pb2.CreateEmbeddingRequest(model=model, input=texts), metadata=bearer(key)
        )
        encoded = stub.CreateEmbedding(
            embedding_service_pb2.CreateEmbeddingRequest(
                model=model, input=texts, encoding_format=embedding_service_pb2.ENCODING_FORMAT_BASE64
            ),
            metadata=bearer(key),
        )
    assert [d.index for d in floats.data] == [0, 1]
    vector = [v.number_value for v in floats.data[0].embedding.list_value.values]
    assert len(vector) == 1024
    raw = base64.b64decode(encoded.data[0].embedding.string_value)
    unpacked = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert unpacked == pytest.approx(vector, rel=1e-6)
    assert floats.usage.prompt_tokens > 0
    assert floats.usage.cost_usd != "0"
    row = RequestRecord.get(RequestRecord.model == model, RequestRecord.api == "embeddings")
    assert row.outcome == "success"


def test_embedding_with_a_chat_model_is_invalid(gateway: GatewayThread, key: str) -> None:
    """A chat model on the embeddings API is INVALID_ARGUMENT naming it."""
    with gateway.channel() as channel, pytest.raises(grpc.RpcError) as caught:
        embedding_service_pb2_grpc.EmbeddingServiceStub(channel).CreateEmbedding(
            embedding_service_pb2.CreateEmbeddingRequest(model=HAIKU, input=["x"]), metadata=bearer(key)
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert HAIKU in str(caught.value.details())


def test_health_and_reflection_need_no_key(gateway: GatewayThread) -> None:
    """Health checking and reflection answer without credentials; chat services are listed."""
    with gateway.channel() as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        [answer] = list(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    names = {s.name for s in answer.list_services_response.service}
    assert {"llmgw.v1.ChatService", "llmgw.v1.ModelService", "llmgw.v1.EmbeddingService"} <= names


def test_data_dir_holds_secret_with_private_mode(gateway: GatewayThread) -> None:
    """The generated server secret is a 0600 file in the data directory."""
    secret_file = Path(gateway.settings.data_dir) / "server-secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600


def test_assistant_role_first_is_refused(gateway: GatewayThread, key: str) -> None:
    """A conversation must start with the user; the error names the field."""
    assistant = chat_pb2.ChatMessage(role=chat_pb2.ROLE_ASSISTANT, content=[chat_pb2.ContentPart(text="hi")])
    with gateway.channel() as channel, pytest.raises(grpc.RpcError) as caught:
        chat_service_pb2_grpc.ChatServiceStub(channel).CreateChatCompletion(
            chat_service_pb2.CreateChatCompletionRequest(params=params(assistant)), metadata=bearer(key)
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
