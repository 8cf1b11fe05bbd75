"""Request ids: the one format a client may send in `x-request-id`, and the generator of new ones.

The bridge takes a well-formed id from the HTTP header and forwards it as gRPC metadata; the
server takes it from the metadata (or makes one) and returns it; both use these rules, so an id
survives the hop unchanged and a malformed one is never logged.
"""

from __future__ import annotations

import re
import secrets

HEADER = "x-request-id"
MAX_LENGTH = 128
_WELL_FORMED = re.compile(rf"[A-Za-z0-9._:-]{{1,{MAX_LENGTH}}}")


def is_well_formed(candidate: str) -> bool:
    """Whether a client-supplied id may be used (and logged) as it is."""
    return _WELL_FORMED.fullmatch(candidate) is not None


def new_request_id() -> str:
    """A fresh, unguessable request id."""
    return f"req_{secrets.token_hex(12)}"
