"""The model catalog: which Bedrock models the gateway serves, what they can do, what they cost.

Everything lives in one data file, catalog.toml, shipped with the package: adding
a Bedrock model is one entry there, no code change. Each entry names a base model
id; every inference-profile prefix it lists (`us.`, `eu.`, `global.`, ...) becomes
its own callable id with its own price, since newer Anthropic models cost more on
regional profiles than on `global.`. A model without a price cannot be loaded,
so nothing is ever served for free.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import resources
from typing import Any, Literal

from llmgw.server.core.money import usd_per_million_to_microdollars
from llmgw.server.core.names import check_model_id, echo
from llmgw.wire.errors import ModelNotFound

ModelKind = Literal["chat", "embedding"]
EmbeddingFamily = Literal["", "titan-v2", "titan-v1", "cohere-v3"]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a chat model accepts besides text; checked before Bedrock is called."""

    system: bool
    vision: bool
    tools: bool
    streaming_tools: bool


@dataclass(frozen=True, slots=True)
class Price:
    """Microdollars per million tokens; `tokens * rate` is picodollars, exactly."""

    input: int
    output: int


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


class Catalog:
    """All callable model ids, looked up by the id a caller sends."""

    def __init__(self, models: Mapping[str, CatalogModel], prices_read_on: date) -> None:
        self._models = dict(sorted(models.items()))
        self.prices_read_on = prices_read_on

    def get(self, model_id: str) -> CatalogModel:
        """The model for a caller-supplied id; ModelNotFound names the id if unknown."""
        model = self._models.get(check_model_id(model_id))
        if model is None:
            raise ModelNotFound(f"The model {echo(model_id)} does not exist or is not served by this gateway.")
        return model

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._models

    def __iter__(self) -> Iterator[CatalogModel]:
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    @property
    def prices_read_at(self) -> int:
        """The date the prices were read, as Unix seconds (OpenAI's `created`)."""
        return int(datetime(*self.prices_read_on.timetuple()[:3], tzinfo=UTC).timestamp())

    @classmethod
    def load(cls, text: str | None = None) -> Catalog:
        """Parse catalog TOML (the shipped catalog.toml when `text` is None).

        Raises ValueError naming the entry and field of any bad value.
        """
        if text is None:
            text = resources.files(__package__).joinpath("catalog.toml").read_text(encoding="utf-8")
        data = tomllib.loads(text)
        models: dict[str, CatalogModel] = {}
        for position, entry in enumerate(data.get("model", []), start=1):
            for model in _expand(entry, position):
                if model.id in models:
                    raise ValueError(f"catalog: {model.base_id}: model id {model.id!r} appears twice")
                models[model.id] = model
        read_on = data.get("prices_read_on")
        if not isinstance(read_on, date):
            raise ValueError("catalog: prices_read_on must be a TOML date")
        return cls(models, read_on)


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
        "max_output_tokens",
        "profile_prices",
        "system",
        "vision",
        "tools",
        "streaming_tools",
        "embedding_family",
        "dimensions",
        "max_batch",
    }
)
_FAMILIES: tuple[EmbeddingFamily, ...] = ("titan-v2", "titan-v1", "cohere-v3")


def _amount(table: Mapping[str, Any], key: str, where: str) -> int:
    value = table.get(key)
    if value is None:
        raise ValueError(f"catalog: {where}: {key} is missing; a model without a price is never served")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"catalog: {where}: {key} must be a decimal string, got {value!r}")
    try:
        return usd_per_million_to_microdollars(str(value), field=f"catalog: {where}: {key}")
    except ArithmeticError:
        raise ValueError(f"catalog: {where}: {key} must be a decimal number of USD, got {value!r}") from None


def _price(table: Mapping[str, Any], where: str, kind: ModelKind) -> Price:
    price = Price(
        input=_amount(table, "input_usd_per_million", where),
        output=_amount(table, "output_usd_per_million", where) if kind == "chat" else 0,
    )
    if price.input <= 0 or (kind == "chat" and price.output <= 0):
        raise ValueError(f"catalog: {where}: prices must be above zero; nothing is served for free")
    return price


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


def _expand(entry: Mapping[str, Any], position: int) -> Iterator[CatalogModel]:
    """Yield the base id (when callable on demand) and one model per profile prefix.

    Raises ValueError naming the entry (its id, or its position when the id is bad).
    """
    base_id = _text(entry, "id", f"model #{position}")
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise ValueError(f"catalog: {base_id}: unknown field(s) {', '.join(unknown)}")
    kind: ModelKind = entry.get("kind", "chat")
    if kind not in ("chat", "embedding"):
        raise ValueError(f"catalog: {base_id}: kind must be 'chat' or 'embedding', got {kind!r}")
    is_chat = kind == "chat"
    capabilities = Capabilities(
        system=_flag(entry, "system", is_chat, base_id),
        vision=_flag(entry, "vision", False, base_id),
        tools=_flag(entry, "tools", False, base_id),
        streaming_tools=_flag(entry, "streaming_tools", False, base_id),
    )
    family: EmbeddingFamily = entry.get("embedding_family", "")
    if family not in (_FAMILIES if not is_chat else ("",)):
        raise ValueError(f"catalog: {base_id}: embedding_family {family!r} does not fit kind {kind!r}")
    base_price = _price(entry, base_id, kind)
    profiles: list[str] = entry.get("profiles", [])
    profile_prices: Mapping[str, Mapping[str, Any]] = entry.get("profile_prices", {})
    stray = sorted(set(profile_prices) - set(profiles))
    if stray:
        raise ValueError(f"catalog: {base_id}: profile_prices for unlisted profile(s) {', '.join(stray)}")
    display_name = _text(entry, "display_name", base_id)
    owned_by = _text(entry, "owned_by", base_id)
    dimensions = tuple(int(size) for size in entry.get("dimensions", ()))
    max_batch = int(entry.get("max_batch", 1))
    max_output_tokens = entry.get("max_output_tokens", 0)
    if is_chat and (
        not isinstance(max_output_tokens, int) or isinstance(max_output_tokens, bool) or max_output_tokens < 1
    ):
        raise ValueError(f"catalog: {base_id}: max_output_tokens must be a positive integer, got {max_output_tokens!r}")
    if not is_chat and max_output_tokens:
        raise ValueError(f"catalog: {base_id}: max_output_tokens applies to chat models only")

    def model(model_id: str, profile: str, price: Price) -> CatalogModel:
        return CatalogModel(
            id=model_id,
            base_id=base_id,
            profile=profile,
            display_name=display_name,
            owned_by=owned_by,
            kind=kind,
            capabilities=capabilities,
            price=price,
            embedding_family=family,
            dimensions=dimensions,
            max_batch=max_batch,
            max_output_tokens=max_output_tokens,
        )

    if _flag(entry, "on_demand", True, base_id):
        yield model(base_id, "", base_price)
    for prefix in profiles:
        if prefix in profile_prices:
            price = _price(profile_prices[prefix], f"{base_id}.profile_prices.{prefix}", kind)
        else:
            price = base_price
        yield model(f"{prefix}.{base_id}", prefix, price)
