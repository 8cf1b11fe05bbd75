"""Connection limits for the gRPC port: slow, idle, old, noisy and oversized connections are bounded.

grpc's defaults suit a trusted network: a connection may take 120 s to say hello, stay idle and
live forever, and carry up to 2^31 concurrent streams. `GrpcLimits` holds the gateway's own
bounds (each a setting, README: Settings) and `server_options` turns them into grpc core
channel arguments:

- handshake timeout: a connection must complete its HTTP/2 handshake (the client's preface and
  SETTINGS frame, and TLS when on) within `handshake_timeout_s`, else it is closed;
- idle: a connection with no call for `idle_s` gets GOAWAY and is closed (clients reconnect
  on their next call);
- age: a connection older than `max_age_s` gets GOAWAY; its running calls have `age_grace_s`
  more to finish, so keep the grace at least BEDROCK_TOTAL_TIMEOUT_SECONDS;
- keep-alive: the server pings every `keepalive_s` and drops a peer that does not answer within
  `keepalive_timeout_s`, so a vanished client does not hold its streams;
- ping abuse: a client pinging more often than `min_ping_interval_s` more than `max_ping_strikes`
  times gets GOAWAY (ENHANCE_YOUR_CALM);
- `max_concurrent_streams` calls at once per connection;
- metadata: the gateway refuses metadata over `max_metadata_bytes` with INVALID_ARGUMENT naming
  the limit (checked by the interceptor, server/rpc/pipeline.py). grpc itself answers a bare
  RESOURCE_EXHAUSTED for metadata over its own limit, which a client could take for a quota, so
  grpc's limit is set to `TRANSPORT_METADATA_FACTOR` times ours: only absurd headers reach it, and
  those are refused before any handler runs (a quota error always carries ErrorInfo QUOTA_EXCEEDED).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llmgw.wire.errors import InvalidArgument

#: How many times the gateway's metadata limit grpc's own hard limit is.
TRANSPORT_METADATA_FACTOR = 4
#: GRPC_MAX_METADATA_BYTES' default.
DEFAULT_MAX_METADATA_BYTES = 16 * 1024
#: What HPACK (and grpc) count per metadata entry on top of its key and value.
ENTRY_OVERHEAD_BYTES = 32


@dataclass(frozen=True, slots=True)
class GrpcLimits:
    """The gRPC port's connection limits; each is a setting (README: Settings)."""

    handshake_timeout_s: float = 10.0
    idle_s: float = 300.0
    max_age_s: float = 3600.0
    age_grace_s: float = 600.0
    keepalive_s: float = 60.0
    keepalive_timeout_s: float = 20.0
    min_ping_interval_s: float = 10.0
    max_ping_strikes: int = 2
    max_concurrent_streams: int = 1000
    max_metadata_bytes: int = DEFAULT_MAX_METADATA_BYTES


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def server_options(limits: GrpcLimits, max_message_bytes: int) -> list[tuple[str, int]]:
    """The grpc core channel arguments of a server with these limits and this largest request message."""
    transport_metadata = limits.max_metadata_bytes * TRANSPORT_METADATA_FACTOR
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.server_handshake_timeout_ms", _ms(limits.handshake_timeout_s)),
        ("grpc.max_connection_idle_ms", _ms(limits.idle_s)),
        ("grpc.max_connection_age_ms", _ms(limits.max_age_s)),
        ("grpc.max_connection_age_grace_ms", _ms(limits.age_grace_s)),
        ("grpc.keepalive_time_ms", _ms(limits.keepalive_s)),
        ("grpc.keepalive_timeout_ms", _ms(limits.keepalive_timeout_s)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", _ms(limits.min_ping_interval_s)),
        ("grpc.http2.max_ping_strikes", limits.max_ping_strikes),
        ("grpc.max_concurrent_streams", limits.max_concurrent_streams),
        # Soft and hard limit alike: grpc refuses between the two at random.
        ("grpc.max_metadata_size", transport_metadata),
        ("grpc.absolute_max_metadata_size", transport_metadata),
    ]


def metadata_bytes(metadata: Sequence[tuple[str, str | bytes]]) -> int:
    """The size of call metadata as HPACK counts it: key, value and a fixed overhead per entry."""
    return sum(len(key) + len(value) + ENTRY_OVERHEAD_BYTES for key, value in metadata)


def metadata_too_large(metadata: Sequence[tuple[str, str | bytes]], limit: int) -> InvalidArgument | None:
    """The error for metadata larger than `limit` bytes, or None when it fits."""
    size = metadata_bytes(metadata)
    if size <= limit:
        return None
    return InvalidArgument(
        f"The request metadata (headers) is {size} bytes; the gateway accepts at most {limit} "
        "(GRPC_MAX_METADATA_BYTES).",
        field="metadata",
    )
