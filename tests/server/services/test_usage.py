"""UsageService: filters, keyset pages, permissions, and the by-model / by-day summary with idle days."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import timestamp_pb2

from llmgw.server.core.money import format_usd
from llmgw.server.store.models import RequestRecord
from llmgw.v1 import request_record_pb2, usage_service_pb2
from tests.model_ids import HAIKU, NOVA_MICRO, SONNET
from tests.server.services.conftest import Gov, ask, md
from tests.support import picodollars


def _ts(value: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _seed(user: str, count: int, start: datetime, *, model: str = HAIKU, outcome: str = "success") -> None:
    RequestRecord.insert_many(
        [
            {
                "id": f"chatcmpl-{secrets.token_hex(8)}",
                "user": user,
                "key_name": "main",
                "model": model,
                "api": "chat",
                "input_tokens": 10,
                "output_tokens": 20,
                "cost_picodollars": 1_000_000_007 * (n + 1),
                "latency_ms": 5,
                "ttft_ms": None,
                "outcome": outcome,
                "error_reason": "",
                "created_at": start + timedelta(hours=n),
            }
            for n in range(count)
        ]
    ).execute()


DAY0 = datetime(2026, 11, 2, tzinfo=UTC)


def test_list_requests_pages_newest_first(gov: Gov) -> None:
    """Pages of 7 walk every row newest first, ties broken by id, with no duplicates; a bad token is 400."""
    _seed("alice", 20, DAY0)
    _seed("alice", 3, DAY0)  # a second batch at the same instants: ties on created_at
    ids: list[str] = []
    token = ""
    while True:
        page = gov.stubs.usage.ListRequests(
            usage_service_pb2.ListRequestsRequest(page_size=7, page_token=token), metadata=md(gov.alice)
        )
        ids += [record.id for record in page.requests]
        token = page.next_page_token
        if not token:
            break
    stored = list(
        RequestRecord.select()
        .where(RequestRecord.user == "alice")
        .order_by(RequestRecord.created_at.desc(), RequestRecord.id.desc())
    )
    assert ids == [row.id for row in stored]
    assert len(set(ids)) == 23
    for bad in ("garbage!", "bm90IGEgdG9rZW4"):
        with pytest.raises(grpc.RpcError) as caught:
            gov.stubs.usage.ListRequests(usage_service_pb2.ListRequestsRequest(page_token=bad), metadata=md(gov.alice))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_filters_and_who_sees_what(gov: Gov) -> None:
    """Users see their own rows only; admins see all or filter by user, model, outcome and time."""
    _seed("alice", 4, DAY0)
    _seed("alice", 2, DAY0, model=NOVA_MICRO, outcome="quota_exceeded")
    _seed("bob", 3, DAY0)
    usage = gov.stubs.usage
    mine = usage.ListRequests(usage_service_pb2.ListRequestsRequest(), metadata=md(gov.bob)).requests
    assert {record.user for record in mine} == {"bob"}
    with pytest.raises(grpc.RpcError) as denied:
        usage.ListRequests(usage_service_pb2.ListRequestsRequest(user="alice"), metadata=md(gov.bob))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    everyone = usage.ListRequests(usage_service_pb2.ListRequestsRequest(), metadata=md(gov.root)).requests
    assert len(everyone) == 9
    refused = usage.ListRequests(
        usage_service_pb2.ListRequestsRequest(user="alice", outcome=request_record_pb2.OUTCOME_QUOTA_EXCEEDED),
        metadata=md(gov.root),
    ).requests
    assert [(record.model, record.outcome) for record in refused] == [
        (NOVA_MICRO, request_record_pb2.OUTCOME_QUOTA_EXCEEDED)
    ] * 2
    window = usage.ListRequests(
        usage_service_pb2.ListRequestsRequest(
            model=HAIKU, start_time=_ts(DAY0 + timedelta(hours=1)), end_time=_ts(DAY0 + timedelta(hours=3))
        ),
        metadata=md(gov.root),
    ).requests
    assert sorted(record.created_at.ToDatetime(tzinfo=UTC) for record in window) == [
        DAY0 + timedelta(hours=1),
        DAY0 + timedelta(hours=1),
        DAY0 + timedelta(hours=2),
        DAY0 + timedelta(hours=2),
    ]
    with pytest.raises(grpc.RpcError) as backwards:
        usage.ListRequests(
            usage_service_pb2.ListRequestsRequest(start_time=_ts(DAY0), end_time=_ts(DAY0)), metadata=md(gov.root)
        )
    assert backwards.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_summary_by_model_and_day_with_idle_days(gov: Gov) -> None:
    """Spend sums exactly per model and per UTC day; days without requests appear as zero."""
    _seed("alice", 3, DAY0)  # costs 1, 2, 3 x 1_000_000_007 on day 0
    _seed("alice", 1, DAY0 + timedelta(days=2), model=NOVA_MICRO)
    _seed("bob", 5, DAY0)
    summary = gov.stubs.usage.GetUsageSummary(
        usage_service_pb2.GetUsageSummaryRequest(start_time=_ts(DAY0), end_time=_ts(DAY0 + timedelta(days=4))),
        metadata=md(gov.alice),
    )
    assert [(spend.model, spend.requests, spend.cost_usd) for spend in summary.by_model] == [
        (HAIKU, 3, format_usd(6 * 1_000_000_007)),
        (NOVA_MICRO, 1, format_usd(1_000_000_007)),
    ]
    assert [(day.day, day.requests, day.cost_usd) for day in summary.by_day] == [
        ("2026-11-02", 3, format_usd(6 * 1_000_000_007)),
        ("2026-11-03", 0, "0"),
        ("2026-11-04", 1, format_usd(1_000_000_007)),
        ("2026-11-05", 0, "0"),
    ]
    assert (summary.requests, summary.total_usd) == (4, format_usd(7 * 1_000_000_007))
    everyone = gov.stubs.usage.GetUsageSummary(
        usage_service_pb2.GetUsageSummaryRequest(start_time=_ts(DAY0), end_time=_ts(DAY0 + timedelta(days=1))),
        metadata=md(gov.root),
    )
    assert everyone.requests == 8


def test_model_filter_finds_a_part_of_the_id_and_the_summary_agrees(gov: Gov) -> None:
    """`CLAUDE` finds every Claude model, whatever its case; the summary's totals are those of the listed rows."""
    _seed("alice", 3, DAY0)
    _seed("alice", 2, DAY0, model=SONNET)
    _seed("bob", 2, DAY0, model=NOVA_MICRO)
    listed = gov.stubs.usage.ListRequests(
        usage_service_pb2.ListRequestsRequest(model="CLAUDE-3", page_size=100), metadata=md(gov.root)
    ).requests
    assert sorted({record.model for record in listed}) == [SONNET, HAIKU]
    summary = gov.stubs.usage.GetUsageSummary(
        usage_service_pb2.GetUsageSummaryRequest(
            model="CLAUDE-3", start_time=_ts(DAY0), end_time=_ts(DAY0 + timedelta(days=1))
        ),
        metadata=md(gov.root),
    )
    assert summary.requests == len(listed) == 5
    assert picodollars(summary.total_usd) == sum(picodollars(record.cost_usd) for record in listed)
    wildcard = gov.stubs.usage.ListRequests(usage_service_pb2.ListRequestsRequest(model="%"), metadata=md(gov.root))
    assert list(wildcard.requests) == []


def test_live_requests_show_up(gov: Gov) -> None:
    """A request served through the gateway is listed for its user with its key name and cost."""
    answer = gov.stubs.chat.CreateChatCompletion(ask(), metadata=md(gov.bob))
    deadline = time.monotonic() + 5
    records: list[request_record_pb2.RequestRecord] = []
    while not records and time.monotonic() < deadline:
        records = list(
            gov.stubs.usage.ListRequests(usage_service_pb2.ListRequestsRequest(), metadata=md(gov.bob)).requests
        )
    assert records[0].id == answer.completion.id
    assert (records[0].key_name, records[0].cost_usd) == ("main", answer.completion.usage.cost_usd)
