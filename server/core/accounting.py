"""What a request costs, from the catalog price and the token counts, exactly."""

from __future__ import annotations

from llmgw.server.core.catalog import CatalogModel
from llmgw.server.core.money import cost_picodollars

# Bedrock tokenizers average roughly four characters per token for English text;
# used only when a stream dies before Bedrock reports the real input count.
_CHARS_PER_TOKEN = 4


def request_cost(model: CatalogModel, input_tokens: int, output_tokens: int) -> int:
    """The cost in picodollars of a request with these token counts on this model."""
    return cost_picodollars(input_tokens, model.price.input) + cost_picodollars(output_tokens, model.price.output)


def estimate_tokens(characters: int) -> int:
    """A token estimate for text of this length, rounded up so nothing escapes the ledger."""
    return -(-characters // _CHARS_PER_TOKEN)
