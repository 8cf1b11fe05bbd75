"""What a request costs, from the catalog price and the token counts, exactly."""

from __future__ import annotations

from llmgw.server.core.catalog import CatalogModel
from llmgw.server.core.money import cost_picodollars

# Bedrock tokenizers average roughly four characters per token for English text;
# used only when a stream dies before Bedrock reports the real input count.
_CHARS_PER_TOKEN = 4


def request_cost(
    model: CatalogModel,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
    cache_write_1h_tokens: int = 0,
    service_tier: str = "default",
) -> int:
    """The cost in picodollars of a request with these token counts on this model.

    Each kind of token is charged at its own price. `input_tokens` are the uncached
    ones (Bedrock's `inputTokens` excludes cache reads and writes); cache writes are
    split by TTL (`cache_write_tokens` is the 5-minute kind). The prompt length that
    picks a price tier (Haiku 5.5) counts every prompt token, cached or not: whether
    Bedrock counts cached tokens toward the threshold is unconfirmed, and counting them
    never charges less. `service_tier` is the Bedrock tier that served the request, each
    tier at its own price.
    """
    prompt_tokens = input_tokens + cache_read_tokens + cache_write_tokens + cache_write_1h_tokens
    price = model.price_for(prompt_tokens, service_tier)
    return (
        cost_picodollars(input_tokens, price.input)
        + cost_picodollars(cache_read_tokens, price.cache_read)
        + cost_picodollars(cache_write_tokens, price.cache_write_5m)
        + cost_picodollars(cache_write_1h_tokens, price.cache_write_1h)
        + cost_picodollars(output_tokens, price.output)
    )


def estimate_tokens(characters: int) -> int:
    """A token estimate for text of this length, rounded up so nothing escapes the ledger."""
    return -(-characters // _CHARS_PER_TOKEN)


# Worst-case input tokens per image: Claude bills about (width * height) / 750 tokens and
# scales images down to about 1.15 megapixels (~1,600 tokens); Nova's largest tiles stay
# below this too.
IMAGE_TOKEN_BOUND = 3_000
# Worst-case tokens a model adds around the caller's content (role markers, the tool-use
# preamble); generous, since the bound must never be below what Bedrock counts.
PROMPT_OVERHEAD_TOKENS = 1_024


def chat_input_token_bound(serialized_bytes: int, image_url_bytes: int, images: int) -> int:
    """An upper bound on a chat prompt's input tokens, from its size.

    Every token covers at least one byte of UTF-8 text, so the request's
    serialized size without its image data bounds the text tokens; each image
    counts IMAGE_TOKEN_BOUND, and PROMPT_OVERHEAD_TOKENS covers the model's own framing.
    """
    return max(serialized_bytes - image_url_bytes, 0) + images * IMAGE_TOKEN_BOUND + PROMPT_OVERHEAD_TOKENS


def cost_bound(
    model: CatalogModel, input_token_bound: int, output_token_bound: int, service_tier: str = "default"
) -> int:
    """The most a request can cost, in picodollars, given bounds on its token counts.

    Every input token is priced at the dearest way Bedrock could bill it (plain input or
    a cache write of either TTL), in the price tier the input bound falls into and the
    service tier asked for.
    """
    price = model.price_for(input_token_bound, service_tier)
    dearest_input = max(price.input, price.cache_write_5m, price.cache_write_1h)
    return cost_picodollars(input_token_bound, dearest_input) + cost_picodollars(output_token_bound, price.output)


def chat_cost_bound(
    model: CatalogModel,
    serialized_bytes: int,
    image_url_bytes: int,
    images: int,
    max_output_tokens: int | None,
    service_tier: str = "default",
) -> int:
    """The most a chat request can cost: its size bounds the input, its output cap the output.

    `max_output_tokens` is the answer limit sent to Bedrock (the chat path always sends one:
    the caller's, else DEFAULT_MAX_TOKENS); None means the model's catalog maximum.
    """
    output = model.max_output_tokens if max_output_tokens is None else max(max_output_tokens, 0)
    input_bound = chat_input_token_bound(serialized_bytes, image_url_bytes, images)
    return cost_bound(model, input_bound, output, service_tier)


def embedding_cost_bound(model: CatalogModel, texts: list[str]) -> int:
    """The most an embedding request can cost: every token covers at least one byte of UTF-8 text."""
    return cost_bound(model, sum(len(text.encode()) for text in texts) + PROMPT_OVERHEAD_TOKENS, 0)


def failed_stream_input_tokens(
    *, admitted: bool, answering: bool, client_left: bool, reported_input_tokens: int, prompt_characters: int
) -> int:
    """The input tokens charged for a stream that ended in an error or was abandoned.

    The prompt is charged once Bedrock has begun answering, or when the client left after the
    call went out (nothing escapes the ledger by disconnecting); a call Bedrock refused
    outright, or one never admitted, costs nothing. Bedrock's own count is used when it sent
    one, else an estimate rounded up.
    """
    if not admitted or not (answering or client_left):
        return 0
    return reported_input_tokens or estimate_tokens(prompt_characters)
