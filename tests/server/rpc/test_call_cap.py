"""MAX_CONCURRENT_CALLS: past the cap a call is refused UNAVAILABLE (HTTP 503) with reason OVERLOADED."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx2 as httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.v1 import chat_pb2, chat_service_pb2, chat_service_pb2_grpc, model_service_pb2, model_service_pb2_grpc
from tests.bridge.conftest import running_bridge
from tests.model_ids import HAIKU
from tests.server.services.conftest import reason
from tests.support import GatewayThread, bearer, gateway_settings

WAIT_S = 10.0


@pytest.fixture(scope="module")
def capped(fake_bedrock: FakeBedrockServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    """A gateway that serves one call at a time."""
    settings = gateway_settings(Path(tmp_path_factory.mktemp("cap")), fake_bedrock.url, max_concurrent_calls=1)
    running = GatewayThread(settings).start()
    try:
        yield running
    finally:
        running.stop()


def stalled_stream(channel: grpc.Channel, key: str) -> Iterator[chat_service_pb2.StreamChatCompletionResponse]:
    """A stream that sends its first deltas and then holds its call open until cancelled."""
    message = chat_pb2.ChatMessage(role=chat_pb2.ROLE_USER, content=[chat_pb2.ContentPart(text="[[fault:stall]]")])
    request = chat_service_pb2.StreamChatCompletionRequest(
        params=chat_pb2.ChatCompletionParams(model=HAIKU, messages=[message])
    )
    stream: Iterator[chat_service_pb2.StreamChatCompletionResponse] = chat_service_pb2_grpc.ChatServiceStub(
        channel
    ).StreamChatCompletion(request, metadata=bearer(key), timeout=2 * WAIT_S)
    next(stream)  # it is being served
    return stream


def list_models(channel: grpc.Channel, key: str) -> None:
    model_service_pb2_grpc.ModelServiceStub(channel).ListModels(
        model_service_pb2.ListModelsRequest(), metadata=bearer(key), timeout=WAIT_S
    )


def test_call_over_the_cap_is_overloaded_then_served_again(capped: GatewayThread) -> None:
    """With one call in flight a second is OVERLOADED (health still answers); once it ends, calls are served."""
    key = capped.create_key("alice", "cap")
    with capped.channel() as channel:
        stream = stalled_stream(channel, key)
        with pytest.raises(grpc.RpcError) as refused:
            list_models(channel, key)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert reason(refused.value) == "OVERLOADED"
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=WAIT_S)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        assert isinstance(stream, grpc.Future)
        stream.cancel()
        deadline = time.monotonic() + WAIT_S
        while True:  # the cancelled call leaves the server soon after the client
            try:
                list_models(channel, key)
                break
            except grpc.RpcError as error:
                if reason(error) != "OVERLOADED" or time.monotonic() > deadline:
                    raise


def test_http_call_over_the_cap_is_503_overloaded(capped: GatewayThread) -> None:
    """Through the in-process bridge the cap answers 503 with code `overloaded`."""
    key = capped.create_key("bob", "cap")
    assert capped.gateway is not None
    with (
        running_bridge(capped, capped.grpc_target, channel=capped.gateway.in_process_channel()) as url,
        capped.channel() as channel,
    ):
        stream = stalled_stream(channel, key)
        reply = httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=WAIT_S)
        assert isinstance(stream, grpc.Future)
        stream.cancel()
    assert reply.status_code == 503
    assert reply.json()["error"]["code"] == "overloaded"
