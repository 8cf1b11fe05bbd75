"""catalog.toml -> CatalogModel: every field checked, every price exact, every error naming its entry.

One [[model]] entry yields the base id (when callable on demand) and one model
per profile prefix. Prices are decimal USD strings turned into integer
microdollars per million tokens; cache prices are either written out or derived
from the table's input price by the entry's multipliers, and a derived price
that is not a whole number of microdollars is refused rather than rounded.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar, cast

from llmgw.server.core.catalog_model import (
    BASIS_POINTS,
    SERVICE_TIERS,
    Access,
    Capabilities,
    CatalogModel,
    EmbeddingFamily,
    Lifecycle,
    LifecycleState,
    ModelKind,
    Price,
    PriceTier,
    SamplingRule,
    Thinking,
    ThinkingMode,
    UpstreamApi,
)
from llmgw.server.core.money import MICRODOLLARS_PER_USD

_T = TypeVar("_T", bound=str)

_FIELDS = frozenset(
    {
        "id",
        "display_name",
        "owned_by",
        "kind",
        "on_demand",
        "profiles",
        "input_usd_per_million",
        "output_usd_per_million",
        "cache_read_usd_per_million",
        "cache_write_usd_per_million",
        "cache_write_1h_usd_per_million",
        "cache_read_multiplier",
        "cache_write_multiplier",
        "cache_write_1h_multiplier",
        "profile_prices",
        "price_tiers",
        "max_output_tokens",
        "context_window",
        "default_max_tokens",
        "system",
        "vision",
        "tools",
        "streaming_tools",
        "thinking",
        "efforts",
        "thinks_by_default",
        "summarized_thinking",
        "forced_tool_use",
        "sampling",
        "lifecycle",
        "end_of_life",
        "successor",
        "access",
        "data_retention_opt_in",
        "api",
        "anthropic_betas",
        "embedding_family",
        "dimensions",
        "max_batch",
        "service_tiers",
    }
)
_PRICE_FIELDS = frozenset(
    {
        "input_usd_per_million",
        "output_usd_per_million",
        "cache_read_usd_per_million",
        "cache_write_usd_per_million",
        "cache_write_1h_usd_per_million",
    }
)
_TIER_FIELDS = _PRICE_FIELDS | {"above_prompt_tokens", "profile_prices"}
_CACHE_PRICES = (
    ("cache_read", "cache_read_usd_per_million", "cache_read_multiplier"),
    ("cache_write_5m", "cache_write_usd_per_million", "cache_write_multiplier"),
    ("cache_write_1h", "cache_write_1h_usd_per_million", "cache_write_1h_multiplier"),
)
_KINDS: tuple[ModelKind, ...] = ("chat", "embedding")
_FAMILIES: tuple[EmbeddingFamily, ...] = ("", "titan-v2", "titan-v1", "cohere-v3")
_THINKING_MODES: tuple[ThinkingMode, ...] = ("adaptive", "enabled", "disabled")
_EFFORTS = ("low", "medium", "high", "xhigh", "max")
_DEFAULT_EFFORTS = ("low", "medium", "high")
_SAMPLING: tuple[SamplingRule, ...] = ("free", "single", "fixed")
_LIFECYCLES: tuple[LifecycleState, ...] = ("active", "legacy")
_ACCESS: tuple[Access, ...] = ("open", "gated", "invitation")


def parse_catalog(text: str) -> tuple[dict[str, CatalogModel], date]:
    """Every callable model of a catalog file, by id, and the date its prices were read."""
    data = tomllib.loads(text)
    read_on = data.get("prices_read_on")
    if not isinstance(read_on, date):
        raise ValueError("catalog: prices_read_on must be a TOML date")
    messages_betas = _strings(data.get("messages_api_betas", []), "messages_api_betas")
    multipliers = _tier_multipliers(data.get("service_tier_multipliers", {}))
    models: dict[str, CatalogModel] = {}
    for position, entry in enumerate(data.get("model", []), start=1):
        for model in _expand(entry, position, messages_betas, multipliers):
            if model.id in models:
                raise ValueError(f"catalog: {model.base_id}: model id {model.id!r} appears twice")
            models[model.id] = model
    base_ids = {model.base_id for model in models.values()}
    for model in models.values():
        successor = model.lifecycle.successor
        if successor and successor not in base_ids:
            raise ValueError(f"catalog: {model.base_id}: successor {successor!r} is not a model of the catalog")
    return models, read_on


def _tier_multipliers(table: object) -> dict[str, int]:
    """The file's `service_tier_multipliers` as basis points of the standard price, checked."""
    if not isinstance(table, dict):
        raise ValueError("catalog: service_tier_multipliers must be a table of tier = decimal string")
    found: dict[str, int] = {}
    for tier, value in table.items():
        if tier not in SERVICE_TIERS or tier == "default":
            raise ValueError(f"catalog: service_tier_multipliers: unknown tier {tier!r}")
        amount = _usd(value, tier, "service_tier_multipliers") * BASIS_POINTS
        if amount != amount.to_integral_value() or amount <= 0:
            raise ValueError(f"catalog: service_tier_multipliers.{tier} must be positive with at most 4 decimals")
        found[tier] = int(amount)
    return found


def _service_tiers(entry: Mapping[str, Any], multipliers: Mapping[str, int], where: str) -> tuple[tuple[str, int], ...]:
    tiers = _strings(entry.get("service_tiers", []), f"{where}: service_tiers")
    unknown = [tier for tier in tiers if tier not in multipliers]
    if unknown:
        raise ValueError(f"catalog: {where}: service tier {unknown[0]!r} has no service_tier_multipliers entry")
    return tuple((tier, multipliers[tier]) for tier in tiers)


def _strings(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ValueError(f"catalog: {where} must be a list of non-empty strings, got {value!r}")
    return tuple(value)


def _choice(entry: Mapping[str, Any], key: str, choices: tuple[_T, ...], default: _T, where: str) -> _T:
    value = entry.get(key, default)
    if value not in choices:
        raise ValueError(f"catalog: {where}: {key} must be one of {', '.join(choices)}, got {value!r}")
    return cast("_T", value)


def _flag(entry: Mapping[str, Any], key: str, default: bool, where: str) -> bool:
    value = entry.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"catalog: {where}: {key} must be true or false, got {value!r}")
    return value


def _text(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"catalog: {where}: {key} must be a non-empty string, got {value!r}")
    return value


def _count(entry: Mapping[str, Any], key: str, where: str, *, required: bool) -> int:
    """A positive integer field; 0 when absent and not required."""
    value = entry.get(key)
    if value is None and not required:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"catalog: {where}: {key} must be a positive integer, got {value!r}")
    return value


def _usd(value: object, key: str, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"catalog: {where}: {key} must be a decimal string, got {value!r}")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"catalog: {where}: {key} must be a decimal number of USD, got {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"catalog: {where}: {key} must be a non-negative USD amount, got {value!r}")
    return amount


def _micro(amount: Decimal, key: str, where: str) -> int:
    scaled = amount * MICRODOLLARS_PER_USD
    if scaled != scaled.to_integral_value():
        raise ValueError(f"catalog: {where}: {key} is {amount} USD, not a whole number of microdollars")
    return int(scaled)


def _price_table(
    table: Mapping[str, Any],
    multipliers: Mapping[str, Decimal],
    fallback: Price | None,
    where: str,
    kind: ModelKind,
) -> tuple[Price, bool, bool]:
    """A price table as a Price, with whether its cache-read and 1-hour-write prices are known.

    A cache price the table omits is its input price times the entry's multiplier, else
    the fallback table's (the base price for a profile), else the input price.
    """
    for key in ("input_usd_per_million", "output_usd_per_million"):
        if key == "output_usd_per_million" and kind != "chat":
            continue
        if table.get(key) is None:
            raise ValueError(f"catalog: {where}: {key} is missing; a model without a price is never served")
    input_usd = _usd(table["input_usd_per_million"], "input_usd_per_million", where)
    output = (
        _micro(_usd(table["output_usd_per_million"], "output_usd_per_million", where), "output", where)
        if kind == "chat"
        else 0
    )
    price_input = _micro(input_usd, "input_usd_per_million", where)
    if price_input <= 0 or (kind == "chat" and output <= 0):
        raise ValueError(f"catalog: {where}: prices must be above zero; nothing is served for free")
    cache: dict[str, int] = {}
    known: dict[str, bool] = {}
    for name, key, multiplier_key in _CACHE_PRICES:
        if key in table:
            cache[name], known[name] = _micro(_usd(table[key], key, where), key, where), True
        elif multiplier_key in multipliers:
            cache[name], known[name] = _micro(input_usd * multipliers[multiplier_key], key, where), True
        elif fallback is not None:
            cache[name], known[name] = getattr(fallback, name), True
        else:
            cache[name], known[name] = price_input, False
    if known["cache_read"] and cache["cache_read"] <= 0:
        raise ValueError(f"catalog: {where}: cache reads must cost more than zero")
    price = Price(input=price_input, output=output, **cache)
    return price, known["cache_read"], known["cache_write_1h"]


def _multipliers(entry: Mapping[str, Any], where: str) -> dict[str, Decimal]:
    found: dict[str, Decimal] = {}
    for _, _, key in _CACHE_PRICES:
        if key in entry:
            found[key] = _usd(entry[key], key, where)
    return found


def _profile_prices(table: Mapping[str, Any], profiles: list[str], where: str) -> Mapping[str, Mapping[str, Any]]:
    overrides: Mapping[str, Mapping[str, Any]] = table.get("profile_prices", {})
    stray = sorted(set(overrides) - set(profiles))
    if stray:
        raise ValueError(f"catalog: {where}: profile_prices for unlisted profile(s) {', '.join(stray)}")
    for prefix, override in overrides.items():
        unknown = sorted(set(override) - _PRICE_FIELDS)
        if unknown:
            raise ValueError(f"catalog: {where}.profile_prices.{prefix}: unknown field(s) {', '.join(unknown)}")
    return overrides


def _tiers(
    entry: Mapping[str, Any], profiles: list[str], where: str
) -> list[tuple[int, Mapping[str, Any], Mapping[str, Mapping[str, Any]]]]:
    """The prompt-length tiers of an entry, checked and in ascending order of threshold."""
    tiers = []
    for number, tier in enumerate(entry.get("price_tiers", []), start=1):
        tier_where = f"{where}.price_tiers[{number}]"
        unknown = sorted(set(tier) - _TIER_FIELDS)
        if unknown:
            raise ValueError(f"catalog: {tier_where}: unknown field(s) {', '.join(unknown)}")
        threshold = _count(tier, "above_prompt_tokens", tier_where, required=True)
        tiers.append((threshold, tier, _profile_prices(tier, profiles, tier_where)))
    thresholds = [threshold for threshold, _, _ in tiers]
    if thresholds != sorted(set(thresholds)):
        raise ValueError(f"catalog: {where}: price_tiers must have distinct thresholds in ascending order")
    return tiers


def _thinking(entry: Mapping[str, Any], where: str) -> Thinking:
    modes = _strings(entry.get("thinking", []), f"{where}: thinking")
    bad = sorted(set(modes) - set(_THINKING_MODES))
    if bad:
        raise ValueError(f"catalog: {where}: thinking modes must be among {', '.join(_THINKING_MODES)}, got {bad}")
    efforts = _strings(entry.get("efforts", list(_DEFAULT_EFFORTS if "adaptive" in modes else ())), f"{where}: efforts")
    if set(efforts) - set(_EFFORTS) or ("adaptive" not in modes and efforts):
        raise ValueError(f"catalog: {where}: efforts must be among {', '.join(_EFFORTS)}, for adaptive models only")
    return Thinking(
        modes=frozenset(cast("tuple[ThinkingMode, ...]", modes)),
        efforts=efforts,
        by_default=_flag(entry, "thinks_by_default", False, where),
        summarized_display=_flag(entry, "summarized_thinking", False, where),
        forced_tool_use=_flag(entry, "forced_tool_use", True, where),
        sampling=_choice(entry, "sampling", _SAMPLING, "free", where),
    )


def _lifecycle(entry: Mapping[str, Any], where: str) -> Lifecycle:
    end_of_life = entry.get("end_of_life")
    if end_of_life is not None and not isinstance(end_of_life, date):
        raise ValueError(f"catalog: {where}: end_of_life must be a TOML date, got {end_of_life!r}")
    successor = entry.get("successor", "")
    if not isinstance(successor, str):
        raise ValueError(f"catalog: {where}: successor must be a base model id, got {successor!r}")
    if end_of_life is not None and not successor:
        raise ValueError(f"catalog: {where}: a model with an end_of_life must name its successor")
    return Lifecycle(
        state=_choice(entry, "lifecycle", _LIFECYCLES, "active", where),
        end_of_life=end_of_life,
        successor=successor,
        access=_choice(entry, "access", _ACCESS, "open", where),
        data_retention_opt_in=_flag(entry, "data_retention_opt_in", False, where),
    )


def _expand(
    entry: Mapping[str, Any], position: int, messages_betas: tuple[str, ...], tier_multipliers: Mapping[str, int]
) -> Iterator[CatalogModel]:
    """Yield the base id (when callable on demand) and one model per profile prefix.

    A model served on the Messages API takes the file's `messages_api_betas` unless
    its entry lists its own `anthropic_betas`. Raises ValueError naming the entry
    (its id, or its position when the id is bad).
    """
    base_id = _text(entry, "id", f"model #{position}")
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise ValueError(f"catalog: {base_id}: unknown field(s) {', '.join(unknown)}")
    kind: ModelKind = _choice(entry, "kind", _KINDS, "chat", base_id)
    is_chat = kind == "chat"
    capabilities = Capabilities(
        system=_flag(entry, "system", is_chat, base_id),
        vision=_flag(entry, "vision", False, base_id),
        tools=_flag(entry, "tools", False, base_id),
        streaming_tools=_flag(entry, "streaming_tools", False, base_id),
    )
    family: EmbeddingFamily = _choice(entry, "embedding_family", _FAMILIES if not is_chat else ("",), "", base_id)
    if not is_chat and not family:
        raise ValueError(f"catalog: {base_id}: embedding_family is required for embedding models")
    max_output_tokens = _count(entry, "max_output_tokens", base_id, required=is_chat)
    if not is_chat and max_output_tokens:
        raise ValueError(f"catalog: {base_id}: max_output_tokens applies to chat models only")
    default_max_tokens = _count(entry, "default_max_tokens", base_id, required=False) or None
    if default_max_tokens is not None and default_max_tokens > max_output_tokens:
        raise ValueError(f"catalog: {base_id}: default_max_tokens is above max_output_tokens")
    api: UpstreamApi = _choice(
        entry, "api", ("converse", "messages") if is_chat else ("converse",), "converse", base_id
    )
    betas = _strings(entry.get("anthropic_betas", list(messages_betas) if api == "messages" else []), base_id)
    profiles = list(_strings(entry.get("profiles", []), f"{base_id}: profiles"))
    multipliers = _multipliers(entry, base_id)
    base_price, caching, caching_1h = _price_table(entry, multipliers, None, base_id, kind)
    overrides = _profile_prices(entry, profiles, base_id)
    tiers = _tiers(entry, profiles, base_id)
    thinking = _thinking(entry, base_id)
    lifecycle = _lifecycle(entry, base_id)
    template = CatalogModel(
        id=base_id,
        base_id=base_id,
        profile="",
        display_name=_text(entry, "display_name", base_id),
        owned_by=_text(entry, "owned_by", base_id),
        kind=kind,
        capabilities=capabilities,
        price=base_price,
        embedding_family=family,
        dimensions=tuple(int(size) for size in entry.get("dimensions", ())),
        max_batch=int(entry.get("max_batch", 1)),
        max_output_tokens=max_output_tokens,
        api=api,
        anthropic_betas=frozenset(betas),
        context_window=_count(entry, "context_window", base_id, required=False),
        default_max_tokens=default_max_tokens,
        prompt_caching=caching,
        prompt_caching_1h=caching_1h,
        thinking=thinking,
        lifecycle=lifecycle,
        service_tiers=_service_tiers(entry, tier_multipliers, base_id),
    )

    def priced(prefix: str) -> tuple[Price, tuple[PriceTier, ...]]:
        where = f"{base_id}.profile_prices.{prefix}"
        price = base_price
        if prefix in overrides:
            price = _price_table(overrides[prefix], multipliers, base_price, where, kind)[0]
        tier_prices = []
        for threshold, tier, tier_overrides in tiers:
            tier_where = f"{base_id}.price_tiers[above {threshold}]"
            tier_price = _price_table(tier, multipliers, None, tier_where, kind)[0]
            if prefix in tier_overrides:
                tier_price = _price_table(tier_overrides[prefix], multipliers, tier_price, tier_where, kind)[0]
            tier_prices.append(PriceTier(threshold, tier_price))
        return price, tuple(tier_prices)

    if _flag(entry, "on_demand", True, base_id):
        price, tier_prices = priced("")
        yield replace(template, price=price, price_tiers=tier_prices)
    for prefix in profiles:
        price, tier_prices = priced(prefix)
        yield replace(template, id=f"{prefix}.{base_id}", profile=prefix, price=price, price_tiers=tier_prices)
