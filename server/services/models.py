"""ModelService: the catalog's models, in OpenAI's model-object shape."""

from __future__ import annotations

from llmgw.server.core.catalog import Catalog, CatalogModel
from llmgw.server.core.money import format_microdollars_per_million
from llmgw.server.core.names import echo
from llmgw.server.governance.identity import current_principal
from llmgw.server.governance.model_access import ModelAccessCache
from llmgw.server.rpc.context import Context
from llmgw.v1 import model_pb2, model_service_pb2, model_service_pb2_grpc
from llmgw.wire.errors import ModelNotFound

_KINDS = {"chat": model_pb2.MODEL_KIND_CHAT, "embedding": model_pb2.MODEL_KIND_EMBEDDING}


def model_message(model: CatalogModel, created: int) -> model_pb2.Model:
    """The API view of one catalog model."""
    caps = model.capabilities
    return model_pb2.Model(
        id=model.id,
        object="model",
        created=created,
        owned_by=model.owned_by,
        display_name=model.display_name,
        kind=_KINDS[model.kind],
        capabilities=model_pb2.ModelCapabilities(
            system=caps.system, vision=caps.vision, tools=caps.tools, streaming_tools=caps.streaming_tools
        ),
        input_usd_per_million_tokens=format_microdollars_per_million(model.price.input),
        output_usd_per_million_tokens=format_microdollars_per_million(model.price.output),
    )


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """Lists and describes the models a caller may use (their model-access policy filters the catalog)."""

    def __init__(self, catalog: Catalog, access: ModelAccessCache) -> None:
        created = catalog.prices_read_at
        self._catalog = catalog
        self._access = access
        self._messages = [model_message(model, created) for model in catalog]
        self._all = model_service_pb2.ListModelsResponse(object="list", data=self._messages)

    async def ListModels(
        self, request: model_service_pb2.ListModelsRequest, context: Context
    ) -> model_service_pb2.ListModelsResponse:
        """The catalog models the caller may use, sorted by id."""
        access = await self._access.access(current_principal().user)
        if access.models is None:
            return self._all
        allowed = access.models
        return model_service_pb2.ListModelsResponse(
            object="list", data=[message for message in self._messages if message.id in allowed]
        )

    async def GetModel(
        self, request: model_service_pb2.GetModelRequest, context: Context
    ) -> model_service_pb2.GetModelResponse:
        """One model by id; NOT_FOUND for ids the catalog does not know or the caller may not use."""
        model = self._catalog.get(request.model)
        if not (await self._access.access(current_principal().user)).allows(model.id):
            raise ModelNotFound(f"The model {echo(request.model)} does not exist or is not served by this gateway.")
        return model_service_pb2.GetModelResponse(model=model_message(model, self._catalog.prices_read_at))
