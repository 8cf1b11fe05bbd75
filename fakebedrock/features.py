"""Which models the fake lets use prompt caching and which service tiers, as Bedrock decides per model.

The fake's own table, so a gateway that sends a `cachePoint` to a model without
prompt caching, or a tier the model lacks, fails here as it would on AWS (a 400
ValidationException). Claude takes only the `default` tier on Bedrock (reference
10.8: no priority or flex prices for any Claude model); the other models served on
Converse take `default`, `priority` and `flex`. `reserved` needs a reservation the
fake never has.
"""

import re

from llmgw.fakebedrock.errors import invalid
from llmgw.fakebedrock.request import ConverseRequest

_BASE = re.compile(r"^(?:[a-z-]+\.)?([a-z0-9-]+\..*)$")
_CACHING = re.compile(
    r"^(anthropic\.claude-(3-7|3-5-haiku|3-5-sonnet-20241022|haiku-4|sonnet-4|opus-4|sonnet-5|opus-5|haiku-5|fable)"
    r"|amazon\.nova|moonshotai\.kimi-k3|xai\.grok)"
)


def _base_id(model_id: str) -> str:
    match = _BASE.match(model_id)
    return match.group(1) if match else model_id


def supports_caching(model_id: str) -> bool:
    """Whether `model_id` (bare or profile) accepts cache points."""
    return _CACHING.match(_base_id(model_id)) is not None


def service_tiers(model_id: str) -> tuple[str, ...]:
    """The tiers `model_id` accepts."""
    if _base_id(model_id).startswith("anthropic."):
        return ("default",)
    return ("default", "priority", "flex")


def check_features(model_id: str, request: ConverseRequest) -> None:
    """Reject cache points on a model without caching and a tier the model does not offer."""
    if request.cache_points and not supports_caching(model_id):
        raise invalid(f"The model {model_id} does not support prompt caching; remove the cachePoint blocks.")
    if request.service_tier not in service_tiers(model_id):
        raise invalid(f"The service tier {request.service_tier} is not supported for the model {model_id}.")
