"""Fixtures: a real gateway per test on SQLite and on PostgreSQL, with an injected clock.

`gov` starts a gateway on the database named by `store_url` (so every governance
test runs on both stores), with `root` as its only admin, a short key cache and a
clock the test can move. Helpers build stubs, keys and requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.server.store.ledger import LedgerEntry
from llmgw.server.store.models import QuotaLedger, RequestRecord
from llmgw.v1 import (
    chat_pb2,
    chat_service_pb2,
    chat_service_pb2_grpc,
    embedding_service_pb2_grpc,
    key_service_pb2_grpc,
    model_service_pb2_grpc,
    policy_service_pb2_grpc,
    quota_service_pb2_grpc,
    usage_service_pb2_grpc,
)
from tests.model_ids import HAIKU
from tests.support import GatewayThread, gateway_settings

KEY_CACHE_SECONDS = 0.5


@dataclass
class Clock:
    """A clock the test moves; the gateway reads every governance 'now' from it."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        """Move time forward."""
        self.now += delta


@dataclass
class Stubs:
    """Sync stubs for every service on one channel."""

    channel: grpc.Channel
    chat: chat_service_pb2_grpc.ChatServiceStub = field(init=False)
    models: model_service_pb2_grpc.ModelServiceStub = field(init=False)
    embeddings: embedding_service_pb2_grpc.EmbeddingServiceStub = field(init=False)
    keys: key_service_pb2_grpc.KeyServiceStub = field(init=False)
    quotas: quota_service_pb2_grpc.QuotaServiceStub = field(init=False)
    policies: policy_service_pb2_grpc.PolicyServiceStub = field(init=False)
    usage: usage_service_pb2_grpc.UsageServiceStub = field(init=False)

    def __post_init__(self) -> None:
        self.chat = chat_service_pb2_grpc.ChatServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)
        self.embeddings = embedding_service_pb2_grpc.EmbeddingServiceStub(self.channel)
        self.keys = key_service_pb2_grpc.KeyServiceStub(self.channel)
        self.quotas = quota_service_pb2_grpc.QuotaServiceStub(self.channel)
        self.policies = policy_service_pb2_grpc.PolicyServiceStub(self.channel)
        self.usage = usage_service_pb2_grpc.UsageServiceStub(self.channel)


@dataclass
class Gov:
    """A running gateway, its clock, stubs, and keys for an admin (root) and two users."""

    gateway: GatewayThread
    clock: Clock
    stubs: Stubs
    root: str
    alice: str
    bob: str


def start_gateway(store_url: str, data_dir: Path, bedrock_url: str, clock: Clock, **overrides: Any) -> GatewayThread:
    """A gateway thread on this database with the governance test settings."""
    settings = gateway_settings(
        data_dir, bedrock_url, database_url=store_url, key_cache_seconds=KEY_CACHE_SECONDS, **overrides
    )
    return GatewayThread(settings, clock=clock).start()


@pytest.fixture
def gov(store_url: str, tmp_path: Path, fake_bedrock: FakeBedrockServer) -> Iterator[Gov]:
    """A gateway on SQLite or PostgreSQL with keys for root (admin), alice and bob."""
    clock = Clock()
    running = start_gateway(store_url, tmp_path / "gateway", fake_bedrock.url, clock)
    try:
        with running.channel() as channel:
            yield Gov(
                running,
                clock,
                Stubs(channel),
                running.create_key("root", "admin"),
                running.create_key("alice", "main"),
                running.create_key("bob", "main"),
            )
    finally:
        running.stop()


def md(key: str) -> tuple[tuple[str, str]]:
    """gRPC call metadata carrying an API key."""
    return (("authorization", f"Bearer {key}"),)


def ask(text: str = "hello", model: str = HAIKU, **fields: Any) -> chat_service_pb2.CreateChatCompletionRequest:
    """A unary chat request with one user message."""
    message = chat_pb2.ChatMessage(role=chat_pb2.ROLE_USER, content=[chat_pb2.ContentPart(text=text)])
    return chat_service_pb2.CreateChatCompletionRequest(
        params=chat_pb2.ChatCompletionParams(model=model, messages=[message], **fields)
    )


def reason(error: grpc.RpcError) -> str:
    """The ErrorInfo reason of a failed call."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return str(info.reason)


def field_of(error: grpc.RpcError) -> str:
    """The ErrorInfo `field` metadata of a failed call (empty if none)."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return str(info.metadata.get("field", ""))


def rows(user: str) -> list[RequestRecord]:
    """The user's request records, oldest first."""
    return list(RequestRecord.select().where(RequestRecord.user == user).order_by(RequestRecord.created_at))


def ledger(user: str) -> LedgerEntry:
    """The user's ledger totals summed over every period row."""
    entries = list(QuotaLedger.select().where(QuotaLedger.user == user))
    return LedgerEntry(
        sum(entry.spent_picodollars for entry in entries), sum(entry.reserved_picodollars for entry in entries)
    )
