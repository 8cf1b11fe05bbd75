"""The model catalog: which Bedrock models the gateway serves, what they can do, what they cost.

Everything lives in one data file, catalog.toml, shipped with the package: adding
a Bedrock model is one entry there, no code change. Each entry names a base model
id; every inference-profile prefix it lists (`us.`, `eu.`, `global.`, ...) becomes
its own callable id with its own price, since newer Anthropic models cost more on
regional profiles than on `global.`. A model without a price cannot be loaded,
so nothing is ever served for free. Parsing the file is catalog_file.py's job;
this module holds what it yields and the lookups callers make.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime
from importlib import resources

from llmgw.server.core.catalog_file import parse_catalog
from llmgw.server.core.catalog_model import (
    Capabilities,
    CatalogModel,
    EmbeddingFamily,
    ModelKind,
    Price,
    PriceTier,
    Thinking,
)
from llmgw.server.core.names import check_model_id
from llmgw.wire.echo import echo
from llmgw.wire.errors import ModelNotFound

__all__ = [
    "Capabilities",
    "Catalog",
    "CatalogModel",
    "EmbeddingFamily",
    "ModelKind",
    "Price",
    "PriceTier",
    "Thinking",
]


def _today() -> date:
    return datetime.now(UTC).date()


class Catalog:
    """All callable model ids, looked up by the id a caller sends."""

    def __init__(
        self, models: Mapping[str, CatalogModel], prices_read_on: date, today: Callable[[], date] = _today
    ) -> None:
        self._models = dict(sorted(models.items()))
        self.prices_read_on = prices_read_on
        self._today = today

    def get(self, model_id: str) -> CatalogModel:
        """The model for a caller-supplied id.

        InvalidArgument for an id that cannot be one (core/names.py); ModelNotFound names the
        id if unknown, and names the successor of a model past its end of life on Bedrock (it
        would only fail there).
        """
        model = self._models.get(check_model_id(model_id))
        if model is None:
            raise ModelNotFound(f"The model {echo(model_id)} does not exist or is not served by this gateway.")
        if model.retired_on(self._today()):
            raise ModelNotFound(self._retired_message(model))
        return model

    def _retired_message(self, model: CatalogModel) -> str:
        """Why a retired model is refused, naming its successor under the same profile when there is one."""
        message = (
            f"The model '{model.id}' reached its end of life on Amazon Bedrock on "
            f"{model.lifecycle.end_of_life} and is no longer served."
        )
        successor = model.lifecycle.successor
        if successor:
            same_profile = f"{model.profile}.{successor}" if model.profile else successor
            if same_profile not in self._models:
                same_profile = next((m.id for m in self._models.values() if m.base_id == successor), successor)
            message += f" Use '{same_profile}' instead."
        return message

    def served(self) -> Iterator[CatalogModel]:
        """The models callable today (every one not past its end of life)."""
        today = self._today()
        return (model for model in self._models.values() if not model.retired_on(today))

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
    def load(cls, text: str | None = None, today: Callable[[], date] = _today) -> Catalog:
        """Parse catalog TOML (the shipped catalog.toml when `text` is None).

        Raises ValueError naming the entry and field of any bad value.
        """
        if text is None:
            text = resources.files(__package__).joinpath("catalog.toml").read_text(encoding="utf-8")
        models, read_on = parse_catalog(text)
        return cls(models, read_on, today)
