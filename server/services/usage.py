"""UsageService: the request log, filtered and paginated, and spend summaries for the terminal UI."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

from llmgw.server.governance.identity import Principal, current_principal
from llmgw.server.governance.roles import ME, target_user
from llmgw.server.rpc.context import Context
from llmgw.server.services.convert import optional_datetime, timestamp, usd
from llmgw.server.services.paging import decode_token, encode_token, page_size
from llmgw.server.store import request_feed, usage_repo
from llmgw.server.store.models import RequestRecord
from llmgw.server.store.runner import DatabaseRunner
from llmgw.server.store.usage_repo import RequestFilter
from llmgw.v1 import request_record_pb2, usage_service_pb2, usage_service_pb2_grpc
from llmgw.wire.errors import InvalidArgument

SUMMARY_DEFAULT_DAYS = 30
SUMMARY_MAX_DAYS = 400
TOP_SPENDERS = 20
# How often a watch reads the request log, and the longest it stays silent.
POLL_S = 0.25
KEEPALIVE_S = 10.0
_OUTCOME_PREFIX = "OUTCOME_"
OUTCOME_NAMES = {
    value.number: value.name.removeprefix(_OUTCOME_PREFIX).lower()
    for value in request_record_pb2.Outcome.DESCRIPTOR.values
    if value.number != request_record_pb2.OUTCOME_UNSPECIFIED
}
_OUTCOME_NUMBERS = {
    name: request_record_pb2.Outcome.Value(_OUTCOME_PREFIX + name.upper()) for name in OUTCOME_NAMES.values()
}


def record_message(row: RequestRecord) -> request_record_pb2.RequestRecord:
    """The API view of one request record."""
    message = request_record_pb2.RequestRecord(
        id=row.id,
        user=row.user,
        key_name=row.key_name,
        model=row.model,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        cost_usd=usd(row.cost_picodollars),
        latency_ms=row.latency_ms,
        outcome=_OUTCOME_NUMBERS.get(row.outcome, request_record_pb2.OUTCOME_UNSPECIFIED),
        created_at=timestamp(row.created_at),
        api=row.api,
        error_reason=row.error_reason,
        session_id=row.session_id,
        cache_read_tokens=row.cache_read_tokens,
        cache_write_tokens=row.cache_write_tokens,
        service_tier=row.service_tier,
        upstream_model=row.upstream_model,
    )
    if row.ttft_ms is not None:
        message.ttft_ms = row.ttft_ms
    return message


def _whose(principal: Principal, requested: str) -> str | None:
    """The user to filter on: everyone (None) for an admin who names nobody, else as target_user."""
    if not requested and principal.is_admin:
        return None
    return target_user(principal, requested or ME)


class UsageServicer(usage_service_pb2_grpc.UsageServiceServicer):
    """Reads the request log; users see their own requests, admins everyone's."""

    def __init__(self, db: DatabaseRunner, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._clock = clock
        # The request feed reads on a thread (and connection) of its own; see store/request_feed.py.
        self._feed = DatabaseRunner(threads=1)

    def close(self) -> None:
        """Stop the feed's thread (after the server stopped)."""
        self._feed.close()

    async def ListRequests(
        self, request: usage_service_pb2.ListRequestsRequest, context: Context
    ) -> usage_service_pb2.ListRequestsResponse:
        """A page of matching records, newest first, with a token for the next."""
        start, end = optional_datetime(request, "start_time"), optional_datetime(request, "end_time")
        if start is not None and end is not None and end <= start:
            raise InvalidArgument("end_time must be after start_time", field="end_time")
        selected = RequestFilter(
            user=_whose(current_principal(), request.user),
            key_name=request.key_name,
            model=request.model,
            outcome=OUTCOME_NAMES.get(request.outcome, ""),
            start_time=start,
            end_time=end,
        )
        size = page_size(request.page_size)
        after = None
        if request.page_token:
            created_text, record_id = decode_token(request.page_token, 2)
            try:
                after = (datetime.fromisoformat(created_text), record_id)
            except ValueError:
                raise InvalidArgument("page_token is not a token this gateway issued", field="page_token") from None
            if after[0].tzinfo is None:
                raise InvalidArgument("page_token is not a token this gateway issued", field="page_token")
        rows = await self._db.run(lambda: usage_repo.list_requests(selected, size + 1, after))
        page = rows[:size]
        token = encode_token(page[-1].created_at.isoformat(), page[-1].id) if len(rows) > size else ""
        return usage_service_pb2.ListRequestsResponse(
            requests=[record_message(row) for row in page], next_page_token=token
        )

    async def GetUsageSummary(
        self, request: usage_service_pb2.GetUsageSummaryRequest, context: Context
    ) -> usage_service_pb2.GetUsageSummaryResponse:
        """Spend by model and by UTC day (every day of the range, zero when idle), with totals."""
        end = optional_datetime(request, "end_time") or self._clock()
        start = optional_datetime(request, "start_time") or end - timedelta(days=SUMMARY_DEFAULT_DAYS)
        if end <= start:
            raise InvalidArgument("end_time must be after start_time", field="end_time")
        if end - start > timedelta(days=SUMMARY_MAX_DAYS):
            raise InvalidArgument(f"the range may span at most {SUMMARY_MAX_DAYS} days", field="start_time")
        selected = RequestFilter(
            user=_whose(current_principal(), request.user),
            key_name=request.key_name,
            model=request.model,
            outcome=OUTCOME_NAMES.get(request.outcome, ""),
            start_time=start,
            end_time=end,
        )
        by_model, by_day, users, keys = await self._db.run(
            lambda: (
                usage_repo.totals_by_model(selected),
                usage_repo.totals_by_day(selected),
                usage_repo.top_spenders(selected, TOP_SPENDERS, by_key=False),
                usage_repo.top_spenders(selected, TOP_SPENDERS, by_key=True),
            )
        )
        days = {total.day: total for total in by_day}
        day, last = start.date(), (end - timedelta(microseconds=1)).date()
        day_spend = []
        while day <= last:
            total = days.get(day)
            day_spend.append(
                request_record_pb2.DaySpend(
                    day=day.isoformat(),
                    requests=total.requests if total else 0,
                    cost_usd=usd(total.cost_picodollars if total else 0),
                )
            )
            day += timedelta(days=1)
        return usage_service_pb2.GetUsageSummaryResponse(
            by_model=[
                request_record_pb2.ModelSpend(
                    model=total.model,
                    requests=total.requests,
                    input_tokens=total.input_tokens,
                    output_tokens=total.output_tokens,
                    cost_usd=usd(total.cost_picodollars),
                )
                for total in by_model
            ],
            by_day=day_spend,
            total_usd=usd(sum(total.cost_picodollars for total in by_model)),
            requests=sum(total.requests for total in by_model),
            top_users=[
                request_record_pb2.UserSpend(
                    user=total.user, requests=total.requests, cost_usd=usd(total.cost_picodollars)
                )
                for total in users
            ],
            top_keys=[
                request_record_pb2.KeySpend(
                    user=total.user,
                    key_name=total.key_name,
                    requests=total.requests,
                    cost_usd=usd(total.cost_picodollars),
                )
                for total in keys
            ],
        )

    async def WatchRequests(
        self, request: usage_service_pb2.WatchRequestsRequest, context: Context
    ) -> AsyncIterator[usage_service_pb2.WatchRequestsResponse]:
        """Records as they are written, by any process sharing the database, until the client goes away.

        The first (empty) message says the watch is live; an empty one follows after
        every KEEPALIVE_S without requests. The log is read every POLL_S.
        """
        user = _whose(current_principal(), request.user)
        cursor = await self._feed.run(request_feed.start_cursor)
        yield usage_service_pb2.WatchRequestsResponse()
        quiet = 0.0
        while True:
            await asyncio.sleep(POLL_S)
            rows = await self._feed.run(lambda: request_feed.read_new(cursor, user))
            if rows:
                quiet = 0.0
                yield usage_service_pb2.WatchRequestsResponse(requests=[record_message(row) for row in rows])
                continue
            quiet += POLL_S
            if quiet >= KEEPALIVE_S:
                quiet = 0.0
                yield usage_service_pb2.WatchRequestsResponse()
