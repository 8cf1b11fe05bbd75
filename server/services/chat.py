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
from llmgw.server.core.catalog import CatalogModel
from llmgw.server.governance.identity import current_principal
from llmgw.server.providers.bedrock.client import BedrockClient
from llmgw.server.providers.bedrock.converse import (
    ConverseResult,
    check_capabilities,
    from_converse_response,
    to_converse_request,
)
from llmgw.server.providers.bedrock.response_format import as_json_answer, json_tool_config, wants_json
from llmgw.server.providers.bedrock.stream import StreamTranslator
from llmgw.server.providers.bedrock.thinking import ThinkingSettings, allows_forced_tool_use
from llmgw.server.rpc.context import Context
from llmgw.server.services import upstream
from llmgw.server.services.admission import Admission
from llmgw.server.services.convert import usd
from llmgw.server.services.detached import DetachedCalls
from llmgw.server.services.recording import RequestRecorder, RequestTrace, never_answered
from llmgw.v1 import chat_pb2, chat_service_pb2, chat_service_pb2_grpc
from llmgw.wire.errors import UpstreamError, UpstreamTimeout


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


def _prepare(
    params: chat_pb2.ChatCompletionParams, model: CatalogModel, trace: RequestTrace, thinking: ThinkingSettings
) -> tuple[dict[str, Any], str | None, int]:
    """The Converse request (sent under the trace's upstream id), the tier asked for, and the cost bound."""
    converse_request = to_converse_request(params, model, thinking)
    converse_request["modelId"] = trace.upstream_model or model.id
    tier: str | None = converse_request.get("serviceTier", {}).get("type")
    trace.service_tier = tier or "default"
    bound = chat_cost_bound(params, model, converse_request["inferenceConfig"]["maxTokens"], trace.service_tier)
    return converse_request, tier, bound


class ChatServicer(chat_service_pb2_grpc.ChatServiceServicer):
    """Checks a chat request (catalog, policy, capabilities, quota), calls Bedrock, records the request."""

    def __init__(
        self,
        admission: Admission,
        bedrock: BedrockClient,
        recorder: RequestRecorder,
        clock: Callable[[], datetime],
        thinking: ThinkingSettings | None = None,
        detached: DetachedCalls | None = None,
    ) -> None:
        self._admission = admission
        self._bedrock = bedrock
        self._recorder = recorder
        self._clock = clock
        self._thinking = thinking or ThinkingSettings()
        self._detached = detached if detached is not None else DetachedCalls()

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
            converse_request, tier, bound = _prepare(params, model, trace, self._thinking)
            if wants_json(params):
                forced = allows_forced_tool_use(model, bool(converse_request.get("additionalModelRequestFields")))
                converse_request["toolConfig"] = json_tool_config(params, model, forced, streaming=False)
            await self._admission.admit(trace, model, bound)
        except BaseException as exc:
            self._recorder.record_failure(trace, exc)
            raise
        result = await self._detached.run(trace, self._converse(trace, model, converse_request, tier))
        if wants_json(params):
            result = as_json_answer(result)
        completion = chat_pb2.ChatCompletion(
            id=trace.id,
            object="chat.completion",
            created=trace.created_unix,
            model=params.model,
            choices=[chat_pb2.Choice(index=0, message=result.message, finish_reason=result.finish_reason)],
            usage=_usage(trace, result.input_tokens, result.output_tokens),
            service_tier=result.service_tier,
        )
        return chat_service_pb2.CreateChatCompletionResponse(completion=completion)

    async def _converse(
        self, trace: RequestTrace, model: CatalogModel, converse_request: dict[str, Any], tier: str | None
    ) -> ConverseResult:
        """Call Bedrock and record the request, charged what Bedrock reports (or the bound if it never does)."""
        try:
            answer = await self._detached.bounded(upstream.converse(self._bedrock, model, converse_request), model.id)
            result = from_converse_response(answer, tier)
        except BaseException as exc:
            trace.charge_bound = never_answered(exc)
            self._recorder.record_failure(trace, exc)
            raise
        trace.mark_first_token()
        trace.cache_read_tokens, trace.cache_write_tokens = result.cache_read_tokens, result.cache_write_tokens
        trace.cache_write_1h_tokens, trace.service_tier = result.cache_write_1h_tokens, result.service_tier
        if trace.abandoned:
            self._recorder.record_failure(trace, asyncio.CancelledError(), result.input_tokens, result.output_tokens)
        else:
            await self._recorder.record(trace, result.input_tokens, result.output_tokens)
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

        # The fields every chunk shares, built once and copied (cheaper than keyword construction per token).
        envelope = chat_pb2.ChatCompletionChunk(
            id=trace.id, object="chat.completion.chunk", created=trace.created_unix, model=params.model
        )

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
            if wants_json(params):
                json_tool_config(params, model, forced_tool_use=False, streaming=True)  # raises: not with stream
            converse_request, tier, bound = _prepare(params, model, trace, self._thinking)
            translator = StreamTranslator(tier)
            await self._admission.admit(trace, model, bound)
            events = upstream.converse_stream(self._bedrock, model, converse_request)
            try:
                async for event in events:
                    for choice in translator.feed(event):
                        if choice.finish_reason:
                            finish.append(choice)
                            continue
                        trace.mark_first_token()
                        yield chunk(choice)
            finally:
                await events.aclose()
            if not translator.finished:
                raise UpstreamError(f"Bedrock ended the stream for {params.model} before it was complete.")
        except BaseException as exc:
            state = translator or StreamTranslator()
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
