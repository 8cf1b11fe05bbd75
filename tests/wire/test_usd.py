"""One precision rule for USD amounts people write: the API, the TUI and the settings file agree."""

from __future__ import annotations

from decimal import Decimal

import pytest

from llmgw.server.settings import Settings, SettingsError
from llmgw.wire.errors import InvalidArgument
from llmgw.wire.usd import parse_usd


@pytest.mark.parametrize(
    ("text", "picodollars"),
    [
        ("12.345678", 12_345_678_000_000),
        ("0", 0),
        (" 1.5 ", 1_500_000_000_000),
        ("1000000000", 10**21),
        ("1e-6", 10**6),
    ],
)
def test_amounts_parse_exactly(text: str, picodollars: int) -> None:
    assert parse_usd(text, field="limit_usd") == picodollars


def test_numbers_and_decimals_are_accepted() -> None:
    assert parse_usd(3, field="limit_usd") == 3 * 10**12
    assert parse_usd(Decimal("0.25"), field="limit_usd") == 250_000_000_000


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("abc", "decimal USD amount"),
        ("", "decimal USD amount"),
        ("NaN", "from 0 to"),
        ("Infinity", "from 0 to"),
        ("-1", "from 0 to"),
        ("1000000000.000001", "from 0 to"),
        ("0.0000001", "more than 6 decimals"),
    ],
)
def test_bad_amounts_name_the_field(text: str, says: str) -> None:
    with pytest.raises(InvalidArgument, match=says) as caught:
        parse_usd(text, field="limit_usd")
    assert caught.value.field == "limit_usd"


def test_a_long_input_is_not_echoed_whole() -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_usd("9" * 5000 + "x", field="limit_usd")
    assert len(caught.value.message) < 200


def test_settings_follow_the_same_rule() -> None:
    assert Settings.load(environ={"LLMGW_DEFAULT_QUOTA_DOLLARS": "12.345678"}).default_quota_dollars == (
        12_345_678 * 10**6
    )
    with pytest.raises(SettingsError, match="DEFAULT_QUOTA_DOLLARS"):
        Settings.load(environ={"LLMGW_DEFAULT_QUOTA_DOLLARS": "0.0000001"})
