"""A registered application inference profile as a route target: its ARN is called, its base model priced."""

from __future__ import annotations

from collections.abc import Callable

from llmgw.fakebedrock.config import FakeBedrockConfig
from llmgw.server.core.accounting import request_cost
from llmgw.server.core.catalog import Catalog
from tests.server.routing.conftest import EAST, HAIKU45_GLOBAL, HAIKU45_US, WEST, Routed, records
from tests.support import picodollars

CATALOG = Catalog.load()
ARN = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/r0u7e5a1b2c3"
ROUTE = {
    "model": HAIKU45_US,
    "targets": [{"region": EAST, "model": ARN}, {"region": WEST, "model": HAIKU45_GLOBAL}],
}


def test_an_application_profile_target_is_called_by_its_arn_and_priced_as_its_base(
    routed: Callable[..., Routed],
) -> None:
    gw = routed(routes=[ROUTE], application_profiles=[{"arn": ARN, "model": HAIKU45_US}])
    gw.east.app.application_profiles[ARN] = HAIKU45_US
    try:
        answer = gw.ask("hello through the profile")
        (row,) = records("alice", 1)
        assert (row.region, row.upstream_model, row.attempts, row.outcome) == (EAST, ARN, 1, "success")
        usage = answer.completion.usage
        expected = request_cost(CATALOG.get(HAIKU45_US), usage.prompt_tokens, usage.completion_tokens)
        assert picodollars(usage.cost_usd) == row.cost_picodollars == expected

        gw.east.app.config = FakeBedrockConfig(fault="throttle")
        gw.ask("the profile's region throttles")
        (_, failed_over) = records("alice", 2)
        assert (failed_over.region, failed_over.upstream_model, failed_over.attempts) == (WEST, HAIKU45_GLOBAL, 2)
    finally:
        gw.east.app.application_profiles.pop(ARN, None)
