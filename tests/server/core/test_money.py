"""Exact money: prices, costs and USD strings without floats."""

from __future__ import annotations

from decimal import Decimal

import pytest

from llmgw.server.core.money import (
    cost_picodollars,
    format_usd,
    usd_per_million_to_microdollars,
)


@pytest.mark.parametrize(
    ("price", "tokens", "usd"),
    [
        ("0.25", 1_000_000, "0.25"),
        ("0.035", 7, "0.000000245"),
        ("1.25", 3, "0.00000375"),
        ("0.00875", 1, "0.00000000875"),
        ("15", 123_456, "1.85184"),
    ],
)
def test_cost_is_price_times_tokens_exactly(price: str, tokens: int, usd: str) -> None:
    """tokens x price per million is exact, with no rounding at any step."""
    cost = cost_picodollars(tokens, usd_per_million_to_microdollars(price))
    assert format_usd(cost) == usd
    assert Decimal(format_usd(cost)) == Decimal(price) * tokens / 1_000_000


def test_many_small_costs_sum_exactly() -> None:
    """A million tiny charges add up to exactly their product, unlike floats."""
    price = usd_per_million_to_microdollars("0.035")
    total = sum(cost_picodollars(1, price) for _ in range(1_000_000))
    assert format_usd(total) == "0.035"


@pytest.mark.parametrize("text", ["-1", "0.0000001", "x"])
def test_bad_prices_are_refused(text: str) -> None:
    """Negative prices and prices finer than a microdollar per million tokens are refused."""
    with pytest.raises(ValueError, match="price"):
        usd_per_million_to_microdollars(text)
