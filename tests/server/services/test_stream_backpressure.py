"""Backpressure end to end: a slow reader holds the gateway back, and is charged for what was generated.

A long answer (60,000 tokens of 200 characters: 12 MB of text) is asked for and read a little
(until its first content), then not at all. The fake Bedrock writes it in bursts that wait for
the gateway's socket, and counts the deltas written (`stream_tokens_sent`); once that count
stops growing every buffer on the way is full. Then the client leaves. The gateway records the
request `cancelled`, charged for the deltas it had read from Bedrock: that count is the
deterministic measure of how far it read. It is at least what the client received, at most what
the fake wrote, and ahead of the client by no more than the kernel's send buffer for the
client's connection (Linux grows it up to tcp_wmem's maximum, 4 MiB by default) plus a small
in-process slack: far less than the answer, so the gateway did not read it whole.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import pytest

from llmgw.fakebedrock.config import FakeBedrockConfig
from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.server.store.models import RequestRecord
from llmgw.v1 import chat_pb2, chat_service_pb2, chat_service_pb2_grpc
from tests.bridge.conftest import running_bridge
from tests.model_ids import HAIKU_45
from tests.support import GatewayThread, bearer, gateway_settings

ANSWER_TOKENS = 60_000
TOKEN_CHARS = 200  # each token a 200-character word: 12 MB of answer text
# Besides the kernel's send buffer, what may lie between the gateway's read of Bedrock and its
# client: the event-loop transport's read buffer, a chunk in hand and the bridge's write buffer.
IN_PROCESS_SLACK_BYTES = 1024 * 1024
WAIT_S = 30.0  # the most a test waits for the fake to stop, or for the request row
STILL_S = 1.0  # how long the fake's count must stay unchanged to count as stopped
CLIENT_BUFFER_BYTES = 16 * 1024  # the client's receive buffer (socket) or stream window (gRPC)
PROMPT = f"Write at length. [[tokens:{ANSWER_TOKENS}]] [[token_chars:{TOKEN_CHARS}]]"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBedrockServer]:
    """A fake Bedrock of this module's own, so its counters see only these streams."""
    with FakeBedrockServer(FakeBedrockConfig(), send_buffer_bytes=64 * 1024) as server:
        yield server


@pytest.fixture(scope="module")
def gateway(fake: FakeBedrockServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    """A gateway in front of that fake."""
    running = GatewayThread(gateway_settings(Path(tmp_path_factory.mktemp("backpressure")), fake.url)).start()
    try:
        yield running
    finally:
        running.stop()


def read_ahead_bound_tokens() -> int:
    """The most tokens the gateway may have read beyond what its client took."""
    kernel_send_max = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    return (kernel_send_max + IN_PROCESS_SLACK_BYTES) // TOKEN_CHARS


def sent_when_stopped(fake: FakeBedrockServer) -> int:
    """The fake's delta count once it has stopped growing (bounded by WAIT_S)."""
    deadline = time.monotonic() + WAIT_S
    last, still_since = fake.app.stats.stream_tokens_sent, time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = fake.app.stats.stream_tokens_sent
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= STILL_S:
            return now
    raise AssertionError(f"the fake never stopped sending ({last} deltas sent)")


def last_row(user: str) -> RequestRecord:
    """The user's newest request row, once it is written (bounded by WAIT_S)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = list(RequestRecord.select().where(RequestRecord.user == user).order_by(RequestRecord.created_at))
        if found and found[-1].outcome != "":
            return found[-1]
        time.sleep(0.05)
    raise AssertionError(f"no request row for {user}")


def check_bounded_and_charged(fake: FakeBedrockServer, before: int, received: int, user: str, leave: object) -> None:
    """Once every buffer is full the client leaves; the row shows how far the gateway had read, and charges it."""
    sent_when_stopped(fake)
    assert callable(leave)
    leave()
    row = last_row(user)
    sent = fake.app.stats.stream_tokens_sent - before
    assert row.outcome == "cancelled"
    assert received <= row.output_tokens <= sent
    assert row.output_tokens - received <= read_ahead_bound_tokens() < ANSWER_TOKENS // 2
    assert row.cost_picodollars > 0


def open_stream(url: str, key: str) -> tuple[socket.socket, bytes]:
    """POST a streamed chat request on a raw socket with a small receive buffer; the socket and the bytes
    read until the first content arrived."""
    parts = urlsplit(url)
    body = json.dumps(
        {
            "model": HAIKU_45,
            "stream": True,
            "max_tokens": ANSWER_TOKENS,
            "messages": [{"role": "user", "content": PROMPT}],
        }
    ).encode()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CLIENT_BUFFER_BYTES)
    sock.settimeout(WAIT_S)
    sock.connect((parts.hostname or "", parts.port or 0))
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    first = b""
    while not content_tokens(first):
        first += sock.recv(CLIENT_BUFFER_BYTES)
    return sock, first


def content_tokens(sse: bytes) -> int:
    """The tokens (the fake's are words) in the content deltas of the whole SSE events in `sse`."""
    count = 0
    for line in sse.split(b"\n"):
        if line.startswith(b"data: {") and line.endswith(b"}"):
            count += len(json.loads(line[6:])["choices"][0]["delta"].get("content", "").split())
    return count


def test_slow_http_reader(fake: FakeBedrockServer, gateway: GatewayThread) -> None:
    """Over the HTTP bridge: the client reads its first bytes and stops; the gateway stops reading Bedrock."""
    key = gateway.create_key("slow_http", "main")
    before = fake.app.stats.stream_tokens_sent
    assert gateway.gateway is not None
    with running_bridge(gateway, gateway.grpc_target, channel=gateway.gateway.in_process_channel()) as url:
        sock, first = open_stream(url, key)
        with sock:
            assert first.startswith(b"HTTP/1.1 200")
            check_bounded_and_charged(fake, before, content_tokens(first), "slow_http", sock.close)


def test_slow_grpc_reader(fake: FakeBedrockServer, gateway: GatewayThread) -> None:
    """Over gRPC: the client takes one message and stops; the gateway stops reading Bedrock."""
    key = gateway.create_key("slow_grpc", "main")
    before = fake.app.stats.stream_tokens_sent
    message = chat_pb2.ChatMessage(role=chat_pb2.ROLE_USER, content=[chat_pb2.ContentPart(text=PROMPT)])
    request = chat_service_pb2.StreamChatCompletionRequest(
        params=chat_pb2.ChatCompletionParams(model=HAIKU_45, messages=[message], max_tokens=ANSWER_TOKENS)
    )
    # A small stream window that does not grow: the client's gRPC library reads ahead no further.
    options = [("grpc.http2.lookahead_bytes", CLIENT_BUFFER_BYTES), ("grpc.http2.bdp_probe", 0)]
    with grpc.insecure_channel(gateway.grpc_target, options=options) as channel:
        stream = chat_service_pb2_grpc.ChatServiceStub(channel).StreamChatCompletion(
            request, metadata=bearer(key), timeout=2 * WAIT_S
        )
        received = 0  # tokens: the fake's are words
        while not received:
            received += len(next(stream).chunk.choices[0].delta.content.split())
        assert isinstance(stream, grpc.Future)
        check_bounded_and_charged(fake, before, received, "slow_grpc", stream.cancel)
