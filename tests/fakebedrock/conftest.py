"""Fixtures: one fake Bedrock per test module, and boto3 bedrock-runtime clients pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import boto3  # noqa: TID251  (the fake's whole point is that the unmodified boto3 client talks to it)
import pytest
from botocore.config import Config

from llmgw.fakebedrock.server import FakeBedrockServer

if TYPE_CHECKING:
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient
    from mypy_boto3_bedrock_runtime.type_defs import ContentBlockTypeDef, MessageTypeDef

CHAT_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"

ClientFactory = Callable[..., "BedrockRuntimeClient"]


def make_client(url: str, attempts: int = 1, read_timeout: float = 10.0) -> BedrockRuntimeClient:
    """A bedrock-runtime client for `url` with dummy credentials; `attempts` counts the first try."""
    config = Config(
        retries={"total_max_attempts": attempts, "mode": "standard"}, read_timeout=read_timeout, connect_timeout=5
    )
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="fake-secret",
        config=config,
    )


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBedrockServer]:
    with FakeBedrockServer() as server:
        yield server


@pytest.fixture(scope="module")
def bedrock(fake: FakeBedrockServer) -> Iterator[BedrockRuntimeClient]:
    client = make_client(fake.url)
    yield client
    client.close()


@pytest.fixture
def client_factory(fake: FakeBedrockServer) -> Iterator[ClientFactory]:
    clients: list[BedrockRuntimeClient] = []

    def factory(attempts: int = 1, read_timeout: float = 10.0) -> BedrockRuntimeClient:
        client = make_client(fake.url, attempts, read_timeout)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()


def user(text: str, *blocks: ContentBlockTypeDef) -> MessageTypeDef:
    """A user message with `text` followed by extra content blocks."""
    return {"role": "user", "content": [{"text": text}, *blocks]}
