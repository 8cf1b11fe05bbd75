"""The money rules of a request: cost, cost bounds, and what a failed stream is charged."""

from __future__ import annotations

import pytest

from llmgw.server.core.accounting import (
    IMAGE_TOKEN_BOUND,
    PROMPT_OVERHEAD_TOKENS,
    chat_cost_bound,
    embedding_cost_bound,
    failed_stream_input_tokens,
    request_cost,
)
from llmgw.server.core.catalog import Catalog
from tests.model_ids import HAIKU, TITAN

CATALOG = Catalog.load()


def test_cost_is_exact_integer_money() -> None:
    model = CATALOG.get(HAIKU)
    assert request_cost(model, 1_000, 500) == 1_000 * model.price.input + 500 * model.price.output


def test_a_chat_bound_counts_bytes_images_overhead_and_the_output_cap() -> None:
    model = CATALOG.get(HAIKU)
    bound = chat_cost_bound(model, serialized_bytes=5_000, image_url_bytes=4_000, images=1, max_output_tokens=100)
    assert bound == request_cost(model, 1_000 + IMAGE_TOKEN_BOUND + PROMPT_OVERHEAD_TOKENS, 100)


def test_without_a_cap_the_models_maximum_output_is_the_bound() -> None:
    model = CATALOG.get(HAIKU)
    bound = chat_cost_bound(model, serialized_bytes=10, image_url_bytes=0, images=0, max_output_tokens=None)
    assert bound == request_cost(model, 10 + PROMPT_OVERHEAD_TOKENS, model.max_output_tokens)
    negative = chat_cost_bound(model, serialized_bytes=10, image_url_bytes=0, images=0, max_output_tokens=-5)
    assert negative == request_cost(model, 10 + PROMPT_OVERHEAD_TOKENS, 0)


def test_an_embedding_bound_is_one_token_per_byte() -> None:
    model = CATALOG.get(TITAN)
    assert embedding_cost_bound(model, ["héllo", "ab"]) == request_cost(model, 6 + 2 + PROMPT_OVERHEAD_TOKENS, 0)


@pytest.mark.parametrize(
    ("admitted", "answering", "client_left", "reported", "expected"),
    [
        (False, True, True, 50, 0),  # never admitted: nothing went to Bedrock
        (True, False, False, 0, 0),  # Bedrock refused before answering
        (True, True, False, 50, 50),  # failed mid-answer: Bedrock's count
        (True, False, True, 0, 3),  # the client left after the call went out: an estimate (9 chars)
        (True, True, False, 0, 3),  # answering but no count yet: the estimate, rounded up
    ],
)
def test_what_a_failed_stream_is_charged(
    admitted: bool, answering: bool, client_left: bool, reported: int, expected: int
) -> None:
    charged = failed_stream_input_tokens(
        admitted=admitted,
        answering=answering,
        client_left=client_left,
        reported_input_tokens=reported,
        prompt_characters=9,
    )
    assert charged == expected
