"""OpenAI's `service_tier` -> Bedrock's `serviceTier`, refused where the model lacks the tier.

OpenAI spells `auto`, `default`, `flex`, `priority` (and `scale`, which Bedrock has no
equivalent of). `auto` and an absent tier leave the choice to Bedrock (its default
tier, sent as nothing); the others go as `serviceTier: {"type": ...}` when the catalog
says the model offers them. The tier Bedrock reports back is the one charged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmgw.server.core.catalog import CatalogModel
from llmgw.v1 import chat_pb2
from llmgw.wire.errors import InvalidArgument

_TIERS = ("auto", "default", "priority", "flex")


def requested_tier(params: chat_pb2.ChatCompletionParams, model: CatalogModel) -> str | None:
    """The Bedrock tier to ask for, or None for Bedrock's default; INVALID_ARGUMENT for a tier the model lacks."""
    if not params.HasField("service_tier") or params.service_tier == "auto":
        return None
    tier = params.service_tier
    if tier not in _TIERS:
        raise InvalidArgument(
            f"service_tier must be one of {', '.join(_TIERS)}, but is '{tier}'.", field="service_tier"
        )
    if not model.offers_tier(tier):
        offered = ", ".join(["default", *(name for name, _ in model.service_tiers)])
        raise InvalidArgument(
            f"The model '{model.id}' is not offered in the '{tier}' service tier on Bedrock; it offers {offered}.",
            field="service_tier",
        )
    return tier


def served_tier(payload: Mapping[str, Any], requested: str | None) -> str:
    """The tier Bedrock reports in a response or stream metadata, else the one asked for, else `default`."""
    reported = payload.get("serviceTier")
    if isinstance(reported, Mapping) and isinstance(reported.get("type"), str):
        return str(reported["type"])
    return requested or "default"
