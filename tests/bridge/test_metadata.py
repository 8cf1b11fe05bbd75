"""Which headers become gRPC metadata."""

from __future__ import annotations

from llmgw.bridge.metadata import outgoing_metadata


def test_only_authorization_crosses() -> None:
    """Authorization crosses unchanged; other headers do not."""
    headers = [(b"authorization", b"Bearer sk-1"), (b"cookie", b"a=b"), (b"x-api-key", b"k")]
    assert outgoing_metadata(headers) == (("authorization", "Bearer sk-1"),)


def test_values_grpc_cannot_carry_are_dropped() -> None:
    """Non-ASCII or control bytes are dropped, so the server sees a missing key."""
    assert outgoing_metadata([(b"authorization", b"Bearer caf\xe9")]) == ()
    assert outgoing_metadata([(b"authorization", b"Bearer \x01")]) == ()
