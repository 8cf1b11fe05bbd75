"""The bridge in front of the real gateway (gRPC server + fake Bedrock), driven by the OpenAI SDK."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.bridge.conftest import LoopThread, running_bridge
from tests.model_ids import HAIKU
from tests.support import GatewayThread


@pytest.fixture(scope="module")
def full_bridge_url(loop_thread: LoopThread, gateway: GatewayThread) -> Iterator[str]:
    with running_bridge(loop_thread, gateway.grpc_target) as url:
        yield url


@pytest.fixture(scope="module")
def api_key(gateway: GatewayThread) -> str:
    return gateway.create_key("alice", "bridge-tests")


def client(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=30)


def test_models_and_chat(full_bridge_url: str, api_key: str) -> None:
    """Models list and retrieve (':' in the id), a unary answer and a stream that concatenates to text."""
    with client(full_bridge_url, api_key) as sdk:
        assert HAIKU in [m.id for m in sdk.models.list()]
        assert sdk.models.retrieve(HAIKU).id == HAIKU
        completion = sdk.chat.completions.create(model=HAIKU, messages=[{"role": "user", "content": "Hello"}])
        assert completion.choices[0].message.content
        assert completion.choices[0].finish_reason == "stop"
        stream = sdk.chat.completions.create(
            model=HAIKU,
            messages=[{"role": "user", "content": "Hello"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].usage is not None


def test_gateway_errors(full_bridge_url: str, api_key: str) -> None:
    """The gateway's own refusals reach the SDK as the right classes."""
    with client(full_bridge_url, "sk-not-a-key") as sdk, pytest.raises(openai.AuthenticationError):
        sdk.models.list()
    with client(full_bridge_url, api_key) as sdk, pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("no.such-model-v1:0")
