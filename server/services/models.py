"""ModelService: the catalog's models, in OpenAI's model-object shape."""

from __future__ import annotations

from llmgw.server.core.catalog import Catalog, CatalogModel
from llmgw.server.core.money import format_microdollars_per_million
from llmgw.server.governance.identity import current_principal
from llmgw.server.governance.model_access import ModelAccessCache
from llmgw.server.governance.roles import require_admin
from llmgw.server.rpc.context import Context
from llmgw.v1 import model_pb2, model_service_pb2, model_service_pb2_grpc
from llmgw.wire.errors import ModelNotFound

_KINDS = {"chat": model_pb2.MODEL_KIND_CHAT, "embedding": model_pb2.MODEL_KIND_EMBEDDING}


def model_message(model: CatalogModel, created: int) -> model_pb2.Model:
    """The API view of one catalog model, with its lifecycle marks so callers can move off legacy models."""
    caps = model.capabilities
    lifecycle = model.lifecycle
    message = model_pb2.Model(
        id=model.id,
        object="model",
        created=created,
        owned_by=model.owned_by,
        display_name=model.display_name,
        kind=_KINDS[model.kind],
        capabilities=model_pb2.ModelCapabilities(
            system=caps.system,
            vision=caps.vision,
            tools=caps.tools,
            streaming_tools=caps.streaming_tools,
            reasoning=bool(model.thinking.modes),
            prompt_caching=model.prompt_caching,
        ),
        input_usd_per_million_tokens=format_microdollars_per_million(model.price.input),
        output_usd_per_million_tokens=format_microdollars_per_million(model.price.output),
        legacy=lifecycle.state == "legacy",
        access=lifecycle.access,
        data_retention_opt_in=lifecycle.data_retention_opt_in,
        context_window=model.context_window,
        max_output_tokens=model.max_output_tokens,
    )
    if lifecycle.end_of_life is not None:
        message.end_of_life = lifecycle.end_of_life.isoformat()
        message.successor = f"{model.profile}.{lifecycle.successor}" if model.profile else lifecycle.successor
    if model.prompt_caching:
        message.cache_read_usd_per_million_tokens = format_microdollars_per_million(model.price.cache_read)
        message.cache_write_usd_per_million_tokens = format_microdollars_per_million(model.price.cache_write_5m)
    return message


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """Lists and describes the models a caller may use (their model-access policy filters the catalog)."""

    def __init__(self, catalog: Catalog, access: ModelAccessCache) -> None:
        created = catalog.prices_read_at
        self._catalog = catalog
        self._access = access
        self._messages = {model.id: model_message(model, created) for model in catalog}

    async def ListModels(
        self, request: model_service_pb2.ListModelsRequest, context: Context
    ) -> model_service_pb2.ListModelsResponse:
        """The served catalog models the caller may use (or, for an admin asking `include_all`, all of them).

        Sorted by id; models past their end of life are left out.
        """
        principal = current_principal()
        if request.include_all:
            require_admin(principal)
            served = self._catalog.served()
            return model_service_pb2.ListModelsResponse(
                object="list", data=[self._messages[model.id] for model in served]
            )
        access = await self._access.access(principal.user)
        return model_service_pb2.ListModelsResponse(
            object="list",
            data=[self._messages[model.id] for model in self._catalog.served() if access.allows(model.id)],
        )

    async def GetModel(
        self, request: model_service_pb2.GetModelRequest, context: Context
    ) -> model_service_pb2.GetModelResponse:
        """One model by id; NOT_FOUND for ids the catalog does not know or the caller may not use."""
        model = self._catalog.get(request.model)
        if not (await self._access.access(current_principal().user)).allows(model.id):
            raise ModelNotFound(f"The model '{request.model}' does not exist or is not served by this gateway.")
        return model_service_pb2.GetModelResponse(model=model_message(model, self._catalog.prices_read_at))
