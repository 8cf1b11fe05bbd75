"""Fixtures: two fake Bedrocks as two regions (real HTTP), and gateways routed across them.

`east` is the default region (AWS_REGION us-east-1, BEDROCK_ENDPOINT_URL); `west` is a
`[bedrock.regions.us-west-2]` table. Each test starts its own gateway (breakers start
closed) with `routed(...)`, and the fakes' configs are reset after it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from llmgw.fakebedrock.config import FakeBedrockConfig
from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.server.store.models import RequestRecord
from llmgw.v1 import chat_pb2, chat_service_pb2, chat_service_pb2_grpc, route_service_pb2_grpc
from tests.model_ids import HAIKU, SONNET, TITAN
from tests.support import GatewayThread, bearer, gateway_settings

EAST, WEST = "us-east-1", "us-west-2"
# Claude Haiku 4.5 costs more on its us. profile than on global.: the price of the target that answers is charged.
HAIKU45 = "anthropic.claude-haiku-4-5-20251001-v1:0"
HAIKU45_US = f"us.{HAIKU45}"
HAIKU45_GLOBAL = f"global.{HAIKU45}"
RECORD_WAIT_S = 5.0

ROUTES: list[dict[str, Any]] = [
    {
        "model": HAIKU45_US,
        "targets": [{"region": EAST, "model": HAIKU45_US}, {"region": WEST, "model": HAIKU45_GLOBAL}],
    },
    {"model": HAIKU, "targets": [{"region": EAST, "model": HAIKU}], "fallbacks": [SONNET]},
    {"model": TITAN, "targets": [{"region": EAST, "model": TITAN}, {"region": WEST, "model": TITAN}]},
]


@dataclass
class Routed:
    """A running gateway routed over the two fakes, with sync stubs and keys for root (admin) and alice."""

    gateway: GatewayThread
    east: FakeBedrockServer
    west: FakeBedrockServer
    chat: chat_service_pb2_grpc.ChatServiceStub
    routes: route_service_pb2_grpc.RouteServiceStub
    root: str
    alice: str

    def ask(self, text: str, model: str = HAIKU45_US, key: str = "") -> chat_service_pb2.CreateChatCompletionResponse:
        """A unary chat call as alice (or `key`)."""
        request = chat_service_pb2.CreateChatCompletionRequest(params=chat_params(text, model))
        return self.chat.CreateChatCompletion(request, metadata=bearer(key or self.alice), timeout=30)

    def stream(self, text: str, model: str = HAIKU45_US) -> Iterator[chat_service_pb2.StreamChatCompletionResponse]:
        """A streaming chat call as alice; iterate it."""
        request = chat_service_pb2.StreamChatCompletionRequest(params=chat_params(text, model))
        return self.chat.StreamChatCompletion(request, metadata=bearer(self.alice), timeout=30)

    def metrics(self) -> str:
        """The gateway's /metrics text."""
        assert self.gateway.gateway is not None
        return self.gateway.gateway.metrics.render()[0].decode()


def chat_params(text: str, model: str) -> chat_pb2.ChatCompletionParams:
    """One user message for `model`."""
    message = chat_pb2.ChatMessage(role=chat_pb2.ROLE_USER, content=[chat_pb2.ContentPart(text=text)])
    return chat_pb2.ChatCompletionParams(model=model, messages=[message])


def records(user: str, expected: int) -> list[RequestRecord]:
    """The user's request records, oldest first, waiting (bounded) for rows queued without waiting."""
    deadline = time.monotonic() + RECORD_WAIT_S
    while True:
        rows = list(RequestRecord.select().where(RequestRecord.user == user).order_by(RequestRecord.created_at))
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.02)


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[FakeBedrockServer, FakeBedrockServer]]:
    """Two fake Bedrocks, one per region."""
    with FakeBedrockServer() as east, FakeBedrockServer() as west:
        yield east, west


@pytest.fixture
def routed(fakes: tuple[FakeBedrockServer, FakeBedrockServer], tmp_path: Path) -> Iterator[Callable[..., Routed]]:
    """Start a gateway routed over both fakes, with setting overrides; stopped (and the fakes reset) after the test."""
    east, west = fakes
    started: list[tuple[GatewayThread, grpc.Channel]] = []

    def start(**overrides: Any) -> Routed:
        values: dict[str, Any] = {
            "bedrock": {"regions": {WEST: {"endpoint_url": west.url}}},
            "routes": ROUTES,
            "bedrock_backoff_base_seconds": 0.01,
            "bedrock_backoff_max_seconds": 0.05,
            **overrides,
        }
        gateway = GatewayThread(gateway_settings(tmp_path / f"gw{len(started)}", east.url, **values)).start()
        channel = gateway.channel()
        started.append((gateway, channel))
        return Routed(
            gateway,
            east,
            west,
            chat_service_pb2_grpc.ChatServiceStub(channel),
            route_service_pb2_grpc.RouteServiceStub(channel),
            gateway.create_key("root", "admin"),
            gateway.create_key("alice", "main"),
        )

    try:
        yield start
    finally:
        for gateway, channel in started:
            channel.close()
            gateway.stop()
        east.app.config = FakeBedrockConfig()
        west.app.config = FakeBedrockConfig()
