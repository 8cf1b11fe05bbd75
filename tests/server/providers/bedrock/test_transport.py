"""The transport's pooled connections: one the server already closed is replaced, not a failed call."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator

import pytest

from llmgw.server.providers.bedrock.errors import UpstreamUnavailable
from llmgw.server.providers.bedrock.transport import STALE_CONNECTION_RETRIES
from tests.server.providers.bedrock.conftest import make_client

_ANSWER = json.dumps(
    {
        "output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
        "metrics": {"latencyMs": 1},
    }
).encode()
_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: keep-alive\r\n"
    + f"Content-Length: {len(_ANSWER)}\r\n\r\n".encode()
    + _ANSWER
)
_REQUEST = {
    "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
    "messages": [{"role": "user", "content": [{"text": "hello"}]}],
}


class KeepAliveCloser:
    """Answers a few requests per connection, then closes it on the next without a word.

    What a client sees when it sends on a keep-alive connection the server closed a moment before.
    """

    def __init__(self, answers_per_connection: int) -> None:
        self.answers_per_connection = answers_per_connection
        self.connections = 0
        self.requests = 0
        self.url = ""

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection: answers, then a request read and the connection closed."""
        self.connections += 1
        answered = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length: *(\d+)", head)
                await reader.readexactly(int(length.group(1)) if length else 0)
                self.requests += 1
                if answered == self.answers_per_connection:
                    break
                writer.write(_RESPONSE)
                await writer.drain()
                answered += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def closer(request: pytest.FixtureRequest) -> AsyncIterator[KeepAliveCloser]:
    """A KeepAliveCloser on a free port, answering `request.param` requests per connection."""
    server_state = KeepAliveCloser(request.param)
    server = await asyncio.start_server(server_state.serve, "127.0.0.1", 0)
    server_state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        yield server_state
        server.close()


@pytest.mark.parametrize("closer", [1], indirect=True)
async def test_a_pooled_connection_the_server_closed_is_replaced(closer: KeepAliveCloser) -> None:
    """With one attempt allowed every call succeeds: one that meets a closed connection is resent on a new one."""
    client = make_client(closer.url, max_attempts=1, routed_attempts=1)
    try:
        for _ in range(4):
            answer = await client.converse(dict(_REQUEST))
            assert answer["output"]["message"]["content"] == [{"text": "hi"}]
    finally:
        await client.close()
    # Each call after the first met the previous call's connection closed, and went out again.
    assert (closer.connections, closer.requests) == (4, 7)


@pytest.mark.parametrize("closer", [1], indirect=True)
async def test_resends_on_closed_connections_are_bounded(closer: KeepAliveCloser) -> None:
    """With more closed connections pooled than resends allowed, the call fails after the last resend."""
    client = make_client(closer.url, max_attempts=1, routed_attempts=1)
    try:
        pooled = STALE_CONNECTION_RETRIES + 3
        await asyncio.gather(*(client.converse(dict(_REQUEST)) for _ in range(pooled)))
        with pytest.raises(UpstreamUnavailable):
            await client.converse(dict(_REQUEST))
    finally:
        await client.close()
    assert (closer.connections, closer.requests) == (pooled, pooled + 1 + STALE_CONNECTION_RETRIES)


@pytest.mark.parametrize("closer", [0], indirect=True)
async def test_a_new_connection_closed_without_an_answer_is_a_failed_call(closer: KeepAliveCloser) -> None:
    """Only reused connections are resent: a fresh one that dies is the server's failure, seen once."""
    client = make_client(closer.url, max_attempts=1, routed_attempts=1)
    try:
        with pytest.raises(UpstreamUnavailable):
            await client.converse(dict(_REQUEST))
    finally:
        await client.close()
    assert (closer.connections, closer.requests) == (1, 1)
