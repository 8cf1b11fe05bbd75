"""The quota ledger: exact spend per user and period, shared by every gateway replica.

One row per (user, period_start) holds `spent_picodollars` (what settled requests
cost) and `reserved_picodollars` (worst-case costs of requests in flight).

- ADMIT, before Bedrock is called: in one transaction with the row locked
  (PostgreSQL: INSERT ... ON CONFLICT DO NOTHING, then SELECT ... FOR UPDATE;
  SQLite: the whole-database write lock of BEGIN IMMEDIATE), refuse when
  spent + reserved >= limit, else add the request's cost bound to reserved.
- SETTLE, after the response (success, error or cancellation): reserved -= bound,
  spent += actual cost, in the request-log writer's transaction that commits the
  request's row (store/group_commit.py), so the two never disagree.

Since a request is admitted only while spent + reserved is below the limit and
reserves an upper bound of its cost, spend can pass the limit by at most one
request's cost, under any concurrency and any number of replicas: the decision
lives only in the database. The limit itself is read in the admitting transaction,
so a quota change applies to the next admission on every replica.

Admissions are batched: callers queue them on the request-log writer's thread
(store/group_commit.py), which admits everything queued in its group transaction, each
row locked once, rows in sorted order (so replicas never deadlock). The event
loop only awaits a future; one thread per process writes, so SQLite's single
write lock is never contended within a process.

A reservation is settled into the period it was admitted in. If a process dies
between admit and settle, its reservation stays held until that period ends
(the row of the next period starts at zero): the failure refuses early, it
never lets spend through.

The statements the writer thread runs for every group commit are plain SQL text, written once
per placeholder style (`?` for SQLite, `%s` for PostgreSQL) rather than built by peewee's query
compiler on every call; values still go through the fields' `db_value`, so the columns hold the
same data either way.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

import peewee

from llmgw.server.core.money import format_usd
from llmgw.server.core.periods import QuotaFrequency, period_bounds
from llmgw.server.store.models import QuotaLedger, UserQuota
from llmgw.wire.errors import QuotaExceeded


@dataclass(frozen=True, slots=True)
class QuotaLimit:
    """A user's quota in effect: their own row, or the defaults."""

    user: str
    frequency: QuotaFrequency
    limit_picodollars: int
    is_default: bool


@dataclass(frozen=True, slots=True)
class Reservation:
    """What an admitted request holds in the ledger until it settles."""

    user: str
    period_start: datetime
    bound_picodollars: int


@dataclass(frozen=True, slots=True)
class Settlement:
    """A reservation released and replaced by the request's actual cost."""

    reservation: Reservation
    actual_picodollars: int


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """A user's spend and reservations in one period."""

    spent_picodollars: int
    reserved_picodollars: int


def quota_limits(users: Iterable[str], default_frequency: QuotaFrequency, default_limit: int) -> dict[str, QuotaLimit]:
    """The quota in effect for each user (one query for all of them)."""
    wanted = sorted(set(users))
    limits = {user: QuotaLimit(user, default_frequency, default_limit, True) for user in wanted}
    for row in UserQuota.select().where(UserQuota.user.in_(wanted)):
        limits[row.user] = QuotaLimit(row.user, cast(QuotaFrequency, row.frequency), row.limit_picodollars, False)
    return limits


def ledger_entry(user: str, period_start: datetime) -> LedgerEntry:
    """The user's row for the period, zero when there is none yet."""
    row = QuotaLedger.get_or_none((QuotaLedger.user == user) & (QuotaLedger.period_start == period_start))
    if row is None:
        return LedgerEntry(0, 0)
    return LedgerEntry(row.spent_picodollars, row.reserved_picodollars)


_PERIOD_START = QuotaLedger.period_start.db_value
_SETTLE_SQL = (
    'UPDATE "quota_ledger" SET "reserved_picodollars" = "reserved_picodollars" - {p}, '
    '"spent_picodollars" = "spent_picodollars" + {p} WHERE "user" = {p} AND "period_start" = {p}'
)
_RESERVE_SQL = 'UPDATE "quota_ledger" SET "reserved_picodollars" = {p} WHERE "user" = {p} AND "period_start" = {p}'
_CREATE_ROW_SQL = (
    'INSERT INTO "quota_ledger" ("user", "period_start", "spent_picodollars", "reserved_picodollars") '
    "VALUES ({p}, {p}, 0, 0) ON CONFLICT DO NOTHING"
)
_READ_ROW_SQL = (
    'SELECT "spent_picodollars", "reserved_picodollars" FROM "quota_ledger" WHERE "user" = {p} AND "period_start" = {p}'
)
_QUOTAS_SQL = 'SELECT "user", "frequency", "limit_picodollars" FROM "user_quota" WHERE "user" IN ({params})'


class Cursor(Protocol):
    """The DB-API cursor methods read here."""

    def fetchone(self) -> Sequence[Any] | None:
        """The next row, None after the last."""

    def fetchall(self) -> list[Sequence[Any]]:
        """The remaining rows."""


def execute_prepared(db: peewee.Database, sql: str, params: Sequence[object]) -> Cursor:
    """Run SQL text as it is, inside the caller's transaction (typed: peewee's stub leaves this bare)."""
    cursor: Cursor = db.execute_sql(sql, params)  # type: ignore[no-untyped-call]
    return cursor


@functools.cache
def _sql(template: str, param: str) -> str:
    """A statement's text for one placeholder style."""
    return template.format(p=param)


@functools.cache
def _quotas_sql(param: str, count: int) -> str:
    """The quota lookup for `count` users."""
    return _QUOTAS_SQL.format(params=", ".join([param] * count))


def apply_settlements(db: peewee.Database, settlements: Iterable[Settlement]) -> None:
    """Release reservations and add actual costs; call inside the caller's transaction.

    Several settlements of one row become one UPDATE; rows are updated in sorted
    order, the order admissions lock them in.
    """
    totals: dict[tuple[str, datetime], list[int]] = defaultdict(lambda: [0, 0])
    for settlement in settlements:
        reservation = settlement.reservation
        total = totals[(reservation.user, reservation.period_start)]
        total[0] += reservation.bound_picodollars
        total[1] += settlement.actual_picodollars
    if not totals:
        return
    sql = _sql(_SETTLE_SQL, db.param)
    for (user, period_start), (bound, actual) in sorted(totals.items()):
        execute_prepared(db, sql, (bound, actual, user, _PERIOD_START(period_start)))


@dataclass(frozen=True, slots=True)
class QuotaRules:
    """What admission needs besides the database: the default quota and the clock."""

    default_frequency: QuotaFrequency
    default_limit_picodollars: int
    clock: Callable[[], datetime]


def admit_batch(
    db: peewee.Database, rules: QuotaRules, requests: Sequence[tuple[str, int]]
) -> list[Reservation | QuotaExceeded]:
    """Admit (user, cost bound) requests in arrival order; call inside the caller's transaction.

    Each (user, period) row is locked once, rows in sorted order, and written once.
    """
    now = rules.clock()
    limits = _locked_quota_limits(db, {user for user, _ in requests}, rules)
    bounds = {user: period_bounds(limit.frequency, now) for user, limit in limits.items()}
    rows = {user: _lock_row(db, user, bounds[user][0]) for user in sorted(limits)}
    outcomes: list[Reservation | QuotaExceeded] = []
    for user, bound in requests:
        spent, reserved = rows[user]
        limit = limits[user]
        if spent + reserved >= limit.limit_picodollars:
            outcomes.append(
                QuotaExceeded(
                    f"Quota exceeded: {format_usd(spent)} of {format_usd(limit.limit_picodollars)} USD spent in the "
                    f"current {limit.frequency} period (requests in flight included); it starts over at "
                    f"{bounds[user][1].isoformat()}."
                )
            )
            continue
        rows[user] = (spent, reserved + bound)
        outcomes.append(Reservation(user, bounds[user][0], bound))
    reserve = _sql(_RESERVE_SQL, db.param)
    for user in sorted(rows):
        execute_prepared(db, reserve, (rows[user][1], user, _PERIOD_START(bounds[user][0])))
    return outcomes


def _locked_quota_limits(db: peewee.Database, users: set[str], rules: QuotaRules) -> dict[str, QuotaLimit]:
    """`quota_limits` inside the admitting transaction, from prepared SQL."""
    wanted = sorted(users)
    frequency, limit = rules.default_frequency, rules.default_limit_picodollars
    limits = {user: QuotaLimit(user, frequency, limit, True) for user in wanted}
    for user, own_frequency, own_limit in execute_prepared(db, _quotas_sql(db.param, len(wanted)), wanted).fetchall():
        limits[user] = QuotaLimit(user, cast(QuotaFrequency, own_frequency), int(own_limit), False)
    return limits


def _lock_row(db: peewee.Database, user: str, period_start: datetime) -> tuple[int, int]:
    """Read the row locked until the transaction ends, creating it first when it is missing.

    The row usually exists (one per user and period), so it is read first and created only
    when the read finds nothing: one statement per admission instead of two.
    """
    key = (user, _PERIOD_START(period_start))
    read = _sql(_READ_ROW_SQL, db.param)
    if not isinstance(db, peewee.SqliteDatabase):  # SQLite: BEGIN IMMEDIATE already holds the write lock
        read += " FOR UPDATE"
    row = execute_prepared(db, read, key).fetchone()
    if row is None:
        execute_prepared(db, _sql(_CREATE_ROW_SQL, db.param), key)
        row = execute_prepared(db, read, key).fetchone()
        if row is None:
            raise peewee.DoesNotExist(f"no quota_ledger row for {user} at {period_start.isoformat()}")
    return int(row[0]), int(row[1])
