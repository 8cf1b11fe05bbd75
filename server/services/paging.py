"""Page sizes and opaque page tokens shared by the list RPCs.

A token is the urlsafe base64 of the sort key of the last item returned, so the
next page continues after it (keyset pagination): stable under inserts, no
offsets. A token that does not decode is the caller's mistake: INVALID_ARGUMENT.
"""

from __future__ import annotations

import base64
import binascii

from llmgw.wire.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
_SEPARATOR = "\n"


def page_size(requested: int) -> int:
    """The page size to use: 50 when unset, at most 1000; negative is INVALID_ARGUMENT."""
    if requested < 0:
        raise InvalidArgument("page_size must not be negative", field="page_size")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode_token(*parts: str) -> str:
    """An opaque token holding the sort key parts of the last item of a page."""
    return base64.urlsafe_b64encode(_SEPARATOR.join(parts).encode()).decode().rstrip("=")


def decode_token(token: str, parts: int) -> tuple[str, ...]:
    """The sort key parts of a token made by encode_token; INVALID_ARGUMENT if it is not one."""
    try:
        text = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidArgument("page_token is not a token this gateway issued", field="page_token") from None
    values = tuple(text.split(_SEPARATOR))
    if len(values) != parts or not all(values):
        raise InvalidArgument("page_token is not a token this gateway issued", field="page_token")
    return values
