"""The fake's ASGI app: Bedrock Runtime's REST routes in front of the fake model.

Routes (model ids arrive percent-encoded, `:` and all):
    POST /model/{modelId}/converse         JSON answer
    POST /model/{modelId}/converse-stream  AWS event-stream answer
    POST /model/{modelId}/invoke           embeddings (Titan, Cohere); Claude in Bedrock's Anthropic body
    POST /model/{modelId}/invoke-with-response-stream
                                           Claude: `chunk` events carrying base64 Anthropic stream events
    POST /model/{modelId}/count-tokens     CountTokens (refused for models that have it on mantle only)
    POST /anthropic/v1/messages            the native Messages route: Anthropic JSON, or SSE with `stream`
    GET  /foundation-models                ListFoundationModels (the `bedrock` control plane)
    GET  /inference-profiles               ListInferenceProfiles (the `bedrock` control plane)
Errors are HTTP statuses with an `x-amzn-errortype` header and a `{"message": ...}` body,
except mid-stream failures, which arrive as exception frames inside the stream.
"""

import asyncio
import base64
import binascii
import dataclasses
import hashlib
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import unquote

from llmgw.eventstream import encode_chunk, encode_event, encode_exception
from llmgw.fakebedrock import anthropic
from llmgw.fakebedrock.cache import PromptCache
from llmgw.fakebedrock.config import FakeBedrockConfig
from llmgw.fakebedrock.control_plane import ControlPlane
from llmgw.fakebedrock.embeddings import embed, embedding_family, is_embedding_model
from llmgw.fakebedrock.errors import BedrockError, invalid, not_found
from llmgw.fakebedrock.faults import HANG_LIMIT_S, STALL_AFTER_DELTAS, Fault, ShareGate, ThrottleLedger, fault_error
from llmgw.fakebedrock.features import check_features
from llmgw.fakebedrock.markers import Knobs, read_knobs
from llmgw.fakebedrock.render import converse_response, metadata_event, stream_events
from llmgw.fakebedrock.request import ConverseRequest, parse_converse
from llmgw.fakebedrock.responder import AnswerPlan, plan_answer
from llmgw.fakebedrock.signing import ThinkingSigner
from llmgw.fakebedrock.thinking import ThinkingShown, check_request, rules_for

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_ROUTE = re.compile(rb"/model/([^/]+)/(converse|converse-stream|invoke|invoke-with-response-stream|count-tokens)")
_NATIVE_MESSAGES = b"/anthropic/v1/messages"
# Text deltas a `mid_stream` fault lets through before the in-stream error.
_DELTAS_BEFORE_STREAM_ERROR = 3
# A stream's events are written in bursts of at most about this many bytes, so a write waits
# for a slow reader (uvicorn's flow control) instead of the whole answer being handed over at once.
_BURST_BYTES = 16 * 1024
# Faults a stream plays after it has begun (a unary call plays `stall` as `hang`).
_STREAM_FAULTS = frozenset({"mid_stream", "stall"})


@dataclass
class FakeBedrockStats:
    """Counters tests read to prove what reached the fake, e.g. that a client disconnect did."""

    requests: int = 0
    streams_started: int = 0
    streams_completed: int = 0
    streams_aborted: int = 0
    streams_failed: int = 0
    betas_seen: list[str] = field(default_factory=list)
    """Every anthropic-beta value that reached the fake, accepted or not."""
    native_messages: int = 0
    """Requests to the native `/anthropic/v1/messages` route."""
    versions_seen: list[str] = field(default_factory=list)
    """The `anthropic-version` of every native-route request, in order."""
    stream_tokens_sent: int = 0
    """Converse stream text deltas handed to the connection so far (all streams), each burst counted
    before its write, which waits while the reader's socket is full: the most the reader can have had."""


class FakeBedrockApp:
    """The ASGI callable; one instance holds the config, the counters and the throttle ledger."""

    def __init__(self, config: FakeBedrockConfig | None = None) -> None:
        self.config = config or FakeBedrockConfig()
        self.stats = FakeBedrockStats()
        self.control_plane = ControlPlane()
        self._throttle = ThrottleLedger()
        self._shares = ShareGate()
        self.prompt_cache = PromptCache()
        self.signer = ThinkingSigner()
        # Application inference profiles this account has (ARN -> the model id they wrap), as
        # CreateInferenceProfile would leave them; tests register them here.
        self.application_profiles: dict[str, str] = {}
        self._prompt_cache: set[bytes] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope (HTTP requests; lifespan is acknowledged)."""
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise ValueError(f"the fake Bedrock serves only HTTP, not {scope['type']}")
        started = time.perf_counter()
        self.stats.requests += 1
        body = await _read_body(receive)
        try:
            await self._dispatch(scope, body, receive, send, started)
        except BedrockError as error:
            headers = [(b"x-amzn-errortype", error.error_type_header.encode())]
            await _send_json(send, error.status, error.body(), headers)

    async def _dispatch(self, scope: Scope, body: bytes, receive: Receive, send: Send, started: float) -> None:
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        if scope["method"] == "POST" and raw_path == _NATIVE_MESSAGES:
            await self._native(scope, body, receive, send, started)
            return
        if scope["method"] == "GET":
            headers = {name.lower(): value for name, value in scope.get("headers", [])}
            answer = self.control_plane.answer(raw_path.split(b"?")[0], scope.get("query_string", b""), headers)
            if answer is not None:
                await _send_json(send, 200, answer)
                return
        route = _ROUTE.fullmatch(raw_path)
        if scope["method"] != "POST" or route is None:
            raise not_found(f"The Bedrock Runtime API has no {scope['method']} {scope['path']}.")
        model_id = unquote(route.group(1).decode())
        payload = _parse_json(body)
        throttle_key = hashlib.blake2b(raw_path + b"\0" + body, digest_size=16).digest()
        operation = route.group(2)
        if operation == b"count-tokens":
            await self._count_tokens(model_id, payload, send)
        elif anthropic.is_anthropic_model(model_id) and operation in (b"invoke", b"invoke-with-response-stream"):
            streaming = operation == b"invoke-with-response-stream"
            await self._anthropic(model_id, payload, throttle_key, streaming, "invoke", receive, send, started)
        elif operation == b"invoke":
            await self._invoke(model_id, payload, throttle_key, receive, send, started)
        elif operation == b"invoke-with-response-stream":
            raise invalid(f"The model {model_id} does not support InvokeModelWithResponseStream in this fake.")
        else:
            streaming = route.group(2) == b"converse-stream"
            await self._converse(model_id, payload, throttle_key, streaming, receive, send, started)

    async def _converse(
        self, model_id: str, payload: object, key: bytes, streaming: bool, receive: Receive, send: Send, started: float
    ) -> None:
        model_id = self._model_behind(model_id)
        if is_embedding_model(model_id):
            raise invalid(f"The model {model_id} does not support the Converse API; call InvokeModel instead.")
        request = parse_converse(payload)
        check_features(model_id, request)
        thinking = check_request(model_id, cast("dict[str, object]", payload), request.max_tokens)
        self._check_reasoning(model_id, request, thinking)
        knobs = read_knobs(request.prompt, self.config, model_id)
        fault = self._applicable(knobs.fault, key)
        if not await self._play_fault(fault, model_id, receive, streaming):
            return
        plan = self._sealed(
            model_id,
            request,
            plan_answer(
                request, knobs.output_tokens, knobs.tools_allowed, thinking, knobs.refuse, token_chars=knobs.token_chars
            ),
        )
        if knobs.redacted_thinking and plan.reasoning_tokens:
            plan = dataclasses.replace(plan, redacted_reasoning=self.signer.redacted(request.seed))
        if streaming:
            await self._stream(plan, knobs, None if fault is None else fault.name, receive, send, started)
            return
        delay_ms = knobs.ttft_ms + knobs.token_delay_ms * max(0, plan.output_tokens - 1)
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        await _send_json(send, 200, converse_response(plan, _elapsed_ms(started)))

    def _model_behind(self, model_id: str) -> str:
        """The model an ARN names: a registered application profile's model, a foundation model's id."""
        if ":application-inference-profile/" in model_id:
            if model_id not in self.application_profiles:
                raise invalid(f"The provided model identifier is invalid: {model_id}.")
            return self.application_profiles[model_id]
        if ":foundation-model/" in model_id:
            return model_id.split("/", 1)[1]
        return model_id

    def _check_reasoning(self, model_id: str, request: ConverseRequest, thinking: ThinkingShown) -> None:
        """Verify every reasoning block sent back; a thinking Claude needs them in an answered tool turn."""
        for block in request.reasoning_blocks:
            if block.redacted is not None:
                self.signer.verify_redacted(block.where, block.redacted)
            else:
                self.signer.verify(block.where, block.text, block.signature)
        opening = request.tool_turn_opens_with
        if thinking.words and rules_for(model_id) is not None and opening and opening != "reasoningContent":
            raise invalid(
                f"Expected `thinking` or `redacted_thinking`, but found `{opening}`. When `thinking` is enabled, "
                "a final `assistant` message must start with a thinking block: send back the reasoning blocks "
                "of the previous answer unchanged."
            )

    def _sealed(self, model_id: str, request: ConverseRequest, plan: AnswerPlan) -> AnswerPlan:
        """The plan with its thinking signed, its cache reads and writes counted and its tier."""
        signature = self.signer.sign(plan.reasoning_text, request.seed) if plan.reasoning_tokens else ""
        cache = self.prompt_cache.account(model_id, request.cache_points)
        return dataclasses.replace(plan, reasoning_signature=signature, cache=cache, service_tier=request.service_tier)

    async def _native(self, scope: Scope, body: bytes, receive: Receive, send: Send, started: float) -> None:
        """The native Messages route: the model is in the body, betas in the `anthropic-beta` header."""
        self.stats.native_messages += 1
        payload = _parse_json(body)
        headers = dict(scope["headers"])
        version = headers.get(b"anthropic-version", b"").decode("latin-1")
        self.stats.versions_seen.append(version)
        anthropic.check_native_version(version, payload)
        if isinstance(payload, dict):
            betas = [b.strip() for b in headers.get(b"anthropic-beta", b"").decode().split(",") if b.strip()]
            if betas:
                payload = {**payload, "anthropic_beta": betas}
        model_id = self._model_behind(str(payload.get("model"))) if isinstance(payload, dict) else None
        streaming = isinstance(payload, dict) and payload.get("stream") is True
        key = hashlib.blake2b(_NATIVE_MESSAGES + b"\0" + body, digest_size=16).digest()
        await self._anthropic(str(model_id), payload, key, streaming, "native", receive, send, started)

    async def _anthropic(
        self,
        model_id: str,
        payload: object,
        key: bytes,
        streaming: bool,
        path: str,
        receive: Receive,
        send: Send,
        started: float,
    ) -> None:
        """A Claude answer on InvokeModel (JSON / event-stream chunks) or the native route (JSON / SSE)."""
        if isinstance(payload, dict) and isinstance(payload.get("anthropic_beta"), list):
            self.stats.betas_seen.extend(str(beta) for beta in payload["anthropic_beta"])
        request = anthropic.parse(payload, model_id, native=path == "native")
        knobs = read_knobs(request.converse.prompt, self.config, model_id)
        knobs = dataclasses.replace(knobs, fault=self._applicable(knobs.fault, key))
        if not await self._play_fault(knobs.fault, model_id, receive, streaming):
            return
        result = anthropic.answer(request, knobs.output_tokens, knobs.tools_allowed, knobs.refuse, self._prompt_cache)
        message_id = f"msg_bdrk_{uuid.uuid4().hex[:24]}"
        if not streaming:
            if knobs.ttft_ms > 0:
                await asyncio.sleep(knobs.ttft_ms / 1000)
            await _send_json(send, 200, anthropic.message(result, model_id, message_id))
            return
        self.stats.streams_started += 1
        content_type = b"application/vnd.amazon.eventstream" if path == "invoke" else b"text/event-stream"
        await send({"type": "http.response.start", "status": 200, "headers": _headers(content_type)})
        watcher = asyncio.ensure_future(_disconnected(receive))
        try:
            outcome = await _send_anthropic_stream(result, model_id, message_id, path, knobs, send, watcher, started)
        except OSError:
            outcome = "aborted"
        finally:
            watcher.cancel()
        if outcome == "completed":
            self.stats.streams_completed += 1
        elif outcome == "aborted":
            self.stats.streams_aborted += 1
        else:
            self.stats.streams_failed += 1

    async def _count_tokens(self, model_id: str, payload: object, send: Send) -> None:
        """CountTokens on an InvokeModel body; refused for models that count only on mantle."""
        if any(name in model_id for name in anthropic.NO_COUNT_TOKENS) or not anthropic.is_anthropic_model(model_id):
            raise invalid(f"The provided model {model_id} doesn't support counting tokens.")
        invoke = payload.get("input", {}).get("invokeModel", {}) if isinstance(payload, dict) else {}
        raw = invoke.get("body") if isinstance(invoke, dict) else None
        if not isinstance(raw, str):
            raise invalid("input.invokeModel.body: required")
        try:
            body = json.loads(base64.b64decode(raw))
        except (binascii.Error, ValueError):
            raise invalid("input.invokeModel.body: not a base64 JSON body") from None
        request = anthropic.parse(body, model_id, native=False, count_only=True)
        await _send_json(send, 200, {"inputTokens": request.converse.input_tokens})

    async def _invoke(
        self, model_id: str, payload: object, key: bytes, receive: Receive, send: Send, started: float
    ) -> None:
        model_id = self._model_behind(model_id)
        family = embedding_family(model_id)
        if family is None:
            raise invalid(f"The model {model_id} is not an embedding model this fake serves through InvokeModel.")
        result = embed(family, payload)
        knobs = read_knobs(" ".join(result.texts), self.config, model_id)
        if not await self._play_fault(self._applicable(knobs.fault, key), model_id, receive, streaming=False):
            return
        if knobs.ttft_ms > 0:
            await asyncio.sleep(knobs.ttft_ms / 1000)
        headers = [
            (b"x-amzn-bedrock-input-token-count", str(result.input_tokens).encode()),
            (b"x-amzn-bedrock-invocation-latency", str(_elapsed_ms(started)).encode()),
        ]
        await _send_json(send, 200, result.body, headers)

    def _applicable(self, fault: Fault | None, key: bytes) -> Fault | None:
        """The fault, if this call is one it plays on (`throttle:N` and `NAME:P%` skip some)."""
        if fault is None:
            return None
        if fault.repeat is not None and not self._throttle.should_throttle(key, fault.repeat):
            return None
        if fault.percent is not None and not self._shares.hits(fault.percent):
            return None
        return fault

    async def _play_fault(self, fault: Fault | None, model_id: str, receive: Receive, streaming: bool) -> bool:
        """Raise the fault's error, or return whether to go on answering (False: the client left a hang)."""
        if fault is None or (fault.name in _STREAM_FAULTS and streaming):
            return True
        if fault.name in ("hang", "stall"):
            try:
                await asyncio.wait_for(_disconnected(receive), HANG_LIMIT_S)
            except TimeoutError:
                raise fault_error(fault, model_id) from None
            return False
        raise fault_error(fault, model_id)

    async def _stream(
        self, plan: AnswerPlan, knobs: Knobs, fault: str | None, receive: Receive, send: Send, started: float
    ) -> None:
        self.stats.streams_started += 1
        await send(
            {"type": "http.response.start", "status": 200, "headers": _headers(b"application/vnd.amazon.eventstream")}
        )
        watcher = asyncio.ensure_future(_disconnected(receive))
        try:
            outcome = await _send_stream(plan, knobs, fault, send, watcher, started, self.stats)
        except OSError:
            outcome = "aborted"
        finally:
            watcher.cancel()
        if outcome == "completed":
            self.stats.streams_completed += 1
        elif outcome == "aborted":
            self.stats.streams_aborted += 1
        else:
            self.stats.streams_failed += 1


async def _send_stream(
    plan: AnswerPlan,
    knobs: Knobs,
    fault: str | None,
    send: Send,
    watcher: asyncio.Future[None],
    started: float,
    stats: FakeBedrockStats,
) -> str:
    """Send the events in bursts; returns "completed", "aborted" or "failed".

    A burst ends at each delay and at about `_BURST_BYTES`. `fault` "mid_stream" ends the stream
    with an in-stream error after a few deltas; "stall" sends a few deltas and then nothing
    until the client leaves. `stats.stream_tokens_sent` counts the deltas of each burst as it is
    handed to the connection, before its write waits for the reader.
    """
    mid_stream = fault == "mid_stream"
    pending: list[bytes] = []
    pending_bytes = 0
    tokens_sent = 0
    tokens_pending = 0

    async def flush() -> None:
        nonlocal pending_bytes, tokens_pending
        stats.stream_tokens_sent += tokens_pending  # counted as handed over, before its write may wait
        body = b"".join(pending)
        pending.clear()
        pending_bytes = tokens_pending = 0
        await send({"type": "http.response.body", "body": body, "more_body": True})

    for event in stream_events(plan):
        if event.is_token:
            if mid_stream and tokens_sent == _DELTAS_BEFORE_STREAM_ERROR:
                break
            if fault == "stall" and tokens_sent == STALL_AFTER_DELTAS:
                await flush()
                await asyncio.wait([watcher], timeout=HANG_LIMIT_S)
                return "aborted"
            delay_ms = knobs.token_delay_ms if tokens_sent else knobs.ttft_ms
            tokens_sent += 1
            if delay_ms > 0:
                await flush()
                await asyncio.wait([watcher], timeout=delay_ms / 1000)
                if watcher.done():
                    return "aborted"
            elif pending_bytes >= _BURST_BYTES:
                await flush()
                if watcher.done():
                    return "aborted"
            tokens_pending += 1
        frame = encode_event(event.event_type, json.dumps(event.payload).encode())
        pending.append(frame)
        pending_bytes += len(frame)
    if mid_stream:
        error = {"message": "The model stopped while streaming.", "originalStatusCode": 500}
        pending.append(encode_exception("modelStreamErrorException", json.dumps(error).encode()))
    else:
        closing = metadata_event(plan, _elapsed_ms(started))
        pending.append(encode_event(closing.event_type, json.dumps(closing.payload).encode()))
    if watcher.done():
        return "aborted"
    stats.stream_tokens_sent += tokens_pending
    await send({"type": "http.response.body", "body": b"".join(pending), "more_body": False})
    return "failed" if mid_stream else "completed"


async def _send_anthropic_stream(
    result: anthropic.Answer,
    model_id: str,
    message_id: str,
    path: str,
    knobs: Knobs,
    send: Send,
    watcher: asyncio.Future[None],
    started: float,
) -> str:
    """Send Anthropic's events (event-stream chunks or SSE), paced like ConverseStream.

    Returns "completed", "aborted" or "failed" (a `mid_stream` fault's in-stream error).
    """
    pending: list[bytes] = []
    tokens_sent = 0

    def frame(event: dict[str, object]) -> bytes:
        data = json.dumps(event, separators=(",", ":")).encode()
        if path == "invoke":
            return encode_chunk(data)
        return b"event: " + str(event["type"]).encode() + b"\ndata: " + data + b"\n\n"

    mid_stream = knobs.fault is not None and knobs.fault.name == "mid_stream"
    for event, is_token in anthropic.events(result, model_id, message_id):
        if is_token:
            if mid_stream and tokens_sent == _DELTAS_BEFORE_STREAM_ERROR:
                break
            delay_ms = knobs.token_delay_ms if tokens_sent else knobs.ttft_ms
            tokens_sent += 1
            if delay_ms > 0:
                await send({"type": "http.response.body", "body": b"".join(pending), "more_body": True})
                pending.clear()
                await asyncio.wait([watcher], timeout=delay_ms / 1000)
                if watcher.done():
                    return "aborted"
        pending.append(frame(event))
    if mid_stream:
        error = {"message": "The model stopped while streaming.", "originalStatusCode": 500}
        if path == "invoke":
            pending.append(encode_exception("modelStreamErrorException", json.dumps(error).encode()))
        else:
            payload = {"type": "error", "error": {"type": "api_error", "message": error["message"]}}
            pending.append(b"event: error\ndata: " + json.dumps(payload).encode() + b"\n\n")
        await send({"type": "http.response.body", "body": b"".join(pending), "more_body": False})
        return "failed"
    stop: dict[str, object] = {"type": "message_stop"}
    if path == "invoke":
        stop["amazon-bedrock-invocationMetrics"] = anthropic.invocation_metrics(result, _elapsed_ms(started))
    pending.append(frame(stop))
    if watcher.done():
        return "aborted"
    await send({"type": "http.response.body", "body": b"".join(pending), "more_body": False})
    return "completed"


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _disconnected(receive: Receive) -> None:
    """Return once the client has gone away (the request body has already been read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _parse_json(body: bytes) -> object:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise invalid(f"Malformed input request: the body is not valid JSON ({error.__class__.__name__}).") from None


def _headers(content_type: bytes, extra: list[tuple[bytes, bytes]] | None = None) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", content_type), (b"x-amzn-requestid", str(uuid.uuid4()).encode()), *(extra or [])]


async def _send_json(send: Send, status: int, body: object, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    data = json.dumps(body, separators=(",", ":")).encode()
    headers = _headers(b"application/json", [(b"content-length", str(len(data)).encode()), *(extra or [])])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data, "more_body": False})


def _elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
