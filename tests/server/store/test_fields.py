"""Tests for llmgw.server.store.fields, through the ApiKey model on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import peewee
import pytest

from llmgw.server.store.models import ApiKey


def _key(**times: datetime | None) -> ApiKey:
    values: dict[str, object] = {"user": "ann", "name": "k", "key_hash": "h" * 64, "created_at": datetime.now(UTC)}
    values.update(times)
    return ApiKey.create(**values)


def test_aware_datetimes_round_trip_as_utc(store_db: peewee.Database) -> None:
    """A datetime in any zone is read back as the same instant, aware, in UTC, to the microsecond."""
    paris = timezone(timedelta(hours=1))
    created = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=paris)
    key = _key(created_at=created, expires_at=None)
    row = ApiKey.get_by_id(key.id)
    assert row.created_at == created
    assert row.created_at.tzinfo is UTC
    assert row.created_at.hour == 11
    assert row.expires_at is None


def test_comparisons_use_the_instant(store_db: peewee.Database) -> None:
    """Filtering on a datetime column compares instants, whatever zone the bound value has."""
    created = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    _key(created_at=created)
    tokyo = timezone(timedelta(hours=9))
    assert ApiKey.select().where(ApiKey.created_at == created.astimezone(tokyo)).count() == 1
    assert ApiKey.select().where(ApiKey.created_at > created - timedelta(microseconds=1)).count() == 1


def test_naive_datetimes_are_refused(store_db: peewee.Database) -> None:
    """A naive datetime is refused rather than guessed, and nothing is written."""
    with pytest.raises(ValueError, match="naive"):
        _key(created_at=datetime(2026, 3, 1, 12, 0))
    assert ApiKey.select().count() == 0
