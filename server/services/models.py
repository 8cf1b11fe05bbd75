"""ModelService: the catalog's models, in OpenAI's model-object shape that Anthropic clients read too.

Each model also carries Anthropic's `type` and `created_at`, and the list Anthropic's
`has_more`, `first_id` and `last_id`, so one `GET /v1/models` serves the OpenAI SDK and
Claude Code's gateway model discovery alike.
"""

from __future__ import annotations

from google.protobuf import timestamp_pb2

from llmgw.server.core.application_profiles import ModelDirectory
from llmgw.server.core.catalog import CatalogModel
from llmgw.server.core.money import format_microdollars_per_million
from llmgw.server.governance.identity import current_principal
from llmgw.server.governance.model_access import ModelAccessCache
from llmgw.server.governance.roles import require_admin
from llmgw.server.rpc.context import Context
from llmgw.v1 import model_pb2, model_service_pb2, model_service_pb2_grpc
from llmgw.wire.echo import echo
from llmgw.wire.errors import ModelNotFound

_KINDS = {"chat": model_pb2.MODEL_KIND_CHAT, "embedding": model_pb2.MODEL_KIND_EMBEDDING}


def model_message(model: CatalogModel, created: int, model_id: str = "") -> model_pb2.Model:
    """The API view of one catalog model, with its lifecycle marks so callers can move off legacy models.

    `model_id` names an application inference profile described by its base `model`.
    """
    caps = model.capabilities
    lifecycle = model.lifecycle
    message = model_pb2.Model(
        id=model_id or model.id,
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
        type="model",
        created_at=timestamp_pb2.Timestamp(seconds=created),
    )
    if lifecycle.end_of_life is not None:
        message.end_of_life = lifecycle.end_of_life.isoformat()
        message.successor = f"{model.profile}.{lifecycle.successor}" if model.profile else lifecycle.successor
    if model.prompt_caching:
        message.cache_read_usd_per_million_tokens = format_microdollars_per_million(model.price.cache_read)
        message.cache_write_usd_per_million_tokens = format_microdollars_per_million(model.price.cache_write_5m)
    return message


def model_list(models: list[model_pb2.Model]) -> model_service_pb2.ListModelsResponse:
    """The list in both shapes: OpenAI's `{object, data}` and Anthropic's `{data, has_more, first_id, last_id}`."""
    return model_service_pb2.ListModelsResponse(
        object="list",
        data=models,
        has_more=False,
        first_id=models[0].id if models else "",
        last_id=models[-1].id if models else "",
    )


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """Lists and describes the models a caller may use (their model-access policy filters the catalog).

    Registered application inference profiles are listed by ARN after the catalog's models,
    described as their base model.
    """

    def __init__(self, models: ModelDirectory, access: ModelAccessCache) -> None:
        self._models = models
        self._catalog = models.catalog
        self._access = access
        self._created = self._catalog.prices_read_at
        self._messages = {model.id: model_message(model, self._created) for model in self._catalog}

    async def ListModels(
        self, request: model_service_pb2.ListModelsRequest, context: Context
    ) -> model_service_pb2.ListModelsResponse:
        """The served catalog models (and application profiles) the caller may use, sorted by id.

        An admin asking `include_all` gets all of them, whatever their own access. Models
        past their end of life are left out.
        """
        principal = current_principal()
        everything = request.include_all
        if everything:
            require_admin(principal)
        access = await self._access.access(principal.user)
        data = [self._messages[model.id] for model in self._catalog.served() if everything or access.allows(model.id)]
        data += [
            model_message(profile.model, self._created, profile.upstream_id)
            for profile in self._models.profiles()
            if everything or access.allows(profile.upstream_id)
        ]
        return model_list(data)

    async def GetModel(
        self, request: model_service_pb2.GetModelRequest, context: Context
    ) -> model_service_pb2.GetModelResponse:
        """One model by id; NOT_FOUND for ids the catalog does not know or the caller may not use."""
        resolved = self._models.resolve(request.model)
        if not (await self._access.access(current_principal().user)).allows(request.model):
            raise ModelNotFound(f"The model {echo(request.model)} does not exist or is not served by this gateway.")
        return model_service_pb2.GetModelResponse(model=model_message(resolved.model, self._created, request.model))
