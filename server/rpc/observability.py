"""One log line and one metric sample per gRPC call, under a request id the client sees.

The gateway interceptor (server/rpc/pipeline.py) first gives every call a request id: the caller's
`x-request-id` metadata when it is well formed (the HTTP bridge forwards its own),
otherwise a fresh one. The id goes back to the client as initial metadata, and
when the call ends one structured line is logged to `llmgw.requests` with the id,
method, status code, duration and caller, plus what the request recorder noted
about a chat or embedding request (model, tokens, cost, outcome). The line never
holds a secret or prompt text.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TypeAlias

import grpc

from llmgw.server.governance.identity import Principal
from llmgw.server.rpc.context import Context
from llmgw.server.rpc.metrics import GatewayMetrics
from llmgw.wire import request_id

request_logger = logging.getLogger("llmgw.requests")


@dataclass(slots=True)
class CallLog:
    """What is known about the call being served, written out as its log line at the end."""

    request_id: str
    method: str
    fields: dict[str, object] = field(default_factory=dict)


_current: ContextVar[CallLog | None] = ContextVar("llmgw_call_log", default=None)

# A begun call: its log and when it started (time.monotonic()).
CallStart: TypeAlias = tuple[CallLog, float]


def request_id_from(metadata: Sequence[tuple[str, str | bytes]]) -> str:
    """The caller's request id when well formed, else a new one."""
    for name, value in metadata:
        if name == request_id.HEADER and isinstance(value, str) and request_id.is_well_formed(value):
            return value
    return request_id.new_request_id()


def note(**fields: object) -> None:
    """Add fields to the current call's log line (no-op outside a call)."""
    log = _current.get()
    if log is not None:
        log.fields.update(fields)


def note_principal(principal: Principal) -> None:
    """Name the caller in the current call's log line."""
    note(user=principal.user, key_name=principal.key_name)


class CallObserver:
    """Request ids, the per-call log line, call counts and in-flight calls: the first and last a call meets."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self._metrics = metrics

    async def begin(self, method: str, metadata: Sequence[tuple[str, str | bytes]], context: Context) -> CallStart:
        """Identify and count the call, and send its request id before any message."""
        log = CallLog(request_id_from(metadata), method)
        _current.set(log)
        self._metrics.in_flight.inc()
        await context.send_initial_metadata(((request_id.HEADER, log.request_id),))
        return log, time.monotonic()

    def end(self, start: CallStart, context: Context, error: BaseException | None) -> None:
        """Count the call under its final status and write its log line."""
        log, started = start
        metrics = self._metrics
        metrics.in_flight.dec()
        code = _code_name(context, error)
        metrics.rpcs.labels(log.method, code).inc()
        line: dict[str, object] = {"request_id": log.request_id, "method": log.method, "code": code}
        line["duration_ms"] = round((time.monotonic() - started) * 1000)
        line.update(log.fields)
        request_logger.info("request", extra={"fields": line})


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
