"""Service-tier prices, the cache-aware reservation bound, and application-profile resolution."""

from __future__ import annotations

import pytest

from llmgw.server.core.accounting import cost_bound, request_cost
from llmgw.server.core.application_profiles import ApplicationProfile, ModelDirectory
from llmgw.server.core.catalog import Catalog
from llmgw.server.settings import Settings, SettingsError
from llmgw.wire.errors import ModelNotFound
from tests.model_ids import DEEPSEEK, HAIKU, HAIKU_45

CATALOG = Catalog.load()
ARN = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123"


def test_tier_prices_scale_every_rate() -> None:
    """Priority is 1.75x and flex 0.5x the standard price (DeepSeek V3.2: 0.62/1.85 -> 1.085/3.2375)."""
    model = CATALOG.get(DEEPSEEK)
    priority, flex = model.price_for(0, "priority"), model.price_for(0, "flex")
    assert (priority.input, priority.output) == (1_085_000, 3_237_500)
    assert (flex.input, flex.output) == (310_000, 925_000)
    assert request_cost(model, 1000, 100, service_tier="priority") == 1000 * 1_085_000 + 100 * 3_237_500
    assert model.offers_tier("flex")
    assert not CATALOG.get(HAIKU_45).offers_tier("flex")


def test_reservation_covers_every_input_token_written_at_the_dearest_price() -> None:
    """The bound prices all input as 1h cache writes (Haiku 4.5's dearest input), so no cache mix costs more."""
    model = CATALOG.get(HAIKU_45)
    bound = cost_bound(model, 10_000, 500)
    assert bound == 10_000 * model.price.cache_write_1h + 500 * model.price.output
    worst = request_cost(model, 0, 500, cache_write_1h_tokens=10_000)
    assert worst <= bound
    assert request_cost(model, 2_000, 500, cache_read_tokens=4_000, cache_write_tokens=4_000) < bound


def test_directory_resolves_arns_to_their_base_model() -> None:
    """An ARN prices as its base model and is sent as itself; catalog ids resolve to themselves."""
    directory = ModelDirectory(CATALOG, [ApplicationProfile(ARN, HAIKU_45)])
    resolved = directory.resolve(ARN)
    assert (resolved.model.id, resolved.upstream_id) == (HAIKU_45, ARN)
    assert directory.resolve(HAIKU).upstream_id == HAIKU
    assert ARN in directory
    assert HAIKU in directory
    with pytest.raises(ModelNotFound):
        directory.resolve(ARN + "0")
    with pytest.raises(ValueError, match="not in the catalog"):
        ModelDirectory(CATALOG, [ApplicationProfile(ARN, "no.such-model")])


def test_application_profiles_setting() -> None:
    """APPLICATION_PROFILES parses from TOML tables or an environment inline array; bad ARNs stop start-up."""
    inline = f'[{{arn = "{ARN}", model = "{HAIKU}"}}]'
    settings = Settings.load(environ={"LLMGW_APPLICATION_PROFILES": inline})
    assert settings.application_profiles == (ApplicationProfile(ARN, HAIKU),)
    with pytest.raises(SettingsError, match=r"LLMGW_APPLICATION_PROFILES.*not an application inference profile ARN"):
        Settings.load(environ={}, application_profiles=[{"arn": "arn:aws:bedrock:::nope", "model": HAIKU}])
    with pytest.raises(SettingsError, match="listed twice"):
        Settings.load(environ={}, application_profiles=[{"arn": ARN, "model": HAIKU}] * 2)
