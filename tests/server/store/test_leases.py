"""Reservation leases: one row per reservation, released exactly once by settlement, sweep or admin."""

from __future__ import annotations

import asyncio
import concurrent.futures
from datetime import UTC, datetime, timedelta
from pathlib import Path

import peewee
import pytest

from llmgw.server.store.group_commit import GroupCommitWriter, RequestRow, spool_record
from llmgw.server.store.ledger import (
    QuotaRules,
    Reservation,
    Settlement,
    admit_batch,
    apply_settlements,
    ledger_entry,
    open_reservations,
    release_reservation,
    renew_leases,
    sweep_expired,
)
from llmgw.server.store.models import RequestRecord
from llmgw.server.store.spool import Spool

NOW = datetime(2026, 11, 27, 15, tzinfo=UTC)
MONDAY = datetime(2026, 11, 23, tzinfo=UTC)
LEASE = 60.0


def _rules(owner: str = "replica-a", now: datetime = NOW) -> QuotaRules:
    return QuotaRules("weekly", 10_000, lambda: now, lease_seconds=LEASE, owner=owner)


def _admit(db: peewee.Database, bound: int, owner: str = "replica-a", count: int = 1) -> list[Reservation]:
    with db.atomic():
        outcomes = admit_batch(db, _rules(owner), [("ann", bound)] * count)
    assert all(isinstance(outcome, Reservation) for outcome in outcomes)
    return [outcome for outcome in outcomes if isinstance(outcome, Reservation)]


def test_admission_writes_a_leased_row(store_db: peewee.Database) -> None:
    """Each admitted request has a reservation row with its bound, owner and lease."""
    [reservation] = _admit(store_db, 40)
    [held] = open_reservations("ann", 10)
    assert (held.id, held.bound_picodollars, held.owner) == (reservation.id, 40, "replica-a")
    assert held.expires_at == NOW + timedelta(seconds=LEASE)


def test_sweep_releases_expired_leases_once(store_db: peewee.Database) -> None:
    """Only expired leases are swept; a settlement after the sweep adds its cost but releases nothing twice."""
    first, second = _admit(store_db, 40, count=2)
    with store_db.atomic():
        renew_leases(store_db, "nobody", NOW + timedelta(hours=1))
        assert sweep_expired(store_db, NOW) == []
        released = sweep_expired(store_db, NOW + timedelta(seconds=LEASE + 1))
    assert {held.id for held in released} == {first.id, second.id}
    assert ledger_entry("ann", MONDAY).reserved_picodollars == 0
    with store_db.atomic():
        apply_settlements(store_db, [Settlement(first, 7)])
    entry = ledger_entry("ann", MONDAY)
    assert (entry.spent_picodollars, entry.reserved_picodollars) == (7, 0)


def test_renewal_keeps_a_live_replicas_leases(store_db: peewee.Database) -> None:
    """A replica that renews keeps its reservations past the original lease; another's still expire."""
    [mine] = _admit(store_db, 10, owner="replica-a")
    [theirs] = _admit(store_db, 20, owner="replica-b")
    later = NOW + timedelta(seconds=LEASE + 1)
    with store_db.atomic():
        renew_leases(store_db, "replica-a", later + timedelta(seconds=LEASE))
        released = sweep_expired(store_db, later)
    assert [held.id for held in released] == [theirs.id]
    assert [held.id for held in open_reservations("ann", 10)] == [mine.id]
    assert ledger_entry("ann", MONDAY).reserved_picodollars == 10


def test_admin_release_then_settlement(store_db: peewee.Database) -> None:
    """An admin release frees the bound at once; the later settlement only adds the actual cost."""
    [reservation] = _admit(store_db, 50)
    with store_db.atomic():
        held = release_reservation(store_db, "ann", reservation.id)
        assert release_reservation(store_db, "ann", reservation.id) is None
        assert release_reservation(store_db, "bob", reservation.id) is None
    assert held is not None
    assert held.bound_picodollars == 50
    with store_db.atomic():
        apply_settlements(store_db, [Settlement(reservation, 3)])
    entry = ledger_entry("ann", MONDAY)
    assert (entry.spent_picodollars, entry.reserved_picodollars) == (3, 0)


@pytest.mark.postgres
def test_concurrent_sweeps_release_each_lease_once(store_url: str, store_db: peewee.Database) -> None:
    """Replicas sweeping at the same moment never release a reservation twice (the ledger never goes negative)."""
    _admit(store_db, 5, count=200)
    later = NOW + timedelta(seconds=LEASE + 1)

    def sweep() -> int:
        try:
            with store_db.atomic():
                return len(sweep_expired(store_db, later))
        finally:
            store_db.close()

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        counts = list(pool.map(lambda _: sweep(), range(4)))
    assert sum(counts) == 200
    assert ledger_entry("ann", MONDAY).reserved_picodollars == 0


def _row(row_id: str, cost: int) -> RequestRow:
    return RequestRow(row_id, "ann", "main", "m", "chat", 1, 1, cost, 1, None, "success", "", NOW)


def test_spool_replay_is_idempotent(store_db: peewee.Database, tmp_path: Path) -> None:
    """Spooled rows replay once: a row already committed adds no spend, a missing one adds its cost."""
    first, second = _admit(store_db, 100, count=2)
    spool = Spool(tmp_path / "spool.jsonl")
    writer = GroupCommitWriter(store_db, quota_rules=_rules(), spool=spool)
    writer.start()
    try:
        writer.record_nowait(_row("already", 30), Settlement(first, 30)).result(10)
        spool.append([spool_record(_row("already", 30), Settlement(first, 30))])
        spool.append([spool_record(_row("missing", 40), Settlement(second, 40))] * 2)
        assert spool.pending()
        assert asyncio.run(writer.maintain()) == []
    finally:
        writer.close_blocking()
    assert not Spool(tmp_path / "spool.jsonl").pending()
    entry = ledger_entry("ann", MONDAY)
    assert (entry.spent_picodollars, entry.reserved_picodollars) == (70, 0)
    assert sorted(record.id for record in RequestRecord.select()) == ["already", "missing"]
