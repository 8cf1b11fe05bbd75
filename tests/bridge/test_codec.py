"""JSON text in and out."""

from __future__ import annotations

import pytest

from llmgw.bridge.codec import dumps, loads


def test_round_trip() -> None:
    """Compact UTF-8 out, values back in."""
    assert dumps({"a": "é", "b": [1, None]}) == '{"a":"é","b":[1,null]}'.encode()
    assert loads(b'{"a": 1}') == {"a": 1}


@pytest.mark.parametrize("body", [b"NaN", b'{"a": Infinity}', b"{", b""])
def test_invalid_json(body: bytes) -> None:
    """NaN, Infinity and broken text are errors."""
    with pytest.raises(ValueError, match=r"JSON|Expecting"):
        loads(body)


def test_invalid_utf8_and_nan_out() -> None:
    """Invalid UTF-8 in and NaN out are errors, not garbage."""
    with pytest.raises(UnicodeDecodeError):
        loads(b'"\xff"')
    with pytest.raises(ValueError, match="not JSON compliant"):
        dumps(float("nan"))
