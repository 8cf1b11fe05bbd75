"""What the catalog knows about one callable model: price, abilities, lifecycle.

Plain frozen data, made by catalog_file.py from catalog.toml and read by the
services, the Bedrock provider and accounting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

ModelKind = Literal["chat", "embedding"]
EmbeddingFamily = Literal["", "titan-v2", "titan-v1", "cohere-v3"]
UpstreamApi = Literal["converse", "messages"]
LifecycleState = Literal["active", "legacy"]
Access = Literal["open", "gated", "invitation"]
ThinkingMode = Literal["adaptive", "enabled", "disabled"]
SamplingRule = Literal["free", "single", "fixed"]
# A cache price left out of a Price: the input price is used.
_SAME_AS_INPUT = -1


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a chat model accepts besides text; checked before Bedrock is called."""

    system: bool
    vision: bool
    tools: bool
    streaming_tools: bool


@dataclass(frozen=True, slots=True)
class Thinking:
    """How a model thinks, so the gateway sends it only what it accepts (reference 10.6).

    modes: the `thinking.type` values the model takes; empty for models that do not reason.
    efforts: the `output_config.effort` levels an adaptive model takes.
    by_default: the model thinks even when the request does not ask it to.
    summarized_display: the model hides thinking text unless `display: "summarized"` is sent.
    forced_tool_use: the model takes `tool_choice` any/tool (Fable 5.1 answers it with 400).
    sampling: which sampling parameters pass ("free"; "single": temperature or top_p, not
    both; "fixed": temperature only at 1, top_p only at 0.99 or more, not both).
    """

    modes: frozenset[ThinkingMode]
    efforts: tuple[str, ...]
    by_default: bool
    summarized_display: bool
    forced_tool_use: bool
    sampling: SamplingRule

    @property
    def always_on(self) -> bool:
        """The model thinks on every request and cannot be told not to."""
        return self.by_default and "disabled" not in self.modes


@dataclass(frozen=True, slots=True)
class Price:
    """Microdollars per million tokens; `tokens * rate` is picodollars, exactly.

    A model without prompt caching carries its input price as its cache prices (also the
    default when a cache price is not given), so a cache count Bedrock reports anyway is
    never free.
    """

    input: int
    output: int
    cache_read: int = _SAME_AS_INPUT
    cache_write_5m: int = _SAME_AS_INPUT
    cache_write_1h: int = _SAME_AS_INPUT

    def __post_init__(self) -> None:
        for name in ("cache_read", "cache_write_5m", "cache_write_1h"):
            if getattr(self, name) == _SAME_AS_INPUT:
                object.__setattr__(self, name, self.input)


SERVICE_TIERS = ("default", "priority", "flex")
# Tier multipliers are basis points of the standard price (10_000 = 1x).
BASIS_POINTS = 10_000


def scaled(price: Price, basis_points: int) -> Price:
    """`price` times basis_points / 10_000, each rate rounded up to a whole microdollar (never under-charged)."""
    if basis_points == BASIS_POINTS:
        return price

    def up(rate: int) -> int:
        return -(-rate * basis_points // BASIS_POINTS)

    return Price(
        input=up(price.input),
        output=up(price.output),
        cache_read=up(price.cache_read),
        cache_write_5m=up(price.cache_write_5m),
        cache_write_1h=up(price.cache_write_1h),
    )


@dataclass(frozen=True, slots=True)
class PriceTier:
    """The price of requests whose prompt is longer than `above_prompt_tokens` (Haiku 5.5)."""

    above_prompt_tokens: int
    price: Price


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """Where a model is in Bedrock's lifecycle and who may call it."""

    state: LifecycleState
    end_of_life: date | None
    successor: str
    access: Access
    data_retention_opt_in: bool


@dataclass(frozen=True, slots=True)
class CatalogModel:
    """One callable model id (a base id or a profile id) with its price and abilities."""

    id: str
    base_id: str
    profile: str
    display_name: str
    owned_by: str
    kind: ModelKind
    capabilities: Capabilities
    price: Price
    embedding_family: EmbeddingFamily
    dimensions: tuple[int, ...]
    max_batch: int
    max_output_tokens: int
    api: UpstreamApi
    anthropic_betas: frozenset[str]
    price_tiers: tuple[PriceTier, ...] = ()
    context_window: int = 0
    default_max_tokens: int | None = None
    prompt_caching: bool = False
    prompt_caching_1h: bool = False
    thinking: Thinking = Thinking(frozenset(), (), False, False, True, "free")
    lifecycle: Lifecycle = Lifecycle("active", None, "", "open", False)
    # Bedrock service tiers besides `default`, each with its price as basis points of the
    # standard price (priority 17_500 = 1.75x, flex 5_000 = 0.5x).
    service_tiers: tuple[tuple[str, int], ...] = ()

    def offers_tier(self, tier: str) -> bool:
        """Whether the model can be called in this Bedrock service tier."""
        return tier == "default" or any(name == tier for name, _ in self.service_tiers)

    def price_for(self, prompt_tokens: int, service_tier: str = "default") -> Price:
        """The price of a request with this many prompt tokens (every tier's threshold it passes) in a service tier.

        A tier the model does not list is priced as `default`; requests in such a tier
        are refused before they reach Bedrock.
        """
        price = self.price
        for tier in self.price_tiers:
            if prompt_tokens > tier.above_prompt_tokens:
                price = tier.price
        basis_points = next((bp for name, bp in self.service_tiers if name == service_tier), BASIS_POINTS)
        return scaled(price, basis_points)

    def retired_on(self, today: date) -> bool:
        """Whether the model is past its end of life on `today`."""
        end = self.lifecycle.end_of_life
        return end is not None and end <= today
