"""The fake's ASGI app: Bedrock Runtime's REST routes in front of the fake model.

Routes (model ids arrive percent-encoded, `:` and all):
    POST /model/{modelId}/converse         JSON answer
    POST /model/{modelId}/converse-stream  AWS event-stream answer
    POST /model/{modelId}/invoke           embeddings (Titan, Cohere)
Errors are HTTP statuses with an `x-amzn-errortype` header and a `{"message": ...}` body,
except mid-stream failures, which arrive as exception frames inside the stream.
"""

import asyncio
import hashlib
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from llmgw.fakebedrock.config import FakeBedrockConfig
from llmgw.fakebedrock.embeddings import embed, embedding_family, is_embedding_model
from llmgw.fakebedrock.errors import BedrockError, invalid, not_found
from llmgw.fakebedrock.eventstream import encode_event, encode_exception
from llmgw.fakebedrock.faults import HANG_LIMIT_S, STALL_AFTER_DELTAS, Fault, ShareGate, ThrottleLedger, fault_error
from llmgw.fakebedrock.markers import Knobs, read_knobs
from llmgw.fakebedrock.render import converse_response, metadata_event, stream_events
from llmgw.fakebedrock.request import parse_converse
from llmgw.fakebedrock.responder import AnswerPlan, plan_answer

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_ROUTE = re.compile(rb"/model/([^/]+)/(converse|converse-stream|invoke)")
# Text deltas a `mid_stream` fault lets through before the in-stream error.
_DELTAS_BEFORE_STREAM_ERROR = 3
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


class FakeBedrockApp:
    """The ASGI callable; one instance holds the config, the counters and the throttle ledger."""

    def __init__(self, config: FakeBedrockConfig | None = None) -> None:
        self.config = config or FakeBedrockConfig()
        self.stats = FakeBedrockStats()
        self._throttle = ThrottleLedger()
        self._shares = ShareGate()

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
        route = _ROUTE.fullmatch(raw_path)
        if scope["method"] != "POST" or route is None:
            raise not_found(f"The Bedrock Runtime API has no {scope['method']} {scope['path']}.")
        model_id = unquote(route.group(1).decode())
        payload = _parse_json(body)
        throttle_key = hashlib.blake2b(raw_path + b"\0" + body, digest_size=16).digest()
        if route.group(2) == b"invoke":
            await self._invoke(model_id, payload, throttle_key, receive, send, started)
        else:
            streaming = route.group(2) == b"converse-stream"
            await self._converse(model_id, payload, throttle_key, streaming, receive, send, started)

    async def _converse(
        self, model_id: str, payload: object, key: bytes, streaming: bool, receive: Receive, send: Send, started: float
    ) -> None:
        if is_embedding_model(model_id):
            raise invalid(f"The model {model_id} does not support the Converse API; call InvokeModel instead.")
        request = parse_converse(payload)
        knobs = read_knobs(request.prompt, self.config, model_id)
        fault = self._applicable(knobs.fault, key)
        if not await self._play_fault(fault, model_id, receive, streaming):
            return
        plan = plan_answer(request, knobs.output_tokens, knobs.tools_allowed)
        if streaming:
            await self._stream(plan, knobs, None if fault is None else fault.name, receive, send, started)
            return
        delay_ms = knobs.ttft_ms + knobs.token_delay_ms * max(0, plan.output_tokens - 1)
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        await _send_json(send, 200, converse_response(plan, _elapsed_ms(started)))

    async def _invoke(
        self, model_id: str, payload: object, key: bytes, receive: Receive, send: Send, started: float
    ) -> None:
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
            outcome = await _send_stream(plan, knobs, fault, send, watcher, started)
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
    plan: AnswerPlan, knobs: Knobs, fault: str | None, send: Send, watcher: asyncio.Future[None], started: float
) -> str:
    """Send the events in bursts between delays; returns "completed", "aborted" or "failed".

    `fault` "mid_stream" ends the stream with an in-stream error after a few deltas;
    "stall" sends a few deltas and then nothing until the client leaves.
    """
    mid_stream = fault == "mid_stream"
    pending: list[bytes] = []
    tokens_sent = 0
    for event in stream_events(plan):
        if event.is_token:
            if mid_stream and tokens_sent == _DELTAS_BEFORE_STREAM_ERROR:
                break
            if fault == "stall" and tokens_sent == STALL_AFTER_DELTAS:
                await send({"type": "http.response.body", "body": b"".join(pending), "more_body": True})
                await asyncio.wait([watcher], timeout=HANG_LIMIT_S)
                return "aborted"
            delay_ms = knobs.token_delay_ms if tokens_sent else knobs.ttft_ms
            tokens_sent += 1
            if delay_ms > 0:
                await send({"type": "http.response.body", "body": b"".join(pending), "more_body": True})
                pending.clear()
                await asyncio.wait([watcher], timeout=delay_ms / 1000)
                if watcher.done():
                    return "aborted"
        pending.append(encode_event(event.event_type, json.dumps(event.payload).encode()))
    if mid_stream:
        error = {"message": "The model stopped while streaming.", "originalStatusCode": 500}
        pending.append(encode_exception("modelStreamErrorException", json.dumps(error).encode()))
    else:
        closing = metadata_event(plan, _elapsed_ms(started))
        pending.append(encode_event(closing.event_type, json.dumps(closing.payload).encode()))
    if watcher.done():
        return "aborted"
    await send({"type": "http.response.body", "body": b"".join(pending), "more_body": False})
    return "failed" if mid_stream else "completed"


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
