"""Bedrock throttling: retried by the client, then UNAVAILABLE.

Its own module: a gateway owns the process's database binding, so this gateway
with retries enabled must not run beside the shared module-scoped one.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.v1 import chat_service_pb2, chat_service_pb2_grpc
from tests.chat_requests import params, user
from tests.support import GatewayThread, bearer, gateway_settings


@pytest.fixture(scope="module")
def retrying_gateway(
    fake_bedrock: FakeBedrockServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayThread]:
    """A gateway that lets boto3 try Bedrock twice."""
    settings = gateway_settings(tmp_path_factory.mktemp("retrying"), fake_bedrock.url, bedrock_max_attempts=2)
    running = GatewayThread(settings).start()
    try:
        yield running
    finally:
        running.stop()


def test_throttling_is_retried_then_unavailable(retrying_gateway: GatewayThread) -> None:
    """One throttle is absorbed by a retry; throttling that persists becomes UNAVAILABLE."""
    key = retrying_gateway.create_key("dave", "throttled")
    with retrying_gateway.channel() as channel:
        stub = chat_service_pb2_grpc.ChatServiceStub(channel)
        reply = stub.CreateChatCompletion(
            chat_service_pb2.CreateChatCompletionRequest(params=params(user("once [[fault:throttle:1]]"))),
            metadata=bearer(key),
        )
        assert reply.completion.choices[0].message.content
        with pytest.raises(grpc.RpcError) as caught:
            stub.CreateChatCompletion(
                chat_service_pb2.CreateChatCompletionRequest(params=params(user("always [[fault:throttle]]"))),
                metadata=bearer(key),
            )
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "too busy" in str(caught.value.details())
