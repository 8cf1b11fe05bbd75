"""BedrockService: Bedrock's own InvokeModel paths for Claude, authenticated and charged by the gateway.

The caller's body goes to Bedrock as it came, re-signed with the gateway's AWS credentials;
it is re-serialized only when `anthropic_beta` values the model does not accept had to be
removed, or when `anthropic_version` is not Bedrock's `bedrock-2023-05-31` (the Anthropic
SDK 2.x sends its API version, `2026-10-21`, in that field; Bedrock's InvokeModel takes only
its own, so the gateway pins it, as reference section 10.10 advises). Governance, routing
and recording are the OpenAI path's (`Governance`, `Router`, `RequestRecorder`): a stream
fails over until its first content event. The answer is charged from the usage in Bedrock's
body or, for a stream, from the usage in its events (Bedrock's closing invocation metrics
when the events carry none); the stream's last frame is held back until the usage row is
committed, and a caller that leaves is charged for what was generated. A unary call whose
caller left is settled when Bedrock answers (detached.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from google.api import httpbody_pb2

from llmgw.eventstream import encode_chunk
from llmgw.server.core.accounting import estimate_tokens
from llmgw.server.core.catalog import CatalogModel
from llmgw.server.governance.identity import current_principal
from llmgw.server.providers.bedrock.anthropic import (
    BEDROCK_ANTHROPIC_VERSION,
    AnthropicUsage,
    decode_chunk,
    parse_object,
)
from llmgw.server.providers.bedrock.anthropic_hygiene import fit_to_model
from llmgw.server.providers.bedrock.converse import compact_json
from llmgw.server.providers.bedrock.thinking import ThinkingSettings
from llmgw.server.routing.router import Candidate, Progress
from llmgw.server.rpc.context import Context
from llmgw.server.services.claude import (
    ClaudeWiring,
    StreamUsage,
    allowed_betas,
    answering,
    body_images,
    catalog_id,
    cost_bound,
    is_claude,
    note_cache,
    require_claude,
    session_id,
)
from llmgw.server.services.recording import RequestTrace, never_answered
from llmgw.server.services.routed import fallback_candidates, route_candidates
from llmgw.v1 import bedrock_service_pb2, bedrock_service_pb2_grpc
from llmgw.wire.errors import UpstreamError

EVENT_STREAM = "application/vnd.amazon.eventstream"


def _betas(body: dict[str, Any]) -> list[str]:
    value = body.get("anthropic_beta")
    if isinstance(value, str):
        return [value]
    return [beta for beta in value if isinstance(beta, str)] if isinstance(value, list) else []


class _Bodies:
    """The body sent to each route candidate, built once per id sent (betas and fitting follow its model)."""

    def __init__(self, raw: bytes, thinking: ThinkingSettings) -> None:
        self._raw = raw
        self._thinking = thinking
        self._built: dict[str, tuple[bytes, int]] = {}

    def __call__(self, candidate: Candidate) -> bytes:
        return self._build(candidate)[0]

    def bound(self, candidate: Candidate) -> int:
        """The most the request can cost if this candidate answers it."""
        return self._build(candidate)[1]

    def _build(self, candidate: Candidate) -> tuple[bytes, int]:
        built = self._built.get(candidate.sent_id)
        if built is None:
            built = self._built[candidate.sent_id] = self._fit(candidate.target.model)
        return built

    def _fit(self, model: CatalogModel) -> tuple[bytes, int]:
        """(the body for the model, its cost bound): the caller's bytes unless something had to change."""
        raw = self._raw
        body = parse_object(raw, "body")
        requested = _betas(body)
        passed = allowed_betas(model, requested)
        pinned = body.get("anthropic_version") == BEDROCK_ANTHROPIC_VERSION
        before = compact_json(body)
        fit_to_model(body, model, self._thinking)
        if passed != requested or not pinned or compact_json(body) != before:
            if passed:
                body["anthropic_beta"] = passed
            else:
                body.pop("anthropic_beta", None)
            body["anthropic_version"] = BEDROCK_ANTHROPIC_VERSION
            raw = compact_json(body).encode()
        max_tokens = body.get("max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
            max_tokens = model.max_output_tokens
        image_bytes, images = body_images(body)
        return raw, cost_bound(model, len(raw) - image_bytes, image_bytes, images, max_tokens)


async def _chunks(events: AsyncGenerator[dict[str, Any], None]) -> AsyncGenerator[tuple[bytes, dict[str, Any]], None]:
    """The stream's Anthropic events: each one's bytes as Bedrock sent them, and parsed."""
    try:
        async for event in events:
            data = decode_chunk(event)
            if data is not None:
                yield data, parse_object(data, "a Bedrock stream event")
    finally:
        await events.aclose()


def _answering(chunk: tuple[bytes, dict[str, Any]]) -> bool:
    return answering(chunk[1])


class BedrockPassthroughServicer(bedrock_service_pb2_grpc.BedrockServiceServicer):
    """InvokeModel and InvokeModelWithResponseStream for Claude models, governed, routed and charged.

    Calls go through the router, as on the OpenAI path: each target of the model's route
    (Claude models only), then of the Claude fallbacks the caller may use, is sent the body its
    model takes; the reservation covers the dearest candidate and is settled at the price of
    the one that answered.
    """

    def __init__(self, wiring: ClaudeWiring) -> None:
        self._wiring = wiring

    def _trace(self, api: str, model_id: str, context: Context) -> RequestTrace:
        """The request's trace, naming the model by its catalog id (an ARN resolved)."""
        resolved = catalog_id(self._wiring.catalog, model_id)
        return RequestTrace(
            "msg", api, current_principal(), resolved, self._wiring.clock(), session_id=session_id(context)
        )

    async def _prepare(self, raw: bytes, trace: RequestTrace) -> tuple[list[Candidate], _Bodies]:
        """Resolve and check the model, its route's targets and fallbacks, fit the body to each, admit the request."""
        model = await self._wiring.admission.model(trace)
        candidates = route_candidates(self._wiring.routes, trace, model)
        for candidate in candidates:
            require_claude(candidate.target.model)
        fallbacks = await fallback_candidates(
            self._wiring.routes, self._wiring.catalog, self._wiring.governance, trace, model
        )
        candidates.extend(candidate for candidate in fallbacks if is_claude(candidate.target.model))
        bodies = _Bodies(raw, self._wiring.thinking)
        bound = max(bodies.bound(candidate) for candidate in candidates)
        await self._wiring.admission.admit(trace, candidates[0].target.model, bound)
        return candidates, bodies

    async def InvokeModel(
        self, request: bedrock_service_pb2.InvokeModelRequest, context: Context
    ) -> bedrock_service_pb2.InvokeModelResponse:
        """One InvokeModel call; Bedrock's answer unchanged, charged from its usage.

        Once the call has gone to Bedrock it is settled when Bedrock answers, even if the
        client has left by then (detached.py).
        """
        trace = self._trace("bedrock_invoke", request.model_id, context)
        try:
            candidates, bodies = await self._prepare(request.body.data, trace)
        except BaseException as exc:
            self._wiring.recorder.record_failure(trace, exc)
            raise
        answer = await self._wiring.detached.run(trace, self._invoke(trace, candidates, bodies))
        body = httpbody_pb2.HttpBody(content_type="application/json", data=answer)
        return bedrock_service_pb2.InvokeModelResponse(body=body)

    async def _invoke(self, trace: RequestTrace, candidates: list[Candidate], bodies: _Bodies) -> bytes:
        """Call Bedrock through the router and record the request, charged what Bedrock's answer reports.

        A call Bedrock never answered (the router's total deadline) is charged its reservation's bound.
        """
        progress = Progress()
        try:
            answer = await self._wiring.router.call(
                candidates,
                lambda client, candidate: client.invoke_model_raw(candidate.sent_id, bodies(candidate)),
                progress,
            )
            usage = AnthropicUsage()
            usage.update(parse_object(answer, "Bedrock's answer").get("usage"))
        except BaseException as exc:
            trace.routed(progress, answered=False)
            trace.charge_bound = never_answered(exc)
            self._wiring.recorder.record_failure(trace, exc)
            raise
        trace.routed(progress, answered=True)
        trace.mark_first_token()
        note_cache(trace, usage)
        await self._wiring.recorder.record_answered(trace, usage.input_tokens, usage.output_tokens)
        return answer

    async def InvokeModelWithResponseStream(
        self, request: bedrock_service_pb2.InvokeModelWithResponseStreamRequest, context: Context
    ) -> AsyncIterator[bedrock_service_pb2.InvokeModelWithResponseStreamResponse]:
        """Relay the stream's chunks as event-stream frames; the last one after the record."""
        trace = self._trace("bedrock_invoke_stream", request.model_id, context)
        state = StreamUsage()
        payload = b""
        last: bytes | None = None
        progress = Progress()
        try:
            candidates, bodies = await self._prepare(request.body.data, trace)
            payload = bodies(candidates[0])
            events = await self._wiring.router.stream(
                candidates,
                lambda client, candidate: _chunks(client.invoke_model_stream(candidate.sent_id, bodies(candidate))),
                progress,
                _answering,
            )
            trace.routed(progress, answered=True)
            try:
                async for data, body in events:
                    state.feed(body)
                    frame = encode_chunk(data)
                    if state.stopped:
                        last = frame
                        continue
                    trace.mark_first_token()
                    yield _frames(frame)
            finally:
                await events.aclose()
            if last is None:
                raise UpstreamError(f"Bedrock ended the stream for {request.model_id} before it was complete.")
        except BaseException as exc:
            trace.routed(progress, answered=state.started)
            left = isinstance(exc, asyncio.CancelledError | GeneratorExit)
            counts = state.settle(trace, estimate_tokens(len(payload)), left) if trace.model is not None else (0, 0)
            self._wiring.recorder.record_failure(trace, exc, *counts)
            raise
        input_tokens, output_tokens = state.settle(trace, 0, left=False)
        if not state.usage.seen:  # no usage in the events: Bedrock's closing metrics say it
            input_tokens = state.metrics.get("inputTokenCount", 0)
            output_tokens = state.metrics.get("outputTokenCount", 0)
        await self._wiring.recorder.record(trace, input_tokens, output_tokens)
        yield _frames(last)


def _frames(data: bytes) -> bedrock_service_pb2.InvokeModelWithResponseStreamResponse:
    return bedrock_service_pb2.InvokeModelWithResponseStreamResponse(
        body=httpbody_pb2.HttpBody(content_type=EVENT_STREAM, data=data)
    )
