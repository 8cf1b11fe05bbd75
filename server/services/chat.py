"""ChatService: OpenAI-shaped chat completions, built as Converse requests.

Bedrock answers them through Converse / ConverseStream, or, for Claude models the catalog marks
`api = "messages"`, through the native Messages route (services/upstream.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from llmgw.server.core import accounting
from llmgw.server.core.catalog import Catalog, CatalogModel
from llmgw.server.governance.admission import Governance
from llmgw.server.governance.identity import current_principal
from llmgw.server.providers.bedrock.converse import (
    ConverseResult,
    check_capabilities,
    from_converse_response,
    to_converse_request,
)
from llmgw.server.providers.bedrock.response_format import (
    answer_tool_name,
    as_json_answer,
    json_tool_config,
    wants_json,
)
from llmgw.server.providers.bedrock.stream import StreamTranslator
from llmgw.server.providers.bedrock.thinking import ThinkingSettings, allows_forced_tool_use
from llmgw.server.routing.router import Candidate, Progress, Router
from llmgw.server.routing.table import RouteTable
from llmgw.server.rpc.context import Context
from llmgw.server.services import upstream
from llmgw.server.services.admission import Admission
from llmgw.server.services.convert import usd
from llmgw.server.services.detached import DetachedCalls
from llmgw.server.services.recording import RequestRecorder, RequestTrace, never_answered
from llmgw.server.services.routed import fallback_candidates, route_candidates
from llmgw.v1 import chat_pb2, chat_service_pb2, chat_service_pb2_grpc
from llmgw.wire.errors import InvalidArgument, UpstreamError, UpstreamTimeout


def _prompt_characters(params: chat_pb2.ChatCompletionParams) -> int:
    return sum(len(part.text) for message in params.messages for part in message.content)


def chat_cost_bound(
    params: chat_pb2.ChatCompletionParams, model: CatalogModel, max_tokens: int, service_tier: str = "default"
) -> int:
    """The request's cost bound (core/accounting.py), from its size, images and the answer limit sent.

    `max_tokens` is the Converse request's `maxTokens` (the caller's limit, else
    DEFAULT_MAX_TOKENS), which Bedrock never exceeds, thinking included.
    """
    image_bytes, images = 0, 0
    for message in params.messages:
        for part in message.content:
            if part.HasField("image_url"):
                images += 1
                image_bytes += len(part.image_url.url)
    return accounting.chat_cost_bound(model, params.ByteSize(), image_bytes, images, max_tokens, service_tier)


def _usage(trace: RequestTrace, input_tokens: int, output_tokens: int) -> chat_pb2.Usage:
    """OpenAI's usage block, with the cost the ledger is charged.

    `prompt_tokens` counts every prompt token, as OpenAI does: Bedrock's uncached
    `inputTokens` plus its cache reads and writes, which `prompt_tokens_details`
    breaks out (`cached_tokens` for reads, `cache_write_tokens` for writes).
    """
    prompt_tokens = input_tokens + trace.cache_read_tokens + trace.cache_write_tokens
    return chat_pb2.Usage(
        prompt_tokens=prompt_tokens,
        completion_tokens=output_tokens,
        total_tokens=prompt_tokens + output_tokens,
        cost_usd=usd(trace.cost(input_tokens, output_tokens)),
        prompt_tokens_details=chat_pb2.PromptTokensDetails(
            cached_tokens=trace.cache_read_tokens, cache_write_tokens=trace.cache_write_tokens
        ),
    )


class _Requests:
    """The Converse request for each candidate, built once per id sent (each target's model has its own limits)."""

    def __init__(self, params: chat_pb2.ChatCompletionParams, thinking: ThinkingSettings, *, streaming: bool) -> None:
        self._params = params
        self._thinking = thinking
        self._streaming = streaming
        self._built: dict[str, dict[str, Any]] = {}

    def __call__(self, candidate: Candidate) -> dict[str, Any]:
        request = self._built.get(candidate.sent_id)
        if request is None:
            model = candidate.target.model
            request = to_converse_request(self._params, model, self._thinking)
            request["modelId"] = candidate.sent_id
            if wants_json(self._params):
                forced = allows_forced_tool_use(model, bool(request.get("additionalModelRequestFields")))
                request["toolConfig"] = json_tool_config(
                    self._params, model, request.get("toolConfig"), forced, streaming=self._streaming
                )
            self._built[candidate.sent_id] = request
        return request

    def bound(self, candidate: Candidate, tier: str) -> int:
        """The most the request can cost if this candidate answers it, in the tier asked for."""
        request = self(candidate)
        return chat_cost_bound(self._params, candidate.target.model, request["inferenceConfig"]["maxTokens"], tier)


class ChatServicer(chat_service_pb2_grpc.ChatServiceServicer):
    """Checks a chat request (catalog, policy, capabilities, quota), calls Bedrock through the router, records it.

    The quota reservation is taken once, before routing, for the dearest candidate (the
    route's targets and the fallbacks the caller may use), and settled once at the price
    of the target that answered.
    """

    def __init__(
        self,
        admission: Admission,
        routes: RouteTable,
        router: Router,
        recorder: RequestRecorder,
        clock: Callable[[], datetime],
        thinking: ThinkingSettings | None = None,
        *,
        catalog: Catalog,
        governance: Governance,
        detached: DetachedCalls,
    ) -> None:
        self._admission = admission
        self._routes = routes
        self._router = router
        self._recorder = recorder
        self._clock = clock
        self._thinking = thinking or ThinkingSettings()
        self._catalog = catalog
        self._governance = governance
        self._detached = detached

    async def _route(
        self, trace: RequestTrace, params: chat_pb2.ChatCompletionParams, model: CatalogModel, *, streaming: bool
    ) -> tuple[list[Candidate], _Requests, str | None, int]:
        """The candidates (route targets, then allowed fallbacks'), their requests, the tier asked for, the bound.

        The caller's mistakes surface here, before any quota is taken: the request is
        converted for the first candidate at once. A fallback that cannot serve the request
        (its capabilities, or a request it cannot take, such as a JSON answer from a model
        that cannot be made to call a tool) is left out, never an error.
        """
        requests = _Requests(params, self._thinking, streaming=streaming)
        candidates = route_candidates(self._routes, trace, model)
        tier: str | None = requests(candidates[0]).get("serviceTier", {}).get("type")
        trace.service_tier = tier or "default"
        for fallback in await fallback_candidates(self._routes, self._catalog, self._governance, trace, model):
            try:
                check_capabilities(params, fallback.target.model, streaming=streaming)
                requests(fallback)
            except InvalidArgument:
                continue
            candidates.append(fallback)
        bound = max(requests.bound(candidate, trace.service_tier) for candidate in candidates)
        return candidates, requests, tier, bound

    async def CreateChatCompletion(
        self, request: chat_service_pb2.CreateChatCompletionRequest, context: Context
    ) -> chat_service_pb2.CreateChatCompletionResponse:
        """Answer in one response; the usage row is committed before the answer is returned.

        Once the call has gone to Bedrock it is settled when Bedrock answers, even if the
        client has left by then (detached.py).
        """
        params = request.params
        principal = current_principal()
        trace = RequestTrace("chatcmpl", "chat", principal, params.model, self._clock())
        try:
            model = await self._admission.model(trace)
            check_capabilities(params, model, streaming=False)
            candidates, requests, tier, bound = await self._route(trace, params, model, streaming=False)
            await self._admission.admit(trace, candidates[0].target.model, bound)
        except BaseException as exc:
            self._recorder.record_failure(trace, exc)
            raise
        result = await self._detached.run(trace, self._converse(trace, candidates, requests, tier))
        if wants_json(params):
            result = as_json_answer(result, answer_tool_name(params))
        completion = chat_pb2.ChatCompletion(
            id=trace.id,
            object="chat.completion",
            created=trace.created_unix,
            model=trace.model_id,
            choices=[chat_pb2.Choice(index=0, message=result.message, finish_reason=result.finish_reason)],
            usage=_usage(trace, result.input_tokens, result.output_tokens),
            service_tier=result.service_tier,
        )
        return chat_service_pb2.CreateChatCompletionResponse(completion=completion)

    async def _converse(
        self, trace: RequestTrace, candidates: list[Candidate], requests: _Requests, tier: str | None
    ) -> ConverseResult:
        """Call Bedrock through the router and record the request, charged what Bedrock reports.

        A call Bedrock never answered (the router's total deadline) is charged its reservation's bound.
        """
        progress = Progress()
        try:
            response = await self._router.call(
                candidates,
                lambda client, candidate: upstream.converse(client, candidate.target.model, requests(candidate)),
                progress,
            )
            result = from_converse_response(response, tier)
        except BaseException as exc:
            trace.routed(progress, answered=False)
            trace.charge_bound = never_answered(exc)
            self._recorder.record_failure(trace, exc)
            raise
        trace.routed(progress, answered=True)
        trace.mark_first_token()
        trace.cache_read_tokens, trace.cache_write_tokens = result.cache_read_tokens, result.cache_write_tokens
        trace.cache_write_1h_tokens, trace.service_tier = result.cache_write_1h_tokens, result.service_tier
        await self._recorder.record_answered(trace, result.input_tokens, result.output_tokens)
        return result

    async def StreamChatCompletion(
        self, request: chat_service_pb2.StreamChatCompletionRequest, context: Context
    ) -> AsyncIterator[chat_service_pb2.StreamChatCompletionResponse]:
        """Stream chunks as Bedrock produces them.

        The chunk with the finish reason is held back until Bedrock's stream has
        ended and the usage row is committed, so a client that has the last byte
        has been charged. A client that goes away is still charged for what was
        generated up to then.
        """
        params = request.params
        principal = current_principal()
        trace = RequestTrace("chatcmpl", "chat_stream", principal, params.model, self._clock())
        translator: StreamTranslator | None = None
        finish: list[chat_pb2.ChunkChoice] = []
        progress = Progress()

        # The fields every chunk shares, built once and copied (cheaper than keyword construction per token);
        # `model` is set once a target has answered (a fallback's id, when one did).
        envelope = chat_pb2.ChatCompletionChunk(id=trace.id, object="chat.completion.chunk", created=trace.created_unix)

        def chunk(
            *choices: chat_pb2.ChunkChoice, usage: chat_pb2.Usage | None = None
        ) -> chat_service_pb2.StreamChatCompletionResponse:
            response = chat_service_pb2.StreamChatCompletionResponse()
            body = response.chunk
            body.CopyFrom(envelope)
            body.choices.extend(choices)
            if usage is not None:
                body.usage.CopyFrom(usage)
            return response

        try:
            model = await self._admission.model(trace)
            check_capabilities(params, model, streaming=True)
            candidates, requests, tier, bound = await self._route(trace, params, model, streaming=True)
            translator = StreamTranslator(tier, answer_tool_name(params) if wants_json(params) else None)
            await self._admission.admit(trace, candidates[0].target.model, bound)
            events = await self._router.stream(
                candidates,
                lambda client, candidate: upstream.converse_stream(client, candidate.target.model, requests(candidate)),
                progress,
                upstream.has_content,
            )
            trace.routed(progress, answered=True)
            envelope.model = trace.model_id
            try:
                async for batch in events:
                    for choice in translator.feed_batch(batch):
                        if choice.finish_reason:
                            finish.append(choice)
                            continue
                        trace.mark_first_token()
                        yield chunk(choice)
            finally:
                await events.aclose()
            if not translator.finished:
                raise UpstreamError(f"Bedrock ended the stream for {trace.model_id} before it was complete.")
        except BaseException as exc:
            state = translator or StreamTranslator()
            trace.routed(progress, answered=state.started)
            trace.charge_bound = isinstance(exc, UpstreamTimeout) and not state.started
            input_tokens = accounting.failed_stream_input_tokens(
                admitted=trace.model is not None,
                answering=state.started,
                client_left=isinstance(exc, asyncio.CancelledError | GeneratorExit),
                reported_input_tokens=state.input_tokens,
                prompt_characters=_prompt_characters(params),
            )
            self._recorder.record_failure(trace, exc, input_tokens, state.output_tokens_estimate)
            raise
        input_tokens, output_tokens = translator.input_tokens, translator.output_tokens_estimate
        trace.cache_read_tokens, trace.cache_write_tokens = translator.cache_read_tokens, translator.cache_write_tokens
        trace.cache_write_1h_tokens, trace.service_tier = translator.cache_write_1h_tokens, translator.service_tier
        await self._recorder.record(trace, input_tokens, output_tokens)
        envelope.service_tier = translator.service_tier
        yield chunk(*finish)
        if params.stream_options.include_usage:
            yield chunk(usage=_usage(trace, input_tokens, output_tokens))
