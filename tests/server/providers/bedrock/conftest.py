"""What the Bedrock client tests share: a fake Bedrock on a real port and a client of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from llmgw.fakebedrock.config import FakeBedrockConfig
from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.server.providers.bedrock.client import BedrockClient, BedrockClientConfig

# Markers for a stream that pauses 30 s between tokens: its pooled connection is only
# free in time if closing the stream closes the connection at once.
LONG_PAUSES = "[[tokens:3]] [[token_delay_ms:30000]]"


def make_client(
    url: str,
    *,
    max_attempts: int = 2,
    max_concurrency: int = 256,
    routed_attempts: int | None = None,
    read_timeout_s: float = 120,
) -> BedrockClient:
    """A client of the fake at `url` with dummy credentials."""
    return BedrockClient(
        BedrockClientConfig(
            region="us-east-1",
            endpoint_url=url,
            max_attempts=max_attempts,
            transport_max_attempts=routed_attempts,
            max_concurrency=max_concurrency,
            read_timeout_s=read_timeout_s,
            access_key_id="fake-key-id",
            secret_access_key="fake-secret",
        )
    )


async def aborted_streams(fake: FakeBedrockServer, within_s: float) -> int:
    """How many streams the fake saw its client cut off, waiting up to `within_s` for the first."""
    for _ in range(round(within_s / 0.05)):
        if fake.app.stats.streams_aborted:
            break
        await asyncio.sleep(0.05)
    return fake.app.stats.streams_aborted


@pytest.fixture
def fake() -> Iterator[FakeBedrockServer]:
    """A fake Bedrock with its default timing, for one test."""
    with FakeBedrockServer(FakeBedrockConfig()) as server:
        yield server


@pytest.fixture
async def client(fake: FakeBedrockServer) -> AsyncIterator[BedrockClient]:
    """A client of `fake`, closed after the test."""
    bedrock = make_client(fake.url)
    yield bedrock
    await bedrock.close()
