"""One log line and one metric sample per gRPC call, under a request id the client sees.

The outermost interceptor gives every call a request id: the caller's
`x-request-id` metadata when it is well formed (the HTTP bridge forwards its own),
otherwise a fresh one. The id goes back to the client as initial metadata, and
when the call ends one structured line is logged to `llmgw.requests` with the id,
method, status code, duration and caller, plus what the request recorder noted
about a chat or embedding request (model, tokens, cost, outcome). The line never
holds a secret or prompt text.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TypeVar

import grpc

from llmgw.server.auth import Principal
from llmgw.server.interceptors import Context, Continuation, Streaming, Unary, wrap_handler
from llmgw.server.metrics import GatewayMetrics

_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")

REQUEST_ID_HEADER = "x-request-id"
_WELL_FORMED_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

request_logger = logging.getLogger("llmgw.requests")


@dataclass(slots=True)
class CallLog:
    """What is known about the call being served, written out as its log line at the end."""

    request_id: str
    method: str
    fields: dict[str, object] = field(default_factory=dict)


_current: ContextVar[CallLog | None] = ContextVar("llmgw_call_log", default=None)


def request_id_from(metadata: Sequence[tuple[str, str | bytes]]) -> str:
    """The caller's request id when well formed, else a new one."""
    for name, value in metadata:
        if name == REQUEST_ID_HEADER and isinstance(value, str) and _WELL_FORMED_ID.fullmatch(value):
            return value
    return new_request_id()


def new_request_id() -> str:
    """A fresh, unguessable request id."""
    return f"req_{secrets.token_hex(12)}"


def current_request_id() -> str | None:
    """The id of the call being served, if any."""
    log = _current.get()
    return None if log is None else log.request_id


def note(**fields: object) -> None:
    """Add fields to the current call's log line (no-op outside a call)."""
    log = _current.get()
    if log is not None:
        log.fields.update(fields)


def note_principal(principal: Principal) -> None:
    """Name the caller in the current call's log line."""
    note(user=principal.user, key_name=principal.key_name)


class ObservabilityInterceptor(grpc.aio.ServerInterceptor):
    """Request ids, the per-call log line, call counts and in-flight calls."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Continuation[_Req, _Resp],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[_Req, _Resp] | None:
        """Wrap the handler so the call is identified, counted and logged."""
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        metadata = handler_call_details.invocation_metadata or ()
        metrics = self._metrics

        async def begin(context: Context) -> tuple[CallLog, float]:
            log = CallLog(request_id_from(metadata), method)
            _current.set(log)
            metrics.in_flight.inc()
            await context.send_initial_metadata(((REQUEST_ID_HEADER, log.request_id),))
            return log, time.monotonic()

        def end(log: CallLog, started: float, context: Context, error: BaseException | None) -> None:
            metrics.in_flight.dec()
            code = _code_name(context, error)
            metrics.rpcs.labels(method, code).inc()
            line: dict[str, object] = {"request_id": log.request_id, "method": method, "code": code}
            line["duration_ms"] = round((time.monotonic() - started) * 1000)
            line.update(log.fields)
            request_logger.info("request", extra={"fields": line})

        def unary(behavior: Unary) -> Unary:
            async def call(request: object, context: Context) -> object:
                log, started = await begin(context)
                error: BaseException | None = None
                try:
                    return await behavior(request, context)
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    end(log, started, context, error)

            return call

        def streaming(behavior: Streaming) -> Streaming:
            async def call(request: object, context: Context) -> AsyncIterator[object]:
                log, started = await begin(context)
                error: BaseException | None = None
                try:
                    async for response in behavior(request, context):
                        yield response
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    end(log, started, context, error)

            return call

        return wrap_handler(handler, unary, streaming)


def _code_name(context: Context, error: BaseException | None) -> str:
    """The call's status code name as far as the server knows it."""
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code.name
    if isinstance(code, int) and not isinstance(code, bool):
        for status in grpc.StatusCode:
            if status.value[0] == code:
                return status.name
    if error is None:
        return "OK"
    return "CANCELLED" if not isinstance(error, grpc.aio.AbortError) else "UNKNOWN"
