"""USD amounts that people write: one precision rule wherever one is read.

A quota limit comes in through the API, the TUI and the settings file; each reads it here, so
each accepts the same thing: a decimal number of US dollars from 0 to one billion with at most
six decimals (one micro-dollar, finer than any price the catalog can charge a person for). The
gateway holds money as integer picodollars, so a parsed amount is exact.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from llmgw.wire.echo import echo
from llmgw.wire.errors import InvalidArgument

PICODOLLARS_PER_USD = 10**12
MAX_USD = Decimal(10**9)
MAX_DECIMALS = 6


def parse_usd(value: str | int | Decimal, *, field: str) -> int:
    """The amount in picodollars; InvalidArgument naming `field` if it breaks the rule above."""
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidArgument(f"{field} must be a decimal USD amount, got {echo(str(value))}", field=field) from None
    if not amount.is_finite() or amount < 0 or amount > MAX_USD:
        raise InvalidArgument(f"{field} must be from 0 to {MAX_USD} USD, got {echo(str(value))}", field=field)
    scaled = amount.scaleb(MAX_DECIMALS)
    if scaled != scaled.to_integral_value():
        raise InvalidArgument(f"{field} has more than {MAX_DECIMALS} decimals: {echo(str(value))}", field=field)
    return int(amount * PICODOLLARS_PER_USD)
