"""Tests for llmgw.server.core.catalog and the shipped catalog.toml."""

from __future__ import annotations

from datetime import date

import pytest

from llmgw.server.core.catalog import Catalog
from llmgw.wire.errors import ModelNotFound

HAIKU_45 = "anthropic.claude-haiku-4-5-20251001-v1:0"

ENTRY = """
prices_read_on = 2026-11-27

[[model]]
id = "vendor.model-a"
display_name = "Model A"
owned_by = "vendor"
input_usd_per_million = "{input}"
output_usd_per_million = "2.00"
max_output_tokens = 4096
"""


def test_shipped_catalog_loads() -> None:
    """The catalog shipped with the package parses and holds chat and embedding models."""
    catalog = Catalog.load()
    kinds = {model.kind for model in catalog}
    assert kinds == {"chat", "embedding"}
    assert isinstance(catalog.prices_read_on, date)
    assert catalog.prices_read_at > 0


def test_ids_are_unique_across_base_and_profile_ids() -> None:
    """Every callable id (base or profile) appears exactly once."""
    ids = [model.id for model in Catalog.load()]
    assert len(ids) == len(set(ids))


def test_every_chat_model_is_priced() -> None:
    """No chat model is served for free, and every embedding model has an input price."""
    for model in Catalog.load():
        assert model.price.input > 0, model.id
        if model.kind == "chat":
            assert model.price.output > 0, model.id


@pytest.mark.parametrize(
    ("model_id", "input_micro", "output_micro"),
    [
        ("anthropic.claude-3-haiku-20240307-v1:0", 250_000, 1_250_000),
        ("us.anthropic.claude-3-haiku-20240307-v1:0", 250_000, 1_250_000),
        ("amazon.nova-micro-v1:0", 35_000, 140_000),
        ("amazon.titan-embed-text-v2:0", 20_000, 0),
        ("cohere.embed-english-v3", 100_000, 0),
    ],
)
def test_known_prices(model_id: str, input_micro: int, output_micro: int) -> None:
    """Prices the other tests rely on are as the reference gives them."""
    price = Catalog.load().get(model_id).price
    assert (price.input, price.output) == (input_micro, output_micro)


def test_haiku_45_global_is_cheaper_than_regional() -> None:
    """Claude 4.5 regional profiles cost 10% more than global., and the bare id is not served."""
    catalog = Catalog.load()
    glob = catalog.get(f"global.{HAIKU_45}")
    us = catalog.get(f"us.{HAIKU_45}")
    assert (glob.price.input, glob.price.output) == (1_000_000, 5_000_000)
    assert (us.price.input, us.price.output) == (1_100_000, 5_500_000)
    assert (glob.profile, us.profile, us.base_id) == ("global", "us", HAIKU_45)
    assert HAIKU_45 not in catalog


def test_profile_ids_of_older_models_keep_the_base_price() -> None:
    """Before Claude 4.5 a profile costs what the base model costs."""
    catalog = Catalog.load()
    sonnet_4 = "anthropic.claude-sonnet-4-20250514-v1:0"
    assert catalog.get(f"global.{sonnet_4}").price == catalog.get(f"us.{sonnet_4}").price


def test_embedding_families() -> None:
    """Embedding models carry the family, sizes and batch limit their request shape needs."""
    catalog = Catalog.load()
    titan2 = catalog.get("amazon.titan-embed-text-v2:0")
    titan1 = catalog.get("amazon.titan-embed-text-v1")
    cohere = catalog.get("cohere.embed-english-v3")
    assert (titan2.embedding_family, titan2.dimensions, titan2.max_batch) == ("titan-v2", (1024, 512, 256), 1)
    assert (titan1.embedding_family, titan1.dimensions, titan1.max_batch) == ("titan-v1", (1536,), 1)
    assert (cohere.embedding_family, cohere.dimensions, cohere.max_batch) == ("cohere-v3", (1024,), 96)


def test_conservative_capabilities() -> None:
    """Capabilities the reference leaves unconfirmed are off."""
    catalog = Catalog.load()
    assert not catalog.get("us.deepseek.r1-v1:0").capabilities.tools
    assert not catalog.get("us.meta.llama3-1-8b-instruct-v1:0").capabilities.streaming_tools
    assert not catalog.get("amazon.nova-micro-v1:0").capabilities.vision


def test_unknown_model_is_not_found() -> None:
    """An unknown id raises ModelNotFound naming it."""
    with pytest.raises(ModelNotFound, match="no-such-model"):
        Catalog.load().get("no-such-model")


def test_small_catalog_parses() -> None:
    """A minimal valid entry yields its base id with its exact price."""
    model = Catalog.load(ENTRY.format(input="1.5")).get("vendor.model-a")
    assert (model.price.input, model.price.output) == (1_500_000, 2_000_000)
    assert model.capabilities.system
    assert model.max_output_tokens == 4096


@pytest.mark.parametrize("bad", ["0", "-5", '"many"', "true"])
def test_chat_model_needs_a_positive_output_limit(bad: str) -> None:
    """A chat model's max_output_tokens bounds what the ledger reserves, so it must be a positive integer."""
    text = ENTRY.format(input="1").replace("max_output_tokens = 4096", f"max_output_tokens = {bad}")
    with pytest.raises(ValueError, match=r"vendor\.model-a.*max_output_tokens"):
        Catalog.load(text)


@pytest.mark.parametrize("bad", ["abc", "-1", "0.0000001", "0"])
def test_bad_price_names_the_entry(bad: str) -> None:
    """A price that is not a positive USD amount with at most 6 decimals is refused."""
    with pytest.raises(ValueError, match=r"vendor\.model-a"):
        Catalog.load(ENTRY.format(input=bad))


def test_missing_price_names_the_entry() -> None:
    """A chat model without an output price is refused rather than served free."""
    text = ENTRY.format(input="1").replace('output_usd_per_million = "2.00"\n', "")
    with pytest.raises(ValueError, match=r"vendor\.model-a.*output_usd_per_million is missing"):
        Catalog.load(text)


def test_duplicate_id_names_the_entry() -> None:
    """The same callable id twice is refused."""
    text = ENTRY.format(input="1") + ENTRY.format(input="1").replace("prices_read_on = 2026-11-27\n", "")
    with pytest.raises(ValueError, match=r"vendor\.model-a.*appears twice"):
        Catalog.load(text)


def test_profile_colliding_with_a_base_id_is_refused() -> None:
    """A profile id that equals another entry's base id is a duplicate too."""
    text = ENTRY.format(input="1") + ENTRY.format(input="1").replace("prices_read_on = 2026-11-27\n", "").replace(
        'id = "vendor.model-a"', 'id = "model-a"\nprofiles = ["vendor"]\non_demand = false'
    )
    with pytest.raises(ValueError, match="appears twice"):
        Catalog.load(text)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('vision = "false"', "vision must be true or false"),
        ("stream_tools = true", "unknown field"),
        ('profile_prices.eu = { input_usd_per_million = "1", output_usd_per_million = "1" }', "unlisted profile"),
        ('kind = "image"', "kind must be"),
        ('embedding_family = "titan-v2"', "embedding_family"),
    ],
)
def test_bad_fields_name_the_entry(extra: str, message: str) -> None:
    """Typos and wrong types in an entry are refused, naming the entry and the field."""
    with pytest.raises(ValueError, match=rf"vendor\.model-a: .*{message}"):
        Catalog.load(ENTRY.format(input="1") + extra + "\n")


def test_prices_read_on_must_be_a_date() -> None:
    """prices_read_on is a TOML date, not a string."""
    text = ENTRY.format(input="1").replace("2026-11-27", '"2026-11-27"')
    with pytest.raises(ValueError, match="prices_read_on"):
        Catalog.load(text)


def test_upstream_api_and_betas_come_from_the_catalog() -> None:
    """A model names the API that serves it; Messages-API models get the runtime beta allowlist."""
    catalog = Catalog.load()
    opus = catalog.get("global.anthropic.claude-opus-4-7")
    assert opus.api == "messages"
    assert "context-1m-2025-08-07" in opus.anthropic_betas
    assert "interleaved-thinking-2025-05-14" not in opus.anthropic_betas
    haiku = catalog.get(f"global.{HAIKU_45}")
    assert (haiku.api, haiku.anthropic_betas) == ("converse", frozenset())


def test_bad_api_is_refused() -> None:
    """An api other than converse or messages names the entry."""
    with pytest.raises(ValueError, match=r"vendor\.model-a: api must be"):
        Catalog.load(ENTRY.format(input="1.00") + 'api = "invoke"\n')
