"""The gRPC port's connection limits, probed with raw sockets and a real client against a real gateway."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_status import rpc_status

from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.server.rpc.connection_limits import TRANSPORT_METADATA_FACTOR, GrpcLimits, metadata_bytes, server_options
from llmgw.v1 import model_service_pb2, model_service_pb2_grpc
from tests.server.services.conftest import reason
from tests.support import GatewayThread, bearer, gateway_settings, read_until_closed

WAIT_S = 10.0  # the most a probe waits for the server to act (it acts after well under a second)
MAX_METADATA = 4096
MAX_STREAMS = 7
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# HTTP/2 frame types and codes (RFC 9113).
SETTINGS, PING, GOAWAY = 0x4, 0x6, 0x7
SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
ENHANCE_YOUR_CALM = 0xB


def frame(kind: int, payload: bytes = b"", flags: int = 0) -> bytes:
    """One HTTP/2 frame on stream 0."""
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", 0) + payload


def frames(data: bytes) -> list[tuple[int, bytes]]:
    """The (type, payload) of every whole frame in what the server sent."""
    found = []
    while len(data) >= 9:
        length = int.from_bytes(data[:3], "big")
        found.append((data[3], data[9 : 9 + length]))
        data = data[9 + length :]
    return found


@pytest.fixture(scope="module")
def strict_gateway(
    fake_bedrock: FakeBedrockServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayThread]:
    """A gateway whose gRPC limits are short enough to watch."""
    settings = gateway_settings(
        Path(tmp_path_factory.mktemp("grpc-limits")),
        fake_bedrock.url,
        grpc_handshake_timeout_seconds=0.3,
        grpc_idle_seconds=0.5,
        grpc_min_ping_interval_seconds=60,
        grpc_max_ping_strikes=1,
        grpc_max_concurrent_streams=MAX_STREAMS,
        grpc_max_metadata_bytes=MAX_METADATA,
    )
    running = GatewayThread(settings).start()
    try:
        yield running
    finally:
        running.stop()


def connect(gateway: GatewayThread) -> socket.socket:
    return socket.create_connection(("127.0.0.1", gateway.port), timeout=WAIT_S)


@pytest.mark.parametrize("sent", [b"", PREFACE[:10]], ids=["nothing", "partial-preface"])
def test_unfinished_handshake_is_closed(strict_gateway: GatewayThread, sent: bytes) -> None:
    """A connection that never completes the HTTP/2 handshake is closed after the handshake timeout."""
    with connect(strict_gateway) as sock:
        sock.sendall(sent)
        data = read_until_closed(sock)
    [goaway] = [payload for kind, payload in frames(data) if kind == GOAWAY]
    assert b"handshake timeout" in goaway[8:]  # grpc's debug text says which rule closed it


def test_idle_connection_is_closed(strict_gateway: GatewayThread) -> None:
    """A connection that completed its handshake and then makes no call gets GOAWAY and is closed."""
    with connect(strict_gateway) as sock:
        sock.sendall(PREFACE + frame(SETTINGS))
        data = read_until_closed(sock)
    [goaway] = [payload for kind, payload in frames(data) if kind == GOAWAY]
    assert b"idle" in goaway[8:]


def test_old_connection_is_closed(fake_bedrock: FakeBedrockServer, tmp_path: Path) -> None:
    """A connection older than the maximum age gets GOAWAY (max_age) though it is not idle long enough to close."""
    settings = gateway_settings(
        tmp_path, fake_bedrock.url, grpc_max_connection_age_seconds=0.3, grpc_max_connection_age_grace_seconds=0.3
    )
    aging = GatewayThread(settings).start()
    try:
        with connect(aging) as sock:
            sock.sendall(PREFACE + frame(SETTINGS))
            data = read_until_closed(sock)
    finally:
        aging.stop()
    assert any(b"max_age" in payload[8:] for kind, payload in frames(data) if kind == GOAWAY)


def test_ping_flood_is_refused(strict_gateway: GatewayThread) -> None:
    """A client pinging far more often than allowed gets GOAWAY ENHANCE_YOUR_CALM."""
    with connect(strict_gateway) as sock:
        sock.sendall(PREFACE + frame(SETTINGS) + b"".join(frame(PING, bytes(8)) for _ in range(5)))
        data = read_until_closed(sock)
    codes = [int.from_bytes(payload[4:8], "big") for kind, payload in frames(data) if kind == GOAWAY]
    assert ENHANCE_YOUR_CALM in codes


def test_concurrent_streams_are_advertised(strict_gateway: GatewayThread) -> None:
    """The server's SETTINGS cap the streams a connection may open at once."""
    with connect(strict_gateway) as sock:
        sock.sendall(PREFACE + frame(SETTINGS))
        data = read_until_closed(sock)
    settings = next(payload for kind, payload in frames(data) if kind == SETTINGS and payload)
    values = dict(struct.unpack(">HI", settings[i : i + 6]) for i in range(0, len(settings), 6))
    assert values[SETTINGS_MAX_CONCURRENT_STREAMS] == MAX_STREAMS


def list_models(gateway: GatewayThread, metadata: tuple[tuple[str, str], ...]) -> None:
    with gateway.channel() as channel:
        model_service_pb2_grpc.ModelServiceStub(channel).ListModels(
            model_service_pb2.ListModelsRequest(), metadata=metadata, timeout=WAIT_S
        )


def test_metadata_over_the_limit_is_a_clear_invalid_argument(strict_gateway: GatewayThread) -> None:
    """Metadata over GRPC_MAX_METADATA_BYTES: INVALID_ARGUMENT naming the limit, not RESOURCE_EXHAUSTED."""
    key = strict_gateway.create_key("alice", "limits")
    list_models(strict_gateway, bearer(key))
    big = (*bearer(key), ("x-padding", "p" * (2 * MAX_METADATA)))
    with pytest.raises(grpc.RpcError) as refused:
        list_models(strict_gateway, big)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason(refused.value) == "INVALID_REQUEST"
    assert "GRPC_MAX_METADATA_BYTES" in (refused.value.details() or "")


def test_absurd_metadata_is_refused_by_grpc_without_a_quota_reason(strict_gateway: GatewayThread) -> None:
    """Past grpc's own limit (a multiple of ours) the call is refused before any handler, with no quota detail."""
    key = strict_gateway.create_key("alice", "absurd")
    absurd = (*bearer(key), ("x-padding", "p" * (TRANSPORT_METADATA_FACTOR * MAX_METADATA + 1)))
    with pytest.raises(grpc.RpcError) as refused:
        list_models(strict_gateway, absurd)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert rpc_status.from_call(refused.value) is None  # type: ignore[arg-type]  # no ErrorInfo at all, so no QUOTA_EXCEEDED


def test_server_options_carry_every_limit() -> None:
    """Each GrpcLimits field reaches grpc core as its channel argument, in milliseconds where grpc wants them."""
    options = dict(server_options(GrpcLimits(idle_s=1.5, max_metadata_bytes=1000), max_message_bytes=123))
    assert options["grpc.max_connection_idle_ms"] == 1500
    assert options["grpc.max_receive_message_length"] == 123
    assert options["grpc.absolute_max_metadata_size"] == 1000 * TRANSPORT_METADATA_FACTOR
    assert options["grpc.max_connection_age_grace_ms"] == 600_000


def test_metadata_bytes_counts_as_hpack_does() -> None:
    """Key, value and 32 bytes per entry."""
    assert metadata_bytes([("ab", "cde"), ("f", b"g")]) == 2 + 3 + 32 + 1 + 1 + 32
