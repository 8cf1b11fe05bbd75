"""Client input quoted in an error message is cut to a short prefix, whoever writes the message."""

from __future__ import annotations

from llmgw.wire.echo import ECHO_CHARS, echo


def test_echo_is_bounded() -> None:
    """Client input quoted in an error is cut to a short prefix."""
    assert echo("short") == "'short'"
    assert echo("y" * 10_000) == repr("y" * ECHO_CHARS) + "... (10000 characters)"
    assert ECHO_CHARS == 64
