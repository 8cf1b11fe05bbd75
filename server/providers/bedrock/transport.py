"""Signed Bedrock Runtime HTTP calls on the event loop: botocore's signer and retry rules over aiohttp.

Why not boto3 on threads (the old client) or aiobotocore: a thread per in-flight call
capped concurrency at the pool size and made hundreds of threads fight for the GIL, and
a full botocore client (sync or async) spends about 3 ms of CPU per short stream in its
hook machinery and per-event shape parsing (bench/RESULTS.md, "Bedrock transport").
This module keeps the parts of botocore that make a call correct and costs little:
the credentials, the standard retry mode's conditions, backoff and retry
quota (`botocore.retries.standard`), and the error shapes the error table reads
(`ClientError`, `EndpointConnectionError`, timeouts); requests are signed by signing.py,
which signs as botocore's `SigV4Auth` does at a tenth of its cost. Every Bedrock Runtime
call goes through it, the native `/anthropic/v1/messages` route included. The number of calls in
flight is bounded by the aiohttp connection pool (BEDROCK_MAX_CONCURRENCY), not by
threads; a call over the limit waits for a connection without a time limit of its own.

Retries happen only before a response is accepted: an error status or a connection
failure is retried as botocore's standard mode would, up to the call's `attempts` in
total; once a 2xx response has begun (a stream's first bytes), nothing is retried.

A pooled connection the server has already closed is not a failure of the call. A server
closes idle keep-alive connections when it likes (the fake Bedrock after 5 s), and a
busy event loop may hand one out before it has read the server's FIN; aiohttp resends
only idempotent requests on such a connection, and these are POSTs. So a POST that dies
on a reused connection before any response is sent again at once, on another connection,
up to STALE_CONNECTION_RETRIES times, without counting as an attempt: otherwise a burst
after a quiet spell failed calls and opened the region's breaker (seen in bench/run_load.py's
1,000-stream load).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import aiohttp
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials, ReadOnlyCredentials
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from botocore.model import OperationModel
from botocore.retries import quota, standard
from yarl import URL

from llmgw.server.providers.bedrock.converse import parse_json_object
from llmgw.server.providers.bedrock.signing import RequestSigner

_USER_AGENT = "llmgw (aiohttp)"
# Resends of a POST whose reused connection turned out closed (see the module docstring).
STALE_CONNECTION_RETRIES = 3


class _Reuse:
    """Whether aiohttp gave one request a pooled connection (set by the trace hook below)."""

    __slots__ = ("reused",)

    def __init__(self) -> None:
        self.reused = False


async def _note_reuse(
    _session: aiohttp.ClientSession, context: SimpleNamespace, _params: aiohttp.TraceConnectionReuseconnParams
) -> None:
    """The hook aiohttp calls for a request sent on a pooled connection: mark the request's `_Reuse`."""
    request = context.trace_request_ctx
    if isinstance(request, _Reuse):
        request.reused = True


def _reuse_tracing() -> aiohttp.TraceConfig:
    """The session's trace configuration: it only notes connection reuse."""
    tracing = aiohttp.TraceConfig()
    tracing.on_connection_reuseconn.append(_note_reuse)
    return tracing


@dataclass(frozen=True, slots=True)
class TransportConfig:
    """Where Bedrock is, who signs, how patiently to wait and how many calls may be in flight."""

    endpoint_url: str
    region: str
    signing_name: str
    credentials: Credentials | None
    connect_timeout_s: float
    read_timeout_s: float
    max_connections: int


class BedrockTransport:
    """One aiohttp connection pool to Bedrock; `open` returns an accepted (2xx) response or raises."""

    def __init__(self, config: TransportConfig, operations: Mapping[str, OperationModel]) -> None:
        self._config = config
        self._operations = operations
        self._base = config.endpoint_url.rstrip("/")
        self._signer = RequestSigner(self._base, config.region, config.signing_name)
        self._session: aiohttp.ClientSession | None = None
        throttling = standard.ThrottlingErrorDetector(standard.RetryEventAdapter())
        self._backoff = standard.ExponentialBackoff(service_name="bedrock-runtime", throttling_detector=throttling)
        self._policies: dict[int, standard.RetryPolicy] = {}
        self._quota = standard.RetryQuotaChecker(quota.RetryQuota(), throttling)

    def _client_session(self) -> aiohttp.ClientSession:
        """The pool, made on first use (aiohttp wants a running loop)."""
        if self._session is None or self._session.closed:
            config = self._config
            connector = aiohttp.TCPConnector(limit=config.max_connections, limit_per_host=0, enable_cleanup_closed=True)
            timeout = aiohttp.ClientTimeout(
                total=None, connect=None, sock_connect=config.connect_timeout_s, sock_read=config.read_timeout_s
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=timeout,
                headers={"User-Agent": _USER_AGENT},
                trace_configs=[_reuse_tracing()],
            )
        return self._session

    def _policy(self, attempts: int) -> standard.RetryPolicy:
        """Botocore's standard retry policy for calls of `attempts` in total (one per count, made once)."""
        policy = self._policies.get(attempts)
        if policy is None:
            checker = standard.StandardRetryConditions(max_attempts=attempts)
            policy = self._policies[attempts] = standard.RetryPolicy(retry_checker=checker, retry_backoff=self._backoff)
        return policy

    async def _frozen_credentials(self) -> ReadOnlyCredentials:
        credentials = self._config.credentials
        if credentials is None:
            raise NoCredentialsError
        refresh_needed = getattr(credentials, "refresh_needed", None)
        if callable(refresh_needed) and refresh_needed():
            # A refresh may call STS or the instance metadata service: never on the loop.
            return await asyncio.to_thread(credentials.get_frozen_credentials)
        return credentials.get_frozen_credentials()

    async def open(
        self,
        operation: str,
        path: str,
        body: bytes,
        accept: str,
        *,
        attempts: int,
        headers: Mapping[str, str] | None = None,
        refusal: Callable[[int, bytes], Exception] | None = None,
    ) -> aiohttp.ClientResponse:
        """POST `body` to `path` (already percent-encoded), retrying as botocore's standard mode does.

        `attempts` counts calls in total, the first included. `headers` are sent (and
        signed) besides Content-Type and Accept. Returns the accepted response, whose body
        the caller reads and then releases (or closes, to abandon it). Raises ClientError
        for an error answer, or what `refusal(status, body)` makes of it (a route with
        errors of its own), and botocore's connection and timeout errors, so errors.py
        maps every failure in one place.
        """
        url = self._base + path
        operation_model = self._operations.get(operation)
        session = self._client_session()
        policy = self._policy(attempts)
        request_context: dict[str, Any] = {}
        sent = {"Content-Type": "application/json", "Accept": accept, **(headers or {})}
        attempt = 1
        while True:
            signed = self._signer.sign(await self._frozen_credentials(), path, body, sent)
            response: aiohttp.ClientResponse | None = None
            error: Exception
            parsed: dict[str, Any] | None = None
            http_response: AWSResponse | None = None
            try:
                response = await _post(session, URL(url, encoded=True), body, signed)
                if response.status < 300:
                    # botocore passes the request context here (its stubs say a RetryContext).
                    self._quota.release_retry_quota(request_context, _aws_response(url, response))  # type: ignore[arg-type]
                    return response
                raw = await response.read()
                response.release()
                parsed = _error_response(response, raw)
                http_response = _aws_response(url, response)
                error = (
                    refusal(response.status, raw) if refusal is not None else ClientError(parsed, operation)  # type: ignore[arg-type]  # botocore's TypedDict
                )
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                if response is not None:
                    response.close()
                error = connection_error(exc, url)
            context = standard.RetryContext(
                attempt_number=attempt,
                operation_model=operation_model,
                parsed_response=parsed,
                http_response=http_response,
                caught_exception=None if parsed is not None else error,
                request_context=request_context,
            )
            if not policy.should_retry(context) or not self._quota.acquire_retry_quota(context):
                raise error
            await asyncio.sleep(policy.compute_retry_delay(context))
            attempt += 1

    async def close(self) -> None:
        """Close every pooled connection (in-flight responses end with a connection error)."""
        if self._session is not None:
            with contextlib.suppress(Exception):
                await self._session.close()


async def _post(
    session: aiohttp.ClientSession, url: URL, body: bytes, headers: dict[str, str]
) -> aiohttp.ClientResponse:
    """POST, sent again at once when it died on a pooled connection the server had closed."""
    resends = 0
    while True:
        request = _Reuse()
        try:
            return await session.post(url, data=body, headers=headers, trace_request_ctx=request)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            if not request.reused or resends == STALE_CONNECTION_RETRIES:
                raise
        resends += 1


def _aws_response(url: str, response: aiohttp.ClientResponse) -> AWSResponse:
    """The response as botocore's retry rules read it (status, x-amz-retry-after)."""
    headers = HTTPHeaders()
    for name, value in response.headers.items():
        headers[name] = value
    return AWSResponse(url, response.status, headers, None)


def _error_response(response: aiohttp.ClientResponse, raw: bytes) -> dict[str, Any]:
    """The error as botocore's rest-json parser reads it: code from x-amzn-errortype, else the body."""
    body = parse_json_object(raw) or {}
    code = response.headers.get("x-amzn-errortype", "") or str(body.get("__type") or body.get("code") or "")
    code = code.split(":")[0].split("#")[-1]
    message = str(body.get("message") or body.get("Message") or "")
    return {
        "Error": {"Code": code or str(response.status), "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": response.status},
    }


def connection_error(exc: BaseException, url: str) -> Exception:
    """The botocore exception for a failure to connect or to read in time (errors.py maps these).

    Also used for failures while reading an accepted response's body.
    """
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ConnectTimeoutError(endpoint_url=url)
    if isinstance(exc, TimeoutError):
        return ReadTimeoutError(endpoint_url=url)
    return EndpointConnectionError(endpoint_url=url)
