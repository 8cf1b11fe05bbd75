"""Tests for llmgw.server.store.group_commit."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime

import peewee
import pytest

from llmgw.server.store.group_commit import GroupCommitWriter, RequestRow
from llmgw.server.store.models import RequestRecord

CONCURRENT_REQUESTS = 1000
WAIT_S = 30


def _row(number: int, **changes: object) -> RequestRow:
    row = RequestRow(
        id=f"chatcmpl-{number:08x}",
        user="ann",
        key_name="laptop",
        model="us.anthropic.claude-haiku-4-5-20251001-v1:0",
        api="chat",
        input_tokens=10 + number,
        output_tokens=20,
        cost_picodollars=11_000_000 * (10 + number) + 55_000_000 * 20,
        latency_ms=120,
        ttft_ms=None,
        outcome="success",
        error_reason="",
        created_at=datetime(2026, 11, 27, 12, 0, number % 60, tzinfo=UTC),
    )
    return dataclasses.replace(row, **changes)  # type: ignore[arg-type]


@pytest.fixture
def writer(store_db: peewee.Database) -> Iterator[GroupCommitWriter]:
    """A started writer on the test database, closed after the test."""
    log_writer = GroupCommitWriter(store_db)
    log_writer.start()
    try:
        yield log_writer
    finally:
        log_writer.close_blocking()


async def test_recorded_row_is_committed_with_every_field(writer: GroupCommitWriter) -> None:
    """Once record() returns, the row is in the table exactly as given."""
    row = _row(1, api="chat_stream", ttft_ms=35, outcome="quota_exceeded", error_reason="QUOTA_EXCEEDED")
    await writer.record(row)
    stored = RequestRecord.get_by_id(row.id)
    assert RequestRow(**{field.name: getattr(stored, field.name) for field in dataclasses.fields(RequestRow)}) == row


async def test_concurrent_records_share_transactions(writer: GroupCommitWriter) -> None:
    """1000 concurrent record() calls all commit, in fewer transactions than rows."""
    rows = [_row(number) for number in range(CONCURRENT_REQUESTS)]
    await asyncio.wait_for(asyncio.gather(*(writer.record(row) for row in rows)), WAIT_S)
    assert RequestRecord.select().count() == CONCURRENT_REQUESTS
    assert {record.id for record in RequestRecord.select(RequestRecord.id)} == {row.id for row in rows}
    assert 0 < writer.batches_committed < CONCURRENT_REQUESTS


async def test_a_bad_row_fails_only_its_own_caller(writer: GroupCommitWriter) -> None:
    """A row that cannot be written fails its own record() while its batch-mates commit."""
    await writer.record(_row(0))
    rows = [_row(number) for number in range(1, 20)]
    duplicate = _row(0, user="someone-else")
    results = await asyncio.gather(*(writer.record(row) for row in [*rows, duplicate]), return_exceptions=True)
    assert results[:-1] == [None] * len(rows)
    assert isinstance(results[-1], peewee.IntegrityError)
    assert RequestRecord.get_by_id(duplicate.id).user == "ann"
    assert RequestRecord.select().count() == len(rows) + 1


async def test_a_row_that_cannot_be_converted_fails_its_caller(writer: GroupCommitWriter) -> None:
    """A naive timestamp is refused for its own row; the writer keeps serving."""
    naive = _row(1, created_at=datetime(2026, 11, 27, 12, 0))
    with pytest.raises(ValueError, match="naive"):
        await writer.record(naive)
    await writer.record(_row(2))
    assert [record.id for record in RequestRecord.select()] == [_row(2).id]


async def test_cancelled_caller_still_gets_its_row_written(writer: GroupCommitWriter) -> None:
    """Cancelling the task awaiting record() does not withdraw the row."""
    task = asyncio.create_task(writer.record(_row(1)))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await writer.close()
    assert RequestRecord.select().count() == 1


def test_close_flushes_rows_queued_without_waiting(store_db: peewee.Database) -> None:
    """Rows queued with record_nowait, even before start(), are committed by close()."""
    writer = GroupCommitWriter(store_db, max_batch=7)
    futures = [writer.record_nowait(_row(number)) for number in range(50)]
    writer.start()
    futures += [writer.record_nowait(_row(number)) for number in range(50, 100)]
    writer.close_blocking()
    assert all(future.done() and future.exception() is None for future in futures)
    assert RequestRecord.select().count() == 100
    assert writer.batches_committed >= 100 // 7


def test_close_without_start_still_flushes(store_db: peewee.Database) -> None:
    """A writer closed before it was started writes what was queued."""
    writer = GroupCommitWriter(store_db)
    future = writer.record_nowait(_row(1))
    writer.close_blocking()
    assert future.result(timeout=WAIT_S) is None
    assert RequestRecord.select().count() == 1


async def test_records_after_close_are_refused(writer: GroupCommitWriter) -> None:
    """A closed writer refuses new rows instead of dropping them silently."""
    await writer.close()
    await writer.close()
    with pytest.raises(RuntimeError, match="closed"):
        writer.record_nowait(_row(1))
    with pytest.raises(RuntimeError, match="closed"):
        await writer.record(_row(2))


def test_max_batch_must_be_positive(store_db: peewee.Database) -> None:
    """A batch limit below one is refused."""
    with pytest.raises(ValueError, match="max_batch"):
        GroupCommitWriter(store_db, max_batch=0)
