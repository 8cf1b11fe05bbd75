"""MessagesService: Anthropic's Messages API for Claude models, through Bedrock's Anthropic body.

The catalog says which API serves a model: `api = "messages"` models go to Bedrock Runtime's
native `POST /anthropic/v1/messages` route (with their profile id, betas in the
`anthropic-beta` header; the sampling parameters left out when the caller speaks
`anthropic-version: 2026-10-21`), the others to InvokeModel / InvokeModelWithResponseStream
with Bedrock's Anthropic body (betas in `anthropic_beta`). Either way
providers/bedrock/anthropic.py keeps every field, so thinking signatures, cache breakpoints
and tool blocks reach the model as the client sent them. Calls go through the router, as on
the OpenAI path: each target of the model's route gets the body its model takes, and a stream
fails over until its first content event. A streamed answer's `message_stop` is held back
until the usage row is committed, so a client that has the last event has been charged; a
client that leaves is charged for what was generated.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

from llmgw.server.core.accounting import estimate_tokens
from llmgw.server.core.catalog import CatalogModel
from llmgw.server.governance.identity import current_principal
from llmgw.server.providers.bedrock.anthropic import (
    NATIVE_ANTHROPIC_VERSION,
    decode_chunk,
    event_from_body,
    invoke_body,
    message_from_body,
    messages_body,
    native_body,
    parse_object,
    requested_betas,
)
from llmgw.server.providers.bedrock.anthropic_converse import (
    ConverseEventTranslator,
    message_from_converse,
    to_converse,
)
from llmgw.server.providers.bedrock.anthropic_hygiene import fit_to_model, fit_to_version, native_version
from llmgw.server.providers.bedrock.client import BedrockClient
from llmgw.server.providers.bedrock.converse import compact_json
from llmgw.server.providers.bedrock.thinking import ThinkingSettings
from llmgw.server.routing.router import Candidate, Progress
from llmgw.server.rpc.context import Context
from llmgw.server.services.claude import (
    BETA_HEADER,
    VERSION_HEADER,
    ClaudeWiring,
    StreamUsage,
    allowed_betas,
    answering,
    body_images,
    catalog_id,
    cost_bound,
    is_claude,
    metadata_values,
    note_cache,
    session_id,
)
from llmgw.server.services.recording import RequestTrace, never_answered
from llmgw.server.services.routed import fallback_candidates, route_candidates
from llmgw.v1 import messages_pb2, messages_service_pb2, messages_service_pb2_grpc
from llmgw.wire.errors import InvalidArgument, NotFound, UpstreamError

ESTIMATE_HEADER = "x-llmgw-token-count"


@dataclass(frozen=True, slots=True)
class _Call:
    """One upstream call: which API, the model id sent, the body (JSON bytes, or Converse kwargs), the betas."""

    api: Literal["invoke", "native", "converse"]
    model_id: str
    body: bytes
    converse: dict[str, Any] | None = None
    betas: list[str] = field(default_factory=list)
    version: str = NATIVE_ANTHROPIC_VERSION  # the native route's anthropic-version


class _Calls:
    """The upstream call for each route candidate, built once per id sent (each target's model has its own rules)."""

    def __init__(
        self,
        params: messages_pb2.MessageParams,
        betas: list[str],
        versions: list[str],
        thinking: ThinkingSettings,
        *,
        stream: bool,
    ) -> None:
        self._params = params
        self._betas = betas
        self._versions = versions
        self._thinking = thinking
        self._stream = stream
        self._built: dict[str, _Call] = {}

    def __call__(self, candidate: Candidate) -> _Call:
        call = self._built.get(candidate.sent_id)
        if call is None:
            call = self._built[candidate.sent_id] = self._build(candidate.target.model, candidate.sent_id)
        return call

    def _build(self, model: CatalogModel, sent_id: str) -> _Call:
        params = self._params
        if not is_claude(model):
            converse = to_converse(params, model)
            converse["modelId"] = sent_id
            return _Call("converse", sent_id, compact_json(messages_body(params)).encode(), converse)
        betas = allowed_betas(model, self._betas)
        if model.api == "messages":
            body = fit_to_model(native_body(params, sent_id, self._stream), model, self._thinking)
            version = native_version(self._versions, model)
            fit_to_version(body, version)
            return _Call("native", sent_id, compact_json(body).encode(), None, betas, version)
        body = fit_to_model(invoke_body(params, betas), model, self._thinking)
        return _Call("invoke", sent_id, compact_json(body).encode())

    def serves(self, candidate: Candidate) -> bool:
        """Whether the request can be sent to this candidate's model (a fallback's may lack what it needs)."""
        try:
            self(candidate)
        except InvalidArgument:
            return False
        return True

    def bound(self, candidate: Candidate) -> int:
        """The most the request can cost if this candidate answers it."""
        call = self(candidate)
        image_bytes, images = body_images(parse_object(call.body, "request"))
        size = len(call.body) - image_bytes
        return cost_bound(candidate.target.model, size, image_bytes, images, self._params.max_tokens)


def _named(asked: str, candidates: list[Candidate], progress: Progress) -> str:
    """The model id an answer names: the caller's, unless a fallback answered (then the fallback's id)."""
    answered = progress.candidate
    if answered is None or answered.public_model == candidates[0].public_model:
        return asked
    return answered.public_model


class MessagesServicer(messages_service_pb2_grpc.MessagesServiceServicer):
    """Checks a Messages request (catalog, policy, quota), calls Bedrock through the router, records it.

    The candidates are the route's targets, then those of the fallbacks the caller may use and
    that can serve the request. The quota reservation is taken once, before routing, for the
    dearest candidate, and settled at the price of the one that answered.
    """

    def __init__(self, wiring: ClaudeWiring) -> None:
        self._wiring = wiring

    def _trace(self, api: str, params: messages_pb2.MessageParams, context: Context) -> RequestTrace:
        """The request's trace, naming the model by its catalog id (an ARN resolved)."""
        model_id = catalog_id(self._wiring.catalog, params.model)
        return RequestTrace(
            "msg", api, current_principal(), model_id, self._wiring.clock(), session_id=session_id(context)
        )

    async def _prepare(
        self, params: messages_pb2.MessageParams, context: Context, trace: RequestTrace, stream: bool
    ) -> tuple[list[Candidate], _Calls]:
        """Resolve and check the model, build the request for each candidate, admit the request.

        The caller's mistakes surface before any quota is taken: the request is built for the
        first target at once.
        """
        model = await self._wiring.admission.model(trace)
        betas = requested_betas(params, metadata_values(context, BETA_HEADER))
        versions = metadata_values(context, VERSION_HEADER)
        calls = _Calls(params, betas, versions, self._wiring.thinking, stream=stream)
        candidates = route_candidates(self._wiring.routes, trace, model)
        calls(candidates[0])
        fallbacks = await fallback_candidates(
            self._wiring.routes, self._wiring.catalog, self._wiring.governance, trace, model
        )
        candidates.extend(candidate for candidate in fallbacks if calls.serves(candidate))
        bound = max(calls.bound(candidate) for candidate in candidates)
        await self._wiring.admission.admit(trace, candidates[0].target.model, bound)
        return candidates, calls

    @staticmethod
    async def _create(bedrock: BedrockClient, call: _Call, trace: RequestTrace) -> dict[str, Any]:
        """The answer as Anthropic's Message body, from whichever API serves the model."""
        if call.converse is not None:
            response = await bedrock.converse(call.converse)
            return message_from_converse(response, call.model_id, trace.id)
        if call.api == "native":
            raw = await bedrock.native_messages(call.model_id, call.body, call.betas, call.version)
        else:
            raw = await bedrock.invoke_model_raw(call.model_id, call.body)
        return parse_object(raw, "Bedrock's answer")

    @staticmethod
    async def _events(bedrock: BedrockClient, call: _Call, trace: RequestTrace) -> AsyncGenerator[dict[str, Any], None]:
        """The answer as Anthropic's stream events, from whichever API serves the model."""
        if call.converse is not None:
            translator = ConverseEventTranslator(call.model_id, trace.id)
            converse_events = bedrock.converse_stream(call.converse)
            try:
                async for event in converse_events:
                    for anthropic_event in translator.feed(event):
                        yield anthropic_event
            finally:
                await converse_events.aclose()
            return
        if call.api == "native":
            events = bedrock.native_messages_stream(call.model_id, call.body, call.betas, call.version)
        else:
            events = bedrock.invoke_model_stream(call.model_id, call.body)
        try:
            async for event in events:
                data = decode_chunk(event)
                if data is not None:
                    yield parse_object(data, "a Bedrock stream event")
        finally:
            await events.aclose()

    async def CreateMessage(
        self, request: messages_service_pb2.CreateMessageRequest, context: Context
    ) -> messages_service_pb2.CreateMessageResponse:
        """Answer in one response; the usage row is committed before the answer is returned.

        Once the call has gone to Bedrock it is settled when Bedrock answers, even if the
        client has left by then (detached.py).
        """
        params = request.params
        trace = self._trace("messages", params, context)
        try:
            candidates, calls = await self._prepare(params, context, trace, stream=False)
        except BaseException as exc:
            self._wiring.recorder.record_failure(trace, exc)
            raise
        message = await self._wiring.detached.run(trace, self._answer(candidates, calls, trace, params.model))
        return messages_service_pb2.CreateMessageResponse(message=message)

    async def _answer(
        self, candidates: list[Candidate], calls: _Calls, trace: RequestTrace, model: str
    ) -> messages_pb2.Message:
        """Call Bedrock through the router and record the request, charged what Bedrock reports.

        A call Bedrock never answered (the router's total deadline) is charged its reservation's bound.
        """
        progress = Progress()
        try:
            body = await self._wiring.router.call(
                candidates, lambda client, candidate: self._create(client, calls(candidate), trace), progress
            )
            message, usage = message_from_body(body, _named(model, candidates, progress))
        except BaseException as exc:
            trace.routed(progress, answered=False)
            trace.charge_bound = never_answered(exc)
            self._wiring.recorder.record_failure(trace, exc)
            raise
        trace.routed(progress, answered=True)
        trace.mark_first_token()
        message.id = trace.id
        note_cache(trace, usage)
        await self._wiring.recorder.record_answered(trace, usage.input_tokens, usage.output_tokens)
        return message

    async def StreamMessage(
        self, request: messages_service_pb2.StreamMessageRequest, context: Context
    ) -> AsyncIterator[messages_service_pb2.StreamMessageResponse]:
        """Relay Anthropic's stream events as Bedrock produces them; `message_stop` after the record."""
        params = request.params
        trace = self._trace("messages_stream", params, context)
        state = StreamUsage()
        payload = b""
        stop: messages_pb2.MessageStreamEvent | None = None
        progress = Progress()
        try:
            candidates, calls = await self._prepare(params, context, trace, stream=True)
            payload = calls(candidates[0]).body
            events = await self._wiring.router.stream(
                candidates,
                lambda client, candidate: self._events(client, calls(candidate), trace),
                progress,
                answering,
            )
            trace.routed(progress, answered=True)
            name = _named(params.model, candidates, progress)
            try:
                async for body in events:
                    state.feed(body)
                    converted = event_from_body(body, name)
                    if converted.type == "message_start":
                        converted.message.id = trace.id
                    elif converted.type == "message_delta":  # cumulative counts, as Anthropic's own API sends
                        converted.usage.CopyFrom(state.usage.proto())
                    if converted.type == "message_stop":
                        stop = converted
                        continue
                    trace.mark_first_token()
                    yield messages_service_pb2.StreamMessageResponse(event=converted)
            finally:
                await events.aclose()
            if stop is None:
                raise UpstreamError(f"Bedrock ended the stream for {params.model} before it was complete.")
        except BaseException as exc:
            trace.routed(progress, answered=state.started)
            left = isinstance(exc, asyncio.CancelledError | GeneratorExit)
            counts = state.settle(trace, estimate_tokens(len(payload)), left) if trace.model is not None else (0, 0)
            self._wiring.recorder.record_failure(trace, exc, *counts)
            raise
        await self._wiring.recorder.record(trace, *state.settle(trace, 0, left=False))
        yield messages_service_pb2.StreamMessageResponse(event=stop)

    async def CountTokens(
        self, request: messages_service_pb2.CountTokensRequest, context: Context
    ) -> messages_service_pb2.CountTokensResponse:
        """Bedrock's CountTokens where the model has it, else an estimate marked as such.

        Sent through the router (the route's targets, each with its model's base id), so a
        throttled region is retried elsewhere; the count is free and not recorded.
        """
        params = request.params
        trace = self._trace("count_tokens", params, context)
        model = await self._wiring.admission.model(trace)
        body = {"anthropic_version": "bedrock-2023-05-31", **messages_body(params, count_only=True)}
        body.setdefault("max_tokens", 1)
        payload = compact_json(body).encode()
        try:
            count = await self._wiring.router.call(
                route_candidates(self._wiring.routes, trace, model),
                lambda client, candidate: client.count_tokens(candidate.target.model.base_id, payload),
                Progress(),
            )
        except (InvalidArgument, NotFound):  # the model has no CountTokens (or not for this body): estimate
            context.set_trailing_metadata(((ESTIMATE_HEADER, "estimate"),))
            return messages_service_pb2.CountTokensResponse(input_tokens=estimate_tokens(len(payload)), estimated=True)
        return messages_service_pb2.CountTokensResponse(input_tokens=count)
