"""The late-2026 catalog: per-prefix and cache prices, price tiers, lifecycle and thinking data."""

from __future__ import annotations

from datetime import date

import pytest

from llmgw.server.core.catalog import Catalog
from llmgw.wire.errors import ModelNotFound

OPUS_47 = "anthropic.claude-opus-4-7"
OPUS_55 = "anthropic.claude-opus-5-5"
FABLE_51 = "anthropic.claude-fable-5-1"
HAIKU_35 = "anthropic.claude-3-5-haiku-20241022-v1:0"
HAIKU_45 = "anthropic.claude-haiku-4-5-20251001-v1:0"

ENTRY = """
prices_read_on = 2026-11-27

[[model]]
id = "vendor.model-a"
display_name = "Model A"
owned_by = "vendor"
input_usd_per_million = "1.00"
output_usd_per_million = "2.00"
max_output_tokens = 4096
"""


def test_every_shipped_entry_loads_and_every_successor_is_served() -> None:
    """Each model of the file loads; a successor is a model of the catalog that is not itself retired."""
    catalog = Catalog.load()
    assert len(catalog) > 100
    today = date(2026, 12, 1)
    for model in catalog:
        if model.lifecycle.successor:
            assert any(other.base_id == model.lifecycle.successor for other in catalog), model.id
            successor = next(other for other in catalog if other.base_id == model.lifecycle.successor)
            assert not successor.retired_on(today), model.id


@pytest.mark.parametrize(
    ("model_id", "prices"),
    [
        # input, output, cache read, 5-minute write, 1-hour write: microdollars per million tokens
        (f"global.{OPUS_47}", (5_000_000, 25_000_000, 500_000, 6_250_000, 10_000_000)),
        (f"us.{OPUS_47}", (5_500_000, 27_500_000, 550_000, 6_875_000, 11_000_000)),
        (f"global.{OPUS_55}", (4_000_000, 20_000_000, 200_000, 5_000_000, 8_000_000)),
        (f"eu.{OPUS_55}", (4_400_000, 22_000_000, 220_000, 5_500_000, 8_800_000)),
        (f"global.{FABLE_51}", (10_000_000, 50_000_000, 250_000, 12_500_000, 20_000_000)),
        (f"us.{FABLE_51}", (11_000_000, 55_000_000, 275_000, 13_750_000, 22_000_000)),
        ("global.anthropic.claude-sonnet-5", (2_000_000, 10_000_000, 200_000, 2_500_000, 4_000_000)),
        (f"us.{HAIKU_45}", (1_100_000, 5_500_000, 110_000, 1_375_000, 2_200_000)),
    ],
)
def test_global_and_regional_prices_of_2026_models_are_exact(model_id: str, prices: tuple[int, ...]) -> None:
    """Regional profiles cost 1.1 x global.; cache prices follow each model's multipliers (reference 10.3)."""
    price = Catalog.load().get(model_id).price
    assert (price.input, price.output, price.cache_read, price.cache_write_5m, price.cache_write_1h) == prices


def test_haiku_55_price_tiers_are_data() -> None:
    """Haiku 5.5 pays its base price up to 100K prompt tokens and the long-prompt tier above."""
    catalog = Catalog.load()
    glob = catalog.get("global.anthropic.claude-haiku-5-5")
    regional = catalog.get("us.anthropic.claude-haiku-5-5")
    assert (glob.price_for(100_000).input, glob.price_for(100_000).output) == (100_000, 500_000)
    assert (glob.price_for(100_001).input, glob.price_for(100_001).output) == (500_000, 2_500_000)
    assert (regional.price_for(100_001).input, regional.price_for(100_001).output) == (550_000, 2_750_000)


def test_past_end_of_life_model_is_refused_naming_its_successor() -> None:
    """Claude 3.5 Haiku left Bedrock on 2026-06-19: asking for it names what to use instead."""
    catalog = Catalog.load(today=lambda: date(2026, 12, 1))
    assert f"us.{HAIKU_35}" in catalog
    with pytest.raises(ModelNotFound, match=rf"2026-06-19.*Use 'us\.{HAIKU_45}' instead"):
        catalog.get(f"us.{HAIKU_35}")
    assert f"us.{HAIKU_35}" not in {model.id for model in catalog.served()}


def test_model_before_its_end_of_life_is_served() -> None:
    """Llama 3.3 70B is Legacy with an end of life in 2027: served now, refused from that day."""
    model_id = "us.meta.llama3-3-70b-instruct-v1:0"
    assert Catalog.load(today=lambda: date(2026, 12, 1)).get(model_id).lifecycle.state == "legacy"
    with pytest.raises(ModelNotFound, match="llama4-maverick"):
        Catalog.load(today=lambda: date(2027, 3, 30)).get(model_id)


def test_lifecycle_and_access_marks() -> None:
    """Legacy, gated and data-retention marks come from the file."""
    catalog = Catalog.load()
    assert catalog.get("us.anthropic.claude-opus-4-1-20250805-v1:0").lifecycle.state == "legacy"
    assert catalog.get(f"global.{OPUS_55}").lifecycle.access == "gated"
    assert catalog.get(f"global.{FABLE_51}").lifecycle.data_retention_opt_in
    assert catalog.get(f"global.{OPUS_47}").lifecycle == catalog.get(f"us.{OPUS_47}").lifecycle


def test_thinking_data_says_what_each_model_accepts() -> None:
    """Which thinking types, efforts and sampling parameters each model takes (reference 10.6)."""
    catalog = Catalog.load()
    assert catalog.get(f"global.{HAIKU_45}").thinking.modes == {"enabled", "disabled"}
    opus = catalog.get(f"global.{OPUS_47}").thinking
    assert (set(opus.modes), opus.summarized_display, opus.always_on) == ({"adaptive", "disabled"}, True, False)
    fable = catalog.get(f"global.{FABLE_51}").thinking
    assert (fable.always_on, fable.forced_tool_use, fable.sampling) == (True, False, "single")
    assert "max" in fable.efforts
    assert not catalog.get("deepseek.v3.2").thinking.modes


def test_long_context_models_have_their_limits() -> None:
    """2026 Claude models: 1M context, 128K output."""
    model = Catalog.load().get(f"global.{OPUS_47}")
    assert (model.context_window, model.max_output_tokens) == (1_000_000, 128_000)


def test_multiplier_that_is_not_a_whole_microdollar_is_refused() -> None:
    """Derived cache prices are exact or the entry is refused, never rounded."""
    text = ENTRY.replace('"1.00"', '"0.000001"') + 'cache_read_multiplier = "0.1"\n'
    with pytest.raises(ValueError, match=r"vendor\.model-a: cache_read_usd_per_million .* not a whole number"):
        Catalog.load(text)


def test_model_without_cache_prices_charges_cache_tokens_as_input() -> None:
    """No cache price: nothing cached is ever cheaper than input, and caching is off."""
    model = Catalog.load(ENTRY).get("vendor.model-a")
    assert not model.prompt_caching
    assert model.price.cache_read == model.price.cache_write_5m == model.price.input


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("end_of_life = 2026-01-01", "must name its successor"),
        ('end_of_life = 2026-01-01\nsuccessor = "vendor.nothing"', "successor 'vendor.nothing' is not a model"),
        ('thinking = ["sometimes"]', "thinking modes"),
        ('efforts = ["low"]', "efforts"),
        ('lifecycle = "retired"', "lifecycle must be one of"),
        ('access = "secret"', "access must be one of"),
        ('sampling = "loose"', "sampling must be one of"),
        ("default_max_tokens = 5000", "default_max_tokens is above max_output_tokens"),
        ("[[model.price_tiers]]\nabove_prompt_tokens = 10\ninput_usd_per_million = 1", "output_usd_per_million"),
    ],
)
def test_bad_new_fields_name_the_entry(extra: str, message: str) -> None:
    """The new fields are checked like the old ones."""
    with pytest.raises(ValueError, match=rf"vendor\.model-a.*{message}"):
        Catalog.load(ENTRY + extra + "\n")
