"""The quota ledger in the store: admission against the limit, settlement, defaults and overrides."""

from __future__ import annotations

import concurrent.futures
from datetime import UTC, datetime

import peewee
import pytest

from llmgw.server.store import governance_repo
from llmgw.server.store.ledger import (
    QuotaRules,
    Reservation,
    Settlement,
    admit_batch,
    apply_settlements,
    ledger_entry,
)
from llmgw.wire.errors import QuotaExceeded

NOW = datetime(2026, 11, 27, 15, tzinfo=UTC)
MONDAY = datetime(2026, 11, 23, tzinfo=UTC)
RULES = QuotaRules("weekly", 100, lambda: NOW)


def _admit(db: peewee.Database, *requests: tuple[str, int]) -> list[Reservation | QuotaExceeded]:
    with db.atomic():
        return admit_batch(db, RULES, list(requests))


def test_admits_until_spent_plus_reserved_reaches_the_limit(store_db: peewee.Database) -> None:
    """In arrival order, requests reserve their bounds while the total is below the limit; the rest are refused."""
    outcomes = _admit(store_db, ("ann", 40), ("ann", 40), ("ann", 40), ("ann", 1), ("ben", 5))
    assert [type(outcome).__name__ for outcome in outcomes] == [
        "Reservation",
        "Reservation",
        "Reservation",
        "QuotaExceeded",
        "Reservation",
    ]
    first = outcomes[0]
    assert isinstance(first, Reservation)
    assert (first.user, first.period_start, first.bound_picodollars) == ("ann", MONDAY, 40)
    assert len({outcome.id for outcome in outcomes if isinstance(outcome, Reservation)}) == 4
    assert ledger_entry("ann", MONDAY).reserved_picodollars == 120


def test_settlement_replaces_bounds_with_actual_costs(store_db: peewee.Database) -> None:
    """Settling releases each bound and adds the actual cost; room frees up for the next admission."""
    first, second = _admit(store_db, ("ann", 60), ("ann", 60))
    assert isinstance(first, Reservation)
    assert isinstance(second, Reservation)
    with store_db.atomic():
        apply_settlements(store_db, [Settlement(first, 10), Settlement(second, 15)])
    entry = ledger_entry("ann", MONDAY)
    assert (entry.spent_picodollars, entry.reserved_picodollars) == (25, 0)
    assert isinstance(_admit(store_db, ("ann", 1000))[0], Reservation)


def test_overrides_set_limit_and_period(store_db: peewee.Database) -> None:
    """A user's own quota replaces the default in the admitting transaction (daily period, zero limit)."""
    governance_repo.set_quota("ann", "daily", 0, NOW)
    [refused] = _admit(store_db, ("ann", 1))
    assert isinstance(refused, QuotaExceeded)
    governance_repo.set_quota("ann", "daily", 50, NOW)
    [admitted] = _admit(store_db, ("ann", 1))
    assert isinstance(admitted, Reservation)
    assert (admitted.period_start, admitted.bound_picodollars) == (datetime(2026, 11, 27, tzinfo=UTC), 1)


def test_concurrent_admitters_never_overshoot(store_db: peewee.Database) -> None:
    """Four threads admitting one request at a time each: at most one reservation crosses the limit."""

    def admit_many() -> int:
        admitted = 0
        for _ in range(10):
            with store_db.atomic():
                [outcome] = admit_batch(store_db, RULES, [("ann", 30)])
            admitted += isinstance(outcome, Reservation)
        store_db.close()
        return admitted

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        admitted = sum(pool.map(lambda _: admit_many(), range(4)))
    assert admitted == 4  # 0, 30, 60, 90 are below 100; 120 is not
    assert ledger_entry("ann", MONDAY).reserved_picodollars == 120


@pytest.mark.parametrize("bound", [0, 99])
def test_limit_is_reached_exactly(store_db: peewee.Database, bound: int) -> None:
    """Spent + reserved equal to the limit refuses the next request."""
    _admit(store_db, ("ann", 100))
    [outcome] = _admit(store_db, ("ann", bound))
    assert isinstance(outcome, QuotaExceeded)
