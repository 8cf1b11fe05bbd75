"""The gateway's Bedrock Runtime client: Converse, ConverseStream and InvokeModel on the event loop.

boto3 is used once, at start-up, for what it does best and what must match the AWS
SDKs exactly: the credential chain, the endpoint of the region, the signing name and
the operations' error shapes (for the retry rules). Calls then go through
transport.py (botocore's signer and retry rules over an aiohttp pool), so no call
holds a thread and the pool size (BEDROCK_MAX_CONCURRENCY) is the only limit on
calls in flight.

Bodies are the REST-JSON shapes boto3 would send; answers are parsed once, straight
from JSON into the dicts boto3 would return (the event stream with botocore's own
`EventStreamBuffer`), so converse.py and stream.py read them unchanged. When the
consumer of a stream stops early or is cancelled, the HTTP connection is closed at
once so Bedrock stops generating (and charging). Every failure leaves this module as
a domain error (errors.py).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import boto3  # noqa: TID251  # this module is boto3's one home
from botocore.credentials import AssumeRoleCredentialFetcher, Credentials, DeferredRefreshableCredentials
from botocore.eventstream import EventStreamBuffer, EventStreamMessage
from botocore.exceptions import EventStreamError

from llmgw.server.providers.bedrock.converse import compact_json, parse_json_object
from llmgw.server.providers.bedrock.embeddings import INPUT_TOKEN_HEADER
from llmgw.server.providers.bedrock.errors import map_bedrock_error
from llmgw.server.providers.bedrock.transport import BedrockTransport, TransportConfig, connection_error
from llmgw.wire.errors import UpstreamError

_OPERATIONS = ("Converse", "ConverseStream", "InvokeModel")
_JSON = "application/json"
_EVENT_STREAM = "application/vnd.amazon.eventstream"


@dataclass(frozen=True, slots=True)
class BedrockClientConfig:
    """Where Bedrock is and how patiently to talk to it; the same code serves AWS and the fake.

    `max_concurrency` is the size of the HTTP connection pool: the most Bedrock calls
    (streams included) in flight at once; more wait for a connection. `profile` signs
    with a named AWS profile; `role_arn` with a role assumed through STS (from the
    profile's or the default credentials), refreshed before it expires.
    """

    region: str
    endpoint_url: str | None = None
    max_attempts: int = 3
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


def _event(message: EventStreamMessage) -> dict[str, Any]:
    """One event-stream message as boto3 yields it ({event type: payload}), or the in-stream error raised."""
    headers: dict[str, Any] = message.headers  # type: ignore[assignment]  # a dict; botocore-stubs say int
    kind = headers.get(":message-type")
    if kind == "event":
        return {headers.get(":event-type", ""): parse_json_object(message.payload) or {}}
    if kind == "exception":
        body = parse_json_object(message.payload) or {}
        code, text = headers.get(":exception-type", ""), body.get("message") or body.get("Message") or ""
    else:
        code, text = headers.get(":error-code", ""), headers.get(":error-message", "")
    raise EventStreamError({"Error": {"Code": str(code), "Message": str(text)}}, "ConverseStream")


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
    """Async Converse, ConverseStream and InvokeModel over one connection pool."""

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
                max_attempts=config.max_attempts,
                connect_timeout_s=config.connect_timeout_s,
                read_timeout_s=config.read_timeout_s,
                max_connections=config.max_concurrency,
            ),
            {name: model.operation_model(name) for name in _OPERATIONS},
        )
        reference.close()

    async def _call(
        self, model_id: str, operation: str, path: str, body: bytes
    ) -> tuple[bytes, aiohttp.ClientResponse]:
        try:
            response = await self._transport.open(operation, path, body, _JSON)
            try:
                raw = await response.read()
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise connection_error(exc, path) from exc
            finally:
                response.release()
        except Exception as exc:
            raise map_bedrock_error(exc, model_id) from exc
        return raw, response

    async def converse(self, request: dict[str, Any]) -> dict[str, Any]:
        """One Converse call (kwargs from converse.to_converse_request); the parsed response."""
        model_id: str = request["modelId"]
        raw, _ = await self._call(model_id, "Converse", _model_path(model_id, "converse"), _body(request))
        parsed = parse_json_object(raw)
        if parsed is None:
            raise UpstreamError(f"Bedrock answered the model '{model_id}' with a body that is not a JSON object.")
        return parsed

    async def converse_stream(self, request: dict[str, Any]) -> AsyncGenerator[list[dict[str, Any]], None]:
        """The ConverseStream events, as boto3 yields them, in batches; closing the iterator stops Bedrock.

        Each batch is every event that arrived in one read: events that piled up while the
        consumer was busy (e.g. sending the previous chunk to a slow client) come together,
        so the consumer can coalesce them into one message.
        """
        model_id: str = request["modelId"]
        path = _model_path(model_id, "converse-stream")
        try:
            response = await self._transport.open("ConverseStream", path, _body(request), _EVENT_STREAM)
        except Exception as exc:
            raise map_bedrock_error(exc, model_id) from exc
        buffer = EventStreamBuffer()
        complete = False
        try:
            try:
                async for data in response.content.iter_any():
                    buffer.add_data(data)
                    events: list[dict[str, Any]] = []
                    failure: Exception | None = None
                    try:
                        for message in buffer:
                            events.append(_event(message))
                    except Exception as exc:  # an in-stream error: the events before it are delivered first
                        failure = exc
                    if events:
                        yield events
                    if failure is not None:
                        raise failure
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise map_bedrock_error(connection_error(exc, path), model_id) from exc
            except Exception as exc:  # in-stream errors (EventStreamError) and corrupt frames
                raise map_bedrock_error(exc, model_id) from exc
            complete = True
        finally:
            # A stream read to its end goes back to the pool; one abandoned midway is cut off.
            if complete:
                response.release()
            else:
                response.close()

    async def invoke_model(self, model_id: str, body: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """One InvokeModel call with a JSON body; the JSON answer and its input-token header."""
        payload = compact_json(body).encode("utf-8")
        raw, response = await self._call(model_id, "InvokeModel", _model_path(model_id, "invoke"), payload)
        parsed = parse_json_object(raw)
        if parsed is None:
            raise UpstreamError(f"Bedrock answered the model '{model_id}' with a body that is not a JSON object.")
        return parsed, response.headers.get(INPUT_TOKEN_HEADER)

    async def close(self) -> None:
        """Release the HTTP connections; streams still open end with an upstream error."""
        await self._transport.close()
