"""The catalog against Bedrock's lists: each kind of drift, and what is not drift."""

from __future__ import annotations

from datetime import date

from llmgw.server.core.catalog import Catalog
from llmgw.server.core.catalog_drift import ListedModel, RegionListing, compare_region, unlisted

TODAY = date(2026, 12, 1)
CATALOG = Catalog.load(
    """
prices_read_on = 2026-11-27

[[model]]
id = "vendor.old-v1"
display_name = "Old"
owned_by = "vendor"
input_usd_per_million = "1"
output_usd_per_million = "1"
max_output_tokens = 100
lifecycle = "legacy"
end_of_life = 2026-06-01
successor = "vendor.new-v1"

[[model]]
id = "vendor.new-v1"
display_name = "New"
owned_by = "vendor"
on_demand = false
profiles = ["us", "eu"]
input_usd_per_million = "1"
output_usd_per_million = "1"
max_output_tokens = 100
""",
    today=lambda: TODAY,
)


def listed(
    model_id: str,
    status: str = "ACTIVE",
    *,
    outputs: frozenset[str] = frozenset({"TEXT"}),
    inference_types: frozenset[str] = frozenset({"INFERENCE_PROFILE"}),
    end_of_life: date | None = None,
) -> ListedModel:
    """A model as ListFoundationModels would describe it."""
    return ListedModel(model_id, model_id, "Vendor", outputs, inference_types, status, end_of_life)


def test_a_region_that_lists_exactly_the_catalog_has_no_drift() -> None:
    """The eu. profile missing from a US region is not drift: profiles are regional."""
    drift = compare_region(
        CATALOG, RegionListing("us-east-1", (listed("vendor.new-v1"),), ("us.vendor.new-v1",)), TODAY
    )
    assert not drift.found


def test_each_kind_of_drift_is_named() -> None:
    """A new servable model, a retired one still listed, an end-of-life date, a new profile."""
    models = (
        listed("vendor.new-v1", end_of_life=date(2027, 1, 1)),
        listed("vendor.old-v1", status="LEGACY"),
        listed("vendor.brand-new-v2", inference_types=frozenset({"ON_DEMAND"})),
        listed("vendor.painter-v1", outputs=frozenset({"IMAGE"})),
        listed("vendor.provisioned-v1:0:48k", inference_types=frozenset({"PROVISIONED"})),
    )
    drift = compare_region(
        CATALOG, RegionListing("us-east-1", models, ("us.vendor.new-v1", "apac.vendor.new-v1")), TODAY
    )
    assert drift.missing == ("vendor.brand-new-v2 (vendor.brand-new-v2, Vendor; ON_DEMAND)",)
    assert drift.lifecycle == (
        "vendor.new-v1: end of life 2027-01-01 on Bedrock, none in the catalog",
        "vendor.old-v1: the catalog retired it on 2026-06-01, Bedrock still lists it LEGACY",
    )
    assert drift.profiles == ("apac.vendor.new-v1",)


def test_a_served_model_no_region_lists_is_reported_and_a_retired_one_is_not() -> None:
    """vendor.new-v1 is listed nowhere; vendor.old-v1 is retired, so its absence is expected."""
    listings = [RegionListing("us-east-1", (), ()), RegionListing("eu-west-1", (), ())]
    assert unlisted(CATALOG, listings, TODAY) == (
        "vendor.new-v1: served by the catalog, listed in none of us-east-1, eu-west-1",
    )
