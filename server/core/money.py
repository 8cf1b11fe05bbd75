"""Exact money: every amount is an integer number of picodollars (1e-12 USD).

Catalog prices are USD per million tokens with at most six decimals, so a price
is an integer number of microdollars per million tokens, and
`tokens * microdollars_per_million` is exactly the cost in picodollars: no
rounding anywhere between a token count and a ledger row. Amounts cross the API
as decimal strings in USD.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from llmgw.wire.usd import PICODOLLARS_PER_USD as PICODOLLARS_PER_USD

MICRODOLLARS_PER_USD = 10**6


def cost_picodollars(tokens: int, microdollars_per_million_tokens: int) -> int:
    """The exact cost of `tokens` at a price given in microdollars per million tokens."""
    return tokens * microdollars_per_million_tokens


def usd_per_million_to_microdollars(value: str | Decimal, *, field: str = "price") -> int:
    """Parse a price in USD per million tokens into microdollars per million tokens."""
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{field} must be a USD amount, got {value!r}") from None
    scaled = amount * MICRODOLLARS_PER_USD
    if not amount.is_finite() or amount < 0 or scaled != scaled.to_integral_value():
        raise ValueError(f"{field} must be a non-negative USD amount with at most 6 decimals, got {value!r}")
    return int(scaled)


def format_usd(picodollars: int) -> str:
    """Render picodollars as a plain decimal USD string, without trailing zeros (`"0.000123"`)."""
    sign = "-" if picodollars < 0 else ""
    whole, fraction = divmod(abs(picodollars), PICODOLLARS_PER_USD)
    digits = f"{fraction:012d}".rstrip("0")
    return f"{sign}{whole}.{digits}" if digits else f"{sign}{whole}"


def format_microdollars_per_million(microdollars: int) -> str:
    """Render a price in microdollars per million tokens as a USD decimal string."""
    return format_usd(microdollars * (PICODOLLARS_PER_USD // MICRODOLLARS_PER_USD))
