"""A real gateway with application profiles behind the real bridge, for the OpenAI SDK tests of issue 12.

Module-scoped: each test module gets its own gateway (SQLite in a temp dir) in front of
the session's fake Bedrock, with two application inference profiles registered on both
sides (the gateway's APPLICATION_PROFILES setting and the fake's account).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import openai
import pytest

from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.server.store.models import RequestRecord
from tests.bridge.conftest import LoopThread, running_bridge
from tests.model_ids import HAIKU, HAIKU_45, TITAN
from tests.support import GatewayThread, gateway_settings

# Application profiles over a caching, thinking Claude, over a model that does neither, and over
# an embedding model.
ARN = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6"
ARN_PLAIN = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/0f9e8d7c6b5a"
ARN_EMBED = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/e1e2e3e4e5e6"
PROFILES = [{"arn": ARN, "model": HAIKU_45}, {"arn": ARN_PLAIN, "model": HAIKU}, {"arn": ARN_EMBED, "model": TITAN}]


@pytest.fixture(scope="module")
def profile_gateway(
    fake_bedrock: FakeBedrockServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayThread]:
    """A gateway that knows the two application profiles, as does the fake Bedrock."""
    for profile in PROFILES:
        fake_bedrock.app.application_profiles[profile["arn"]] = profile["model"]
    settings = gateway_settings(tmp_path_factory.mktemp("gateway"), fake_bedrock.url, application_profiles=PROFILES)
    running = GatewayThread(settings).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def sdk(loop_thread: LoopThread, profile_gateway: GatewayThread) -> Iterator[openai.OpenAI]:
    """The official OpenAI SDK on the bridge in front of the profile gateway, as user alice."""
    key = profile_gateway.create_key("alice", "sdk")
    with (
        running_bridge(loop_thread, profile_gateway.grpc_target) as url,
        openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=30) as client,
    ):
        yield client


def fresh(words: int) -> str:
    """A text of `words` words no other test sends, so the fake's prompt cache has not seen it."""
    tag = secrets.token_hex(6)
    return " ".join(f"w{tag}{i}" for i in range(words))


def extra(model: Any, name: str) -> Any:
    """A field the SDK may not model (a gateway extension): pydantic keeps it as an attribute either way."""
    value = getattr(model, name)
    assert value is not None, f"{name} is missing from {model!r}"
    return value


def cost_of(usage: Any) -> int:
    """The usage's `cost_usd` in picodollars."""
    return int(Decimal(extra(usage, "cost_usd")) * 10**12)


def record(request_id: str) -> RequestRecord:
    """The request log row of a request, by the id the response carried."""
    row: RequestRecord = RequestRecord.get_by_id(request_id)
    return row


def create(client: openai.OpenAI, **request: Any) -> Any:
    """`client.chat.completions.create(**request)`: the tests send dicts the SDK's TypedDicts do not model."""
    return client.chat.completions.create(**request)
