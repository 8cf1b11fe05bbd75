"""JSON text in and out: the only module of the bridge that imports `json`.

Strict on input (UTF-8 only, no NaN/Infinity), compact on output (no spaces, UTF-8 not
escaped, NaN refused rather than sent as invalid JSON).
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def dumps(value: object) -> bytes:
    """Serialize to compact UTF-8 JSON; raises ValueError/TypeError for values JSON cannot hold."""
    return _ENCODER.encode(value).encode()


def quote(text: str) -> str:
    """A JSON string literal for `text`, escaped exactly as `dumps` escapes strings (for hand-built JSON)."""
    return encode_basestring(text)


def loads(body: bytes) -> object:
    """Parse UTF-8 JSON text; raises UnicodeDecodeError or ValueError (with a position) when it is not."""
    return _DECODER.decode(body.decode("utf-8"))
