"""EmbeddingService: OpenAI-shaped embeddings served by Bedrock InvokeModel (Titan, Cohere)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from llmgw.server.core.accounting import embedding_cost_bound, request_cost
from llmgw.server.core.catalog import CatalogModel
from llmgw.server.governance.identity import current_principal
from llmgw.server.providers.bedrock.embeddings import (
    EmbeddingBatch,
    build_invoke_bodies,
    encode_vector,
    parse_invoke_response,
)
from llmgw.server.routing.router import Candidate, Progress, Router
from llmgw.server.routing.table import RouteTable
from llmgw.server.rpc.context import Context
from llmgw.server.services.admission import Admission
from llmgw.server.services.convert import usd
from llmgw.server.services.detached import DetachedCalls
from llmgw.server.services.recording import RequestRecorder, RequestTrace, never_answered
from llmgw.server.services.routed import route_candidates
from llmgw.v1 import embedding_service_pb2, embedding_service_pb2_grpc
from llmgw.wire.errors import InvalidArgument


class EmbeddingServicer(embedding_service_pb2_grpc.EmbeddingServiceServicer):
    """Validates an embedding request (catalog, policy, quota), fans it out over InvokeModel calls, records it.

    Each batch goes through the router (retries, failover between the route's regions,
    breakers); an embedding route's targets are all the same model, so the price is the
    same wherever a batch is answered.
    """

    def __init__(
        self,
        admission: Admission,
        routes: RouteTable,
        router: Router,
        recorder: RequestRecorder,
        clock: Callable[[], datetime],
        detached: DetachedCalls,
    ) -> None:
        self._admission = admission
        self._routes = routes
        self._router = router
        self._recorder = recorder
        self._clock = clock
        self._detached = detached

    async def _invoke(
        self, trace: RequestTrace, model: CatalogModel, candidates: list[Candidate], bodies: list[dict[str, Any]]
    ) -> list[EmbeddingBatch]:
        """Call Bedrock for every batch and record the request; settled even if the client left (detached.py)."""
        progress = Progress()

        async def invoke(body: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
            return await self._router.call(
                candidates, lambda client, candidate: client.invoke_model(candidate.sent_id, body), progress
            )

        try:
            replies = await asyncio.gather(*(invoke(body) for body in bodies))
            batches = [parse_invoke_response(model, body, tokens) for body, tokens in replies]
        except BaseException as exc:
            trace.routed(progress, answered=False)
            trace.charge_bound = never_answered(exc)
            self._recorder.record_failure(trace, exc)
            raise
        trace.routed(progress, answered=True)
        input_tokens = sum(batch.input_tokens for batch in batches)
        await self._recorder.record_answered(trace, input_tokens, 0)
        return batches

    async def CreateEmbedding(
        self, request: embedding_service_pb2.CreateEmbeddingRequest, context: Context
    ) -> embedding_service_pb2.CreateEmbeddingResponse:
        """Embed every input; batches run concurrently and the row is committed before the reply."""
        principal = current_principal()
        trace = RequestTrace("embd", "embeddings", principal, request.model, self._clock())
        try:
            model = await self._admission.model(trace)
            if model.kind != "embedding":
                raise InvalidArgument(f"The model '{model.id}' is a chat model, not an embedding model.", "model")
            dimensions = request.dimensions if request.HasField("dimensions") else None
            bodies = build_invoke_bodies(model, list(request.input), dimensions)
            await self._admission.admit(trace, model, embedding_cost_bound(model, list(request.input)))
            candidates = route_candidates(self._routes, trace, model)
        except BaseException as exc:
            self._recorder.record_failure(trace, exc)
            raise
        batches = await self._detached.run(trace, self._invoke(trace, model, candidates, bodies))
        input_tokens = sum(batch.input_tokens for batch in batches)
        vectors = [vector for batch in batches for vector in batch.vectors]
        cost = request_cost(model, input_tokens, 0)
        return embedding_service_pb2.CreateEmbeddingResponse(
            object="list",
            data=[
                embedding_service_pb2.Embedding(
                    object="embedding", index=index, embedding=encode_vector(vector, request.encoding_format)
                )
                for index, vector in enumerate(vectors)
            ],
            model=request.model,
            usage=embedding_service_pb2.EmbeddingUsage(
                prompt_tokens=input_tokens, total_tokens=input_tokens, cost_usd=usd(cost)
            ),
        )
