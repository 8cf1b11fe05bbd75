"""One record per chat or embedding request: who, which key, model, tokens, cost, timing, outcome.

Each service opens a RequestTrace when a call starts and finishes it exactly once,
on success, on error or on cancellation; the row goes to the group-commit writer,
together with the settlement of the request's quota reservation (if it was
admitted), so the ledger is charged in the same transaction as the row.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime

from llmgw.server.core.accounting import request_cost
from llmgw.server.core.catalog import CatalogModel
from llmgw.server.core.names import loggable
from llmgw.server.governance.identity import Principal
from llmgw.server.routing.router import Progress
from llmgw.server.rpc.metrics import GatewayMetrics
from llmgw.server.rpc.observability import note
from llmgw.server.services.convert import usd
from llmgw.server.store.group_commit import GroupCommitWriter, RequestRow
from llmgw.server.store.ledger import Reservation, Settlement
from llmgw.wire import errors


def outcome_of(error: BaseException | None) -> str:
    """The request-log outcome for how a call ended."""
    if error is None:
        return "success"
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        return "cancelled"
    if isinstance(error, errors.QuotaExceeded):
        return "quota_exceeded"
    if isinstance(error, errors.ModelAccessDenied):
        return "model_access_denied"
    if isinstance(error, errors.RateLimited):
        return "rate_limited"
    return "error"


@dataclass(slots=True)
class RequestTrace:
    """The running record of one request, finished once into a RequestRow."""

    id_prefix: str
    api: str
    principal: Principal
    model_id: str
    created_at: datetime
    """When the request arrived, by the gateway's clock: the rate window it is charged to."""
    id: str = ""
    started: float = field(default_factory=time.monotonic)
    first_token_at: float | None = None
    model: CatalogModel | None = None
    reservation: Reservation | None = None
    abandoned: bool = False
    """The client left (disconnect, deadline) while the upstream call was still running."""
    charge_bound: bool = False
    """Bedrock never reported usage for a call that went out: charge the reservation's bound."""
    session_id: str = ""
    """The Claude Code session (`x-claude-code-session-id`), when the client named one."""
    # Prompt-cache counts Bedrock reported; charged at their own prices and logged beside input/output.
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    # The 1-hour writes among cache_write_tokens (they cost more than 5-minute ones).
    cache_write_1h_tokens: int = 0
    # The Bedrock service tier that served the request, and the id Bedrock was sent.
    service_tier: str = ""
    upstream_model: str = ""
    # Where the router sent the request (routing/router.py) and how many calls it made.
    region: str = ""
    attempts: int = 0

    def __post_init__(self) -> None:
        self.id = f"{self.id_prefix}-{secrets.token_hex(12)}"

    @property
    def created_unix(self) -> int:
        """The creation time as OpenAI's `created` (Unix seconds)."""
        return int(self.created_at.timestamp())

    def mark_first_token(self) -> None:
        """Note the time to first token, once."""
        if self.first_token_at is None:
            self.first_token_at = time.monotonic()

    def routed(self, progress: Progress, *, answered: bool) -> None:
        """Take where the router sent the request: the last target tried is the one priced and logged.

        `answered`: that target's public model answered (a fallback's id then becomes the
        request's model, as in the response).
        """
        self.attempts = progress.attempts
        candidate = progress.candidate
        if candidate is None:
            return
        self.region = candidate.target.region
        self.upstream_model = candidate.sent_id
        self.model = candidate.target.model
        if answered:
            self.model_id = candidate.public_model

    def cost(self, input_tokens: int, output_tokens: int) -> int:
        """What the request costs in picodollars; 0 before it was admitted.

        Uncached input, cache reads, cache writes by TTL and output are each charged at
        their own price, in the service tier that served the request.
        """
        if self.model is None:
            return 0
        return request_cost(
            self.model,
            input_tokens,
            output_tokens,
            cache_read_tokens=self.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens - self.cache_write_1h_tokens,
            cache_write_1h_tokens=self.cache_write_1h_tokens,
            service_tier=self.service_tier or "default",
        )

    def row(self, input_tokens: int, output_tokens: int, error: BaseException | None) -> RequestRow:
        """The log row for this request ending now with these counts and this error."""
        now = time.monotonic()
        cost = self.cost(input_tokens, output_tokens)
        if self.charge_bound and self.reservation is not None:
            cost = max(cost, self.reservation.bound_picodollars)
        reason = error.reason if isinstance(error, errors.GatewayError) else ""
        return RequestRow(
            id=self.id,
            user=self.principal.user,
            key_name=self.principal.key_name,
            model=loggable(self.model_id),
            api=self.api,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_picodollars=cost,
            latency_ms=round((now - self.started) * 1000),
            ttft_ms=None if self.first_token_at is None else round((self.first_token_at - self.started) * 1000),
            outcome=outcome_of(error),
            error_reason=reason,
            created_at=self.created_at,
            session_id=self.session_id,
            cache_read_tokens=self.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens,
            service_tier=self.service_tier,
            upstream_model=self.upstream_model,
            region=self.region,
            attempts=self.attempts,
        )


def never_answered(error: BaseException) -> bool:
    """Whether a failed upstream call may have been served by Bedrock without us learning its usage.

    A timeout (ours or Bedrock's) or a cancellation after the call went out: Bedrock may have
    generated the whole answer, so the call is charged its reservation's bound. A refusal
    (validation, throttling, access) cost nothing.
    """
    return isinstance(error, errors.UpstreamTimeout | asyncio.CancelledError)


class RequestRecorder:
    """Hands finished traces to the writer: awaited on the normal path, fire-and-forget when cancelled."""

    def __init__(self, writer: GroupCommitWriter, metrics: GatewayMetrics | None = None) -> None:
        self._writer = writer
        self._metrics = metrics

    def _observe(self, row: RequestRow, error: BaseException | None) -> None:
        """Count the request in the metrics and describe it on the call's log line."""
        if self._metrics is not None:
            self._metrics.observe_request(row, error)
        note(
            id=row.id,
            api=row.api,
            model=row.model,
            outcome=row.outcome,
            input_tokens=row.input_tokens,
            output_tokens=row.output_tokens,
            cost_usd=usd(row.cost_picodollars),
            ttft_ms=row.ttft_ms,
            region=row.region,
            upstream_model=row.upstream_model,
            attempts=row.attempts,
        )

    async def record(self, trace: RequestTrace, input_tokens: int, output_tokens: int) -> None:
        """Commit a successful request's row and settlement before its response is released."""
        row = trace.row(input_tokens, output_tokens, None)
        self._observe(row, None)
        await self._writer.record(row, _settlement(trace, row))

    async def record_answered(self, trace: RequestTrace, input_tokens: int, output_tokens: int) -> None:
        """Record a unary request Bedrock answered: its row committed before the reply.

        When its client left while the call ran on (detached.py), the row is queued as
        cancelled instead, charged what was used.
        """
        if trace.abandoned:
            self.record_failure(trace, asyncio.CancelledError(), input_tokens, output_tokens)
        else:
            await self.record(trace, input_tokens, output_tokens)

    def record_failure(
        self, trace: RequestTrace, error: BaseException, input_tokens: int = 0, output_tokens: int = 0
    ) -> None:
        """Queue a failed or cancelled request's row and settlement without waiting (the task may be cancelled)."""
        row = trace.row(input_tokens, output_tokens, error)
        self._observe(row, error)
        self._writer.record_nowait(row, _settlement(trace, row))


def _settlement(trace: RequestTrace, row: RequestRow) -> Settlement | None:
    return None if trace.reservation is None else Settlement(trace.reservation, row.cost_picodollars)
