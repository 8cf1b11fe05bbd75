"""The gateway's Bedrock Runtime client: every call on the event loop, none on a thread.

boto3 is used at start-up for what it does best and what must match the AWS SDKs exactly:
the credential chain, the endpoint of the region, the signing name and the operations'
error shapes (for the retry rules). Every call then goes through transport.py (botocore's
signer and retry rules over an aiohttp pool): Converse, ConverseStream, InvokeModel (JSON
bodies for embeddings, raw bodies for the Anthropic Messages API and the passthrough),
InvokeModelWithResponseStream, CountTokens and the native `/anthropic/v1/messages` route
(native.py). No call holds a thread and the pool size (BEDROCK_MAX_CONCURRENCY) is the only
limit on calls in flight. Bodies are the REST-JSON shapes boto3 would send (raw bodies go
as they came); answers are parsed once, straight from JSON into the dicts boto3 would return
(event streams with llmgw.eventstream's decoder, which decodes as botocore does, the native
route's Server-sent events with native.SseDecoder), so the services read them unchanged;
raw answers and chunk bytes come back byte for byte.

A stream reads Bedrock only when its consumer asks for the next events: what one read
returned is decoded and handed over, and aiohttp stops reading the socket while the stream's
buffer (128 KiB) is full, so TCP slows Bedrock down to the consumer's pace. When the
consumer of a stream stops early or is cancelled, the HTTP connection is closed at once so
Bedrock stops generating (and charging). Every failure leaves this module as a domain error
(errors.py).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
import boto3  # noqa: TID251  # this module is boto3's one home
from botocore.credentials import AssumeRoleCredentialFetcher, Credentials, DeferredRefreshableCredentials
from botocore.exceptions import EventStreamError

from llmgw.eventstream import FrameDecoder, HeaderValue
from llmgw.server.providers.bedrock import native
from llmgw.server.providers.bedrock.anthropic import NATIVE_ANTHROPIC_VERSION
from llmgw.server.providers.bedrock.converse import compact_json, parse_json_object
from llmgw.server.providers.bedrock.embeddings import INPUT_TOKEN_HEADER
from llmgw.server.providers.bedrock.errors import map_bedrock_error
from llmgw.server.providers.bedrock.transport import BedrockTransport, TransportConfig, connection_error
from llmgw.wire.errors import UpstreamError

_OPERATIONS = ("Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream", "CountTokens")
_JSON = "application/json"
_EVENT_STREAM = "application/vnd.amazon.eventstream"
# InvokeModelWithResponseStream's `accept` member: the media type of the model's own events.
_BEDROCK_ACCEPT = "X-Amzn-Bedrock-Accept"
# The native route has no botocore operation; its retry rules are InvokeModel's (the same
# service, the same modelled errors).
_NATIVE = "InvokeModel"


@dataclass(frozen=True, slots=True)
class BedrockClientConfig:
    """Where Bedrock is and how patiently to talk to it; the same code serves AWS and the fake.

    `max_concurrency` is the size of the HTTP connection pool: the most Bedrock calls
    (streams included) in flight at once; more wait for a connection. `profile` signs
    with a named AWS profile; `role_arn` with a role assumed through STS (from the
    profile's or the default credentials), refreshed before it expires.
    `transport_max_attempts` (None: `max_attempts`) bounds the attempts of Converse,
    ConverseStream, InvokeModel with a JSON body and the native Messages route;
    `max_attempts` those of InvokeModel with a raw body, its response stream and
    CountTokens. Both count calls in total, the first included. The gateway routes every
    call and sets both to 1: its router retries, across regions (services/routed.py); a
    client used on its own retries in place.
    """

    region: str
    endpoint_url: str | None = None
    max_attempts: int = 3
    transport_max_attempts: int | None = None
    connect_timeout_s: float = 5
    read_timeout_s: float = 120
    max_concurrency: int = 2048
    access_key_id: str | None = None
    secret_access_key: str | None = None
    profile: str | None = None
    role_arn: str | None = None


def _json_default(value: object) -> str:
    """Blobs (image bytes) travel base64-encoded in REST-JSON, as botocore's serializer sends them."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot send a {type(value).__name__} to Bedrock")


def _body(request: dict[str, Any]) -> bytes:
    fields = {key: value for key, value in request.items() if key != "modelId"}
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False, default=_json_default).encode("utf-8")


def _model_path(model_id: str, action: str) -> str:
    return f"/model/{quote(model_id, safe='')}/{action}"


def _decode_blobs(block: dict[str, Any]) -> None:
    """Blob members arrive base64-encoded in JSON; botocore decodes them to bytes, and so does this.

    The Converse output blobs: a reasoning block's `redactedContent`, an image's or a
    document's `source.bytes`.
    """
    reasoning = block.get("reasoningContent")
    if isinstance(reasoning, dict) and isinstance(reasoning.get("redactedContent"), str):
        reasoning["redactedContent"] = base64.b64decode(reasoning["redactedContent"])
    for kind in ("image", "document"):
        source = block.get(kind, {}).get("source") if isinstance(block.get(kind), dict) else None
        if isinstance(source, dict) and isinstance(source.get("bytes"), str):
            source["bytes"] = base64.b64decode(source["bytes"])


def _event(headers: Mapping[str, HeaderValue], payload: bytes) -> dict[str, Any]:
    """One event-stream message as boto3 yields it ({event type: payload}), or the in-stream error raised.

    Blobs are decoded as botocore decodes them: a ConverseStream reasoning delta's
    redacted bytes, an InvokeModelWithResponseStream chunk's bytes (the model's own event,
    byte for byte).
    """
    kind = headers.get(":message-type")
    if kind == "event":
        parsed = parse_json_object(payload) or {}
        event_type = str(headers.get(":event-type", ""))
        delta = parsed.get("delta")
        if isinstance(delta, dict) and "reasoningContent" in delta:
            _decode_blobs(delta)
        elif event_type == "chunk" and isinstance(parsed.get("bytes"), str):
            parsed["bytes"] = base64.b64decode(parsed["bytes"])
        return {event_type: parsed}
    if kind == "exception":
        body = parse_json_object(payload) or {}
        code, text = headers.get(":exception-type", ""), body.get("message") or body.get("Message") or ""
    else:
        code, text = headers.get(":error-code", ""), headers.get(":error-message", "")
    raise EventStreamError({"Error": {"Code": str(code), "Message": str(text)}}, "stream")


class _Decoder(Protocol):
    """Turns a stream's bytes, in pieces cut anywhere, into events (one decoder per stream)."""

    def feed(self, piece: bytes) -> tuple[list[dict[str, Any]], Exception | None]:
        """The events `piece` completes, in order, and the in-stream error after them, if any."""
        ...


class _EventStreamDecoder:
    """AWS event-stream frames -> the events boto3 yields."""

    def __init__(self) -> None:
        self._frames = FrameDecoder()

    def feed(self, piece: bytes) -> tuple[list[dict[str, Any]], Exception | None]:
        """The events `piece` completes, and the in-stream error (or corrupt frame) after them, if any."""
        frames, corruption = self._frames.feed(piece)
        events: list[dict[str, Any]] = []
        try:
            for headers, payload in frames:
                events.append(_event(headers, payload))
        except Exception as exc:  # an in-stream error: the events before it are delivered first
            return events, exc
        return events, corruption


def _credentials(session: boto3.session.Session, role_arn: str | None) -> Credentials | None:
    """The session's credentials, or those of `role_arn` assumed with them (fetched on first use, then refreshed)."""
    if role_arn is None:
        return session.get_credentials()
    fetcher = AssumeRoleCredentialFetcher(
        client_creator=session._session.create_client,  # botocore's documented hook for STS
        source_credentials=session.get_credentials(),
        role_arn=role_arn,
        extra_args={"RoleSessionName": "llmgw"},
    )
    return DeferredRefreshableCredentials(refresh_using=fetcher.fetch_credentials, method="assume-role")


class BedrockClient:
    """Every Bedrock Runtime call the gateway makes, async, over one connection pool."""

    def __init__(self, config: BedrockClientConfig) -> None:
        session = boto3.session.Session(
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
            region_name=config.region,
            profile_name=config.profile,
        )
        # Made only to read the endpoint and service model; it never sends a request.
        reference = session.client("bedrock-runtime", endpoint_url=config.endpoint_url)
        model = reference.meta.service_model
        self._transport = BedrockTransport(
            TransportConfig(
                endpoint_url=reference.meta.endpoint_url,
                region=reference.meta.region_name,
                signing_name=model.signing_name or "bedrock",
                credentials=_credentials(session, config.role_arn),
                connect_timeout_s=config.connect_timeout_s,
                read_timeout_s=config.read_timeout_s,
                max_connections=config.max_concurrency,
            ),
            {name: model.operation_model(name) for name in _OPERATIONS},
        )
        reference.close()
        self._routed_attempts = config.transport_max_attempts or config.max_attempts
        self._attempts = config.max_attempts

    async def _call(
        self,
        model_id: str,
        operation: str,
        path: str,
        body: bytes,
        *,
        attempts: int,
        headers: Mapping[str, str] | None = None,
        refusal: Callable[[int, bytes], Exception] | None = None,
    ) -> tuple[bytes, aiohttp.ClientResponse]:
        """One unary call: the answer's bytes, as they came, and its response (for headers)."""
        try:
            response = await self._transport.open(
                operation, path, body, _JSON, attempts=attempts, headers=headers, refusal=refusal
            )
            try:
                raw = await response.read()
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise connection_error(exc, path) from exc
            finally:
                response.release()
        except Exception as exc:
            raise map_bedrock_error(exc, model_id) from exc
        return raw, response

    async def _batches(
        self,
        model_id: str,
        operation: str,
        path: str,
        body: bytes,
        decoder: _Decoder,
        *,
        accept: str,
        attempts: int,
        headers: Mapping[str, str] | None = None,
        refusal: Callable[[int, bytes], Exception] | None = None,
    ) -> AsyncGenerator[list[dict[str, Any]], None]:
        """A stream's events in batches, each the events one read completed; closing it stops Bedrock.

        The next read happens only when the consumer asks for the next batch.
        """
        try:
            response = await self._transport.open(
                operation, path, body, accept, attempts=attempts, headers=headers, refusal=refusal
            )
        except Exception as exc:
            raise map_bedrock_error(exc, model_id) from exc
        complete = False
        try:
            try:
                async for data in response.content.iter_any():
                    events, failure = decoder.feed(data)
                    if events:
                        yield events
                    if failure is not None:
                        raise failure
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise map_bedrock_error(connection_error(exc, path), model_id) from exc
            except Exception as exc:  # in-stream errors and corrupt frames
                raise map_bedrock_error(exc, model_id) from exc
            complete = True
        finally:
            # A stream read to its end goes back to the pool; one abandoned midway is cut off.
            if complete:
                response.release()
            else:
                response.close()

    async def converse(self, request: dict[str, Any]) -> dict[str, Any]:
        """One Converse call (kwargs from converse.to_converse_request); the parsed response."""
        model_id: str = request["modelId"]
        raw, _ = await self._call(
            model_id, "Converse", _model_path(model_id, "converse"), _body(request), attempts=self._routed_attempts
        )
        parsed = parse_json_object(raw)
        if parsed is None:
            raise UpstreamError(f"Bedrock answered the model '{model_id}' with a body that is not a JSON object.")
        content = parsed.get("output", {}).get("message", {}).get("content")
        for block in content if isinstance(content, list) else ():
            if isinstance(block, dict):
                _decode_blobs(block)
        return parsed

    def converse_stream(self, request: dict[str, Any]) -> AsyncGenerator[dict[str, Any], None]:
        """The ConverseStream events one by one, as boto3 yields them; closing the iterator stops Bedrock."""
        return _one_by_one(self.converse_stream_batches(request))

    def converse_stream_batches(self, request: dict[str, Any]) -> AsyncGenerator[list[dict[str, Any]], None]:
        """The ConverseStream events, as boto3 yields them, in batches; closing the iterator stops Bedrock.

        Each batch is every event that arrived in one read: events that piled up while the
        consumer was busy (e.g. sending the previous chunk to a slow client) come together,
        so the consumer can coalesce them into one message.
        """
        model_id: str = request["modelId"]
        path = _model_path(model_id, "converse-stream")
        return self._batches(
            model_id,
            "ConverseStream",
            path,
            _body(request),
            _EventStreamDecoder(),
            accept=_EVENT_STREAM,
            attempts=self._routed_attempts,
        )

    def invoke_model_stream(self, model_id: str, body: bytes) -> AsyncGenerator[dict[str, Any], None]:
        """InvokeModelWithResponseStream with a raw JSON body; its `chunk` events as boto3 yields them."""
        batches = self._batches(
            model_id,
            "InvokeModelWithResponseStream",
            _model_path(model_id, "invoke-with-response-stream"),
            body,
            _EventStreamDecoder(),
            accept=_EVENT_STREAM,
            attempts=self._attempts,
            headers={_BEDROCK_ACCEPT: _JSON},
        )
        return _one_by_one(batches)

    async def invoke_model_raw(self, model_id: str, body: bytes) -> bytes:
        """InvokeModel with a raw JSON body; Bedrock's answer bytes, unchanged."""
        raw, _ = await self._call(
            model_id, "InvokeModel", _model_path(model_id, "invoke"), body, attempts=self._attempts
        )
        return raw

    async def native_messages(
        self, model_id: str, body: bytes, betas: Sequence[str], version: str = NATIVE_ANTHROPIC_VERSION
    ) -> bytes:
        """One call to the native `/anthropic/v1/messages` route (native.py) at `version`; the answer's bytes."""
        raw, _ = await self._call(
            model_id,
            _NATIVE,
            native.PATH,
            body,
            attempts=self._routed_attempts,
            headers=native.headers(betas, version),
            refusal=native.refusal,
        )
        try:
            return native.checked_answer(raw)
        except native.NativeError as exc:
            raise map_bedrock_error(exc, model_id) from exc

    def native_messages_stream(
        self, model_id: str, body: bytes, betas: Sequence[str], version: str = NATIVE_ANTHROPIC_VERSION
    ) -> AsyncGenerator[dict[str, Any], None]:
        """A streamed native Messages call at `version`; its events in InvokeModelWithResponseStream's `chunk` shape."""
        batches = self._batches(
            model_id,
            _NATIVE,
            native.PATH,
            body,
            native.SseDecoder(),
            accept=native.SSE,
            attempts=self._routed_attempts,
            headers=native.headers(betas, version),
            refusal=native.refusal,
        )
        return _one_by_one(batches)

    async def count_tokens(self, model_id: str, invoke_body: bytes) -> int:
        """Bedrock's CountTokens for an InvokeModel body; the input tokens it counts."""
        body = _body({"input": {"invokeModel": {"body": invoke_body}}})
        raw, _ = await self._call(
            model_id, "CountTokens", _model_path(model_id, "count-tokens"), body, attempts=self._attempts
        )
        parsed = parse_json_object(raw) or {}
        count = parsed.get("inputTokens")
        if not isinstance(count, int) or isinstance(count, bool):
            raise UpstreamError(f"Bedrock answered CountTokens for the model '{model_id}' without a token count.")
        return count

    async def invoke_model(self, model_id: str, body: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """One InvokeModel call with a JSON body; the JSON answer and its input-token header."""
        payload = compact_json(body).encode("utf-8")
        raw, response = await self._call(
            model_id, "InvokeModel", _model_path(model_id, "invoke"), payload, attempts=self._routed_attempts
        )
        parsed = parse_json_object(raw)
        if parsed is None:
            raise UpstreamError(f"Bedrock answered the model '{model_id}' with a body that is not a JSON object.")
        return parsed, response.headers.get(INPUT_TOKEN_HEADER)

    async def close(self) -> None:
        """Release the HTTP connections; streams still open end with an upstream error."""
        await self._transport.close()


async def _one_by_one(batches: AsyncGenerator[list[dict[str, Any]], None]) -> AsyncGenerator[dict[str, Any], None]:
    """A stream's events one at a time; closing this closes the stream of batches (and so the connection)."""
    try:
        async for batch in batches:
            for event in batch:
                yield event
    finally:
        await batches.aclose()
