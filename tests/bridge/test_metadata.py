"""Which headers become gRPC metadata."""

from __future__ import annotations

from llmgw.bridge.metadata import outgoing_metadata, response_headers


def test_only_the_listed_headers_cross() -> None:
    """Authorization, x-api-key, the Anthropic headers and the Claude Code session cross unchanged; others do not."""
    headers = [
        (b"authorization", b"Bearer sk-1"),
        (b"cookie", b"a=b"),
        (b"x-api-key", b"k"),
        (b"anthropic-beta", b"context-1m-2025-08-07"),
        (b"anthropic-version", b"2023-06-01"),
        (b"x-claude-code-session-id", b"s-1"),
        (b"x-forwarded-for", b"10.0.0.1"),
    ]
    assert outgoing_metadata(headers) == (
        ("authorization", "Bearer sk-1"),
        ("x-api-key", "k"),
        ("anthropic-beta", "context-1m-2025-08-07"),
        ("anthropic-version", "2023-06-01"),
        ("x-claude-code-session-id", "s-1"),
    )


def test_only_llmgw_response_metadata_becomes_headers() -> None:
    """Initial metadata named x-llmgw-* becomes a response header; the rest stays inside."""
    metadata = [("x-llmgw-token-count", "estimate"), ("x-request-id", "r"), ("grpc-x", "y")]
    assert response_headers(metadata) == [(b"x-llmgw-token-count", b"estimate")]


def test_values_grpc_cannot_carry_are_dropped() -> None:
    """Non-ASCII or control bytes are dropped, so the server sees a missing key."""
    assert outgoing_metadata([(b"authorization", b"Bearer caf\xe9")]) == ()
    assert outgoing_metadata([(b"authorization", b"Bearer \x01")]) == ()
