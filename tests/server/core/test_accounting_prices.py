"""What a request costs: each kind of token at its own price, in the prompt-length tier it falls into."""

from __future__ import annotations

from llmgw.server.core.accounting import cost_bound, request_cost
from llmgw.server.core.catalog import Catalog, Price

CATALOG = Catalog.load()
HAIKU_55 = CATALOG.get("global.anthropic.claude-haiku-5-5")
OPUS_47_US = CATALOG.get("us.anthropic.claude-opus-4-7")


def test_haiku_55_under_the_threshold_pays_the_base_tier() -> None:
    """100,000 prompt tokens: 0.10 / 0.50 USD per million (global.)."""
    cost = request_cost(HAIKU_55, 90_000, 2_000, cache_read_tokens=10_000)
    assert cost == 90_000 * 100_000 + 10_000 * 10_000 + 2_000 * 500_000
    assert cost == 9_100_000_000 + 1_000_000_000  # $0.0101 in picodollars


def test_haiku_55_over_the_threshold_pays_the_long_prompt_tier() -> None:
    """100,001 prompt tokens, cached ones included: every token at 0.50 / 2.50 USD per million."""
    cost = request_cost(HAIKU_55, 90_001, 2_000, cache_read_tokens=10_000)
    assert cost == 90_001 * 500_000 + 10_000 * 50_000 + 2_000 * 2_500_000


def test_each_kind_of_token_has_its_own_price() -> None:
    """Input, cache read, 5-minute and 1-hour cache writes and output, on a regional profile."""
    cost = request_cost(
        OPUS_47_US, 1_000, 500, cache_read_tokens=2_000, cache_write_tokens=3_000, cache_write_1h_tokens=4_000
    )
    assert cost == 1_000 * 5_500_000 + 2_000 * 550_000 + 3_000 * 6_875_000 + 4_000 * 11_000_000 + 500 * 27_500_000


def test_existing_call_shape_still_prices_input_and_output() -> None:
    """request_cost(model, input, output) keeps working for the callers that know no cache."""
    assert request_cost(OPUS_47_US, 10, 20) == 10 * 5_500_000 + 20 * 27_500_000


def test_cost_bound_prices_input_as_the_dearest_cache_write() -> None:
    """The reservation assumes every input token could be written to the 1-hour cache."""
    assert cost_bound(OPUS_47_US, 1_000, 100) == 1_000 * 11_000_000 + 100 * 27_500_000


def test_cost_bound_uses_the_tier_of_the_input_bound() -> None:
    """A bound past Haiku 5.5's threshold reserves at the long-prompt tier."""
    assert cost_bound(HAIKU_55, 200_000, 10) == 200_000 * 1_000_000 + 10 * 2_500_000


def test_a_price_without_cache_prices_charges_cache_tokens_as_input() -> None:
    """Price(input, output) alone never makes a cache token free."""
    price = Price(input=7, output=9)
    assert (price.cache_read, price.cache_write_5m, price.cache_write_1h) == (7, 7, 7)
