from __future__ import annotations

import pytest

from llmgw.fakebedrock.faults import FAULT_NAMES, Fault, ThrottleLedger, fault_error, parse_fault


@pytest.mark.parametrize(("text", "fault"), [("hang", Fault("hang")), ("throttle:4", Fault("throttle", 4))])
def test_parse_fault(text: str, fault: Fault) -> None:
    """Fault names parse, throttle with an optional count."""
    assert parse_fault(text) == fault


@pytest.mark.parametrize("text", ["", "boom", "throttle:0", "throttle:x", "internal:2"])
def test_parse_fault_rejects_bad_names(text: str) -> None:
    """Unknown faults and counts on anything but throttle are refused."""
    with pytest.raises(ValueError, match="fault"):
        parse_fault(text)


def test_every_fault_has_an_error() -> None:
    """Every fault name maps to a Bedrock error with an HTTP status and a message."""
    for name in FAULT_NAMES:
        error = fault_error(Fault(name), "model")
        assert 400 <= error.status < 600
        assert error.code.endswith("Exception")
        assert error.message


def test_throttle_ledger_counts_per_key() -> None:
    """Each key is throttled exactly `limit` times, independently of other keys."""
    ledger = ThrottleLedger()
    assert [ledger.should_throttle(b"a", 2) for _ in range(3)] == [True, True, False]
    assert ledger.should_throttle(b"b", 2)


def test_throttle_ledger_forgets_the_oldest_key_at_capacity() -> None:
    """A full ledger drops its oldest body, so memory stays bounded under unique prompts."""
    ledger = ThrottleLedger(capacity=2)
    assert ledger.should_throttle(b"a", 1)
    assert ledger.should_throttle(b"b", 1)
    assert ledger.should_throttle(b"c", 1)
    assert ledger.should_throttle(b"a", 1)
    assert not ledger.should_throttle(b"c", 1)
