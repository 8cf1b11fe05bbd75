"""How much client input an error message may quote: one rule for server, bridge and settings.

An 8,000-character model id echoed whole once pushed gRPC's trailers past their limit, and a
long value makes a message unreadable anyway. Every message that quotes what a client sent
goes through `echo`: the input quoted, cut to a short prefix with its length said.
"""

from __future__ import annotations

ECHO_CHARS = 64


def echo(text: str, limit: int = ECHO_CHARS) -> str:
    """At most `limit` characters of client input for a message, quoted; longer input is cut and its length said."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"
