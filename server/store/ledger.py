"""The quota ledger: exact spend per user and period, shared by every gateway replica.

One row per (user, period_start) holds `spent_picodollars` (what settled requests
cost) and `reserved_picodollars` (worst-case costs of requests in flight).

- ADMIT, before Bedrock is called: in one transaction with the row locked
  (PostgreSQL: INSERT ... ON CONFLICT DO NOTHING, then SELECT ... FOR UPDATE;
  SQLite: the whole-database write lock of BEGIN IMMEDIATE), refuse when
  spent + reserved >= limit, else add the request's cost bound to reserved.
- SETTLE, after the response (success, error or cancellation): reserved -= bound,
  spent += actual cost, in the group-commit writer's transaction that commits the
  request's row (store/group_commit.py), so the two never disagree.

Since a request is admitted only while spent + reserved is below the limit and
reserves an upper bound of its cost, spend can pass the limit by at most one
request's cost, under any concurrency and any number of replicas: the decision
lives only in the database. The limit itself is read in the admitting transaction,
so a quota change applies to the next admission on every replica.

Admissions are batched: callers queue them on the group-commit writer's thread
(store/group_commit.py), which admits everything queued in its group transaction, each
row locked once, rows in sorted order (so replicas never deadlock). The event
loop only awaits a future; one thread per process writes, so SQLite's single
write lock is never contended within a process.

A reservation is settled into the period it was admitted in. Each one is also a row of
`quota_reservation` with a lease: its owner (the replica that admitted it) renews the leases
of its requests in flight, and a sweep run by every replica releases leases that expired
(their owner died, or lost the database for longer than a lease), logging each. A
settlement releases the bound only if it deletes the reservation's row itself, so a
reservation is released exactly once, whether by its settlement, a sweep or an admin, on
any number of replicas; the actual cost is added either way.

The statements the writer thread runs for every group commit are plain SQL text, written once
per placeholder style (`?` for SQLite, `%s` for PostgreSQL) rather than built by peewee's query
compiler on every call; values still go through the fields' `db_value`, so the columns hold the
same data either way.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import peewee

from llmgw.server.core.money import format_usd
from llmgw.server.core.periods import QuotaFrequency, period_bounds
from llmgw.server.store.models import QuotaLedger, QuotaReservation, RequestRecord, UserQuota
from llmgw.server.store.prepared import execute_prepared, in_list, lock_row, statement
from llmgw.wire.errors import QuotaExceeded

DEFAULT_LEASE_SECONDS = 120.0
_CHUNK = 700  # the most placeholders one statement gets (SQLite allows 32766; PostgreSQL 65535)


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
    id: str = ""
    """The `quota_reservation` row holding it; "" for one that was never written."""


@dataclass(frozen=True, slots=True)
class HeldReservation:
    """A reservation row as admins see it (ListReservations) and sweeps log it."""

    id: str
    user: str
    period_start: datetime
    bound_picodollars: int
    owner: str
    created_at: datetime
    expires_at: datetime


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
_TIME = QuotaReservation.created_at.db_value
_RESERVATION_COLUMNS = '"id", "user", "period_start", "bound_picodollars", "owner", "created_at", "expires_at"'
# Constant text plus placeholders only (the S608 lint cannot see that): values always go as parameters.
_INSERT_RESERVATIONS_SQL = 'INSERT INTO "quota_reservation" (' + _RESERVATION_COLUMNS + ") VALUES {rows}"  # noqa: S608
_DELETE_RESERVATIONS_SQL = 'DELETE FROM "quota_reservation" WHERE "id" IN ({ids}) RETURNING "id"'
_SWEEP_SQL = 'DELETE FROM "quota_reservation" WHERE "expires_at" < {p} RETURNING ' + _RESERVATION_COLUMNS  # noqa: S608
_RELEASE_SQL = (
    'DELETE FROM "quota_reservation" WHERE "id" = {p} AND "user" = {p} RETURNING ' + _RESERVATION_COLUMNS  # noqa: S608
)
_RENEW_SQL = 'UPDATE "quota_reservation" SET "expires_at" = {p} WHERE "owner" = {p}'
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


def apply_settlements(db: peewee.Database, settlements: Iterable[Settlement]) -> None:
    """Release reservations and add actual costs; call inside the caller's transaction.

    A bound is released only when this deletes its reservation row (a sweep or an admin
    may have released it first); the actual cost is always added. Several settlements of
    one ledger row become one UPDATE; rows are updated in sorted order, the order
    admissions lock them in.
    """
    settlements = list(settlements)
    held = _delete_reservations(db, [settlement.reservation.id for settlement in settlements])
    totals: dict[tuple[str, datetime], list[int]] = defaultdict(lambda: [0, 0])
    for settlement in settlements:
        reservation = settlement.reservation
        total = totals[(reservation.user, reservation.period_start)]
        if reservation.id in held:
            held.discard(reservation.id)  # a reservation settled twice in one batch is released once
            total[0] += reservation.bound_picodollars
        total[1] += settlement.actual_picodollars
    _update_ledger(db, totals)


def _update_ledger(db: peewee.Database, totals: dict[tuple[str, datetime], list[int]]) -> None:
    """Reserved -= released bounds, spent += actual costs, per (user, period) in sorted order."""
    sql = statement(_SETTLE_SQL, db.param)
    for (user, period_start), (released, actual) in sorted(totals.items()):
        if released or actual:
            execute_prepared(db, sql, (released, actual, user, _PERIOD_START(period_start)))


def _delete_reservations(db: peewee.Database, ids: Sequence[str]) -> set[str]:
    """Delete these reservation rows; the ids that were still there."""
    wanted = [reservation_id for reservation_id in ids if reservation_id]
    deleted: set[str] = set()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        sql = _DELETE_RESERVATIONS_SQL.format(ids=", ".join([db.param] * len(chunk)))
        deleted.update(str(row[0]) for row in execute_prepared(db, sql, chunk).fetchall())
    return deleted


def _when(value: object) -> datetime:
    """A timestamp column's value as an aware datetime (the columns are NOT NULL)."""
    parsed = QuotaReservation.created_at.python_value(value)
    if parsed is None:
        raise peewee.DataError("a quota_reservation timestamp is NULL")
    return parsed


def _held(row: Sequence[Any]) -> HeldReservation:
    return HeldReservation(
        id=str(row[0]),
        user=str(row[1]),
        period_start=_when(row[2]),
        bound_picodollars=int(row[3]),
        owner=str(row[4]),
        created_at=_when(row[5]),
        expires_at=_when(row[6]),
    )


def _release(db: peewee.Database, released: list[HeldReservation]) -> list[HeldReservation]:
    totals: dict[tuple[str, datetime], list[int]] = defaultdict(lambda: [0, 0])
    for reservation in released:
        totals[(reservation.user, reservation.period_start)][0] += reservation.bound_picodollars
    _update_ledger(db, totals)
    return released


def sweep_expired(db: peewee.Database, now: datetime) -> list[HeldReservation]:
    """Release every reservation whose lease expired before `now`; call inside a transaction.

    Safe when replicas sweep at once: each row is deleted (and its bound released) by
    exactly one of them.
    """
    rows = execute_prepared(db, statement(_SWEEP_SQL, db.param), (_TIME(now),)).fetchall()
    return _release(db, [_held(row) for row in rows])


def release_reservation(db: peewee.Database, user: str, reservation_id: str) -> HeldReservation | None:
    """Release one of the user's reservations (admins); None when there is no such row any more."""
    rows = execute_prepared(db, statement(_RELEASE_SQL, db.param), (reservation_id, user)).fetchall()
    released = _release(db, [_held(row) for row in rows])
    return released[0] if released else None


def renew_leases(db: peewee.Database, owner: str, until: datetime) -> None:
    """Extend the leases of every reservation this replica holds (its requests in flight) to `until`."""
    execute_prepared(db, statement(_RENEW_SQL, db.param), (_TIME(until), owner))


def open_reservations(user: str, limit: int) -> list[HeldReservation]:
    """The user's reservations still held, oldest first, at most `limit`."""
    query = (
        QuotaReservation.select()
        .where(QuotaReservation.user == user)
        .order_by(QuotaReservation.created_at, QuotaReservation.id)
        .limit(limit)
    )
    return [
        HeldReservation(
            row.id, row.user, row.period_start, row.bound_picodollars, row.owner, row.created_at, row.expires_at
        )
        for row in query
    ]


@dataclass(frozen=True, slots=True)
class QuotaRules:
    """What admission needs besides the database: the default quota and the clock."""

    default_frequency: QuotaFrequency
    default_limit_picodollars: int
    clock: Callable[[], datetime]
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    """How long a reservation holds without its owner renewing it (RESERVATION_LEASE_SECONDS)."""
    owner: str = "local"
    """The replica admitting: it renews the leases of its own requests in flight."""


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
        outcomes.append(Reservation(user, bounds[user][0], bound, secrets.token_hex(16)))
    reserve = statement(_RESERVE_SQL, db.param)
    for user in sorted(rows):
        execute_prepared(db, reserve, (rows[user][1], user, _PERIOD_START(bounds[user][0])))
    _insert_reservations(db, rules, now, [outcome for outcome in outcomes if isinstance(outcome, Reservation)])
    return outcomes


def _insert_reservations(db: peewee.Database, rules: QuotaRules, now: datetime, admitted: list[Reservation]) -> None:
    """One `quota_reservation` row per admitted request, leased to this replica."""
    created, expires = _TIME(now), _TIME(now + timedelta(seconds=rules.lease_seconds))
    per_row = 7
    for start in range(0, len(admitted), _CHUNK // per_row):
        chunk = admitted[start : start + _CHUNK // per_row]
        placeholders = "(" + ", ".join([db.param] * per_row) + ")"
        sql = _INSERT_RESERVATIONS_SQL.format(rows=", ".join([placeholders] * len(chunk)))
        params: list[object] = []
        for reservation in chunk:
            params += [
                reservation.id,
                reservation.user,
                _PERIOD_START(reservation.period_start),
                reservation.bound_picodollars,
                rules.owner,
                created,
                expires,
            ]
        execute_prepared(db, sql, params)


def _locked_quota_limits(db: peewee.Database, users: set[str], rules: QuotaRules) -> dict[str, QuotaLimit]:
    """`quota_limits` inside the admitting transaction, from prepared SQL."""
    wanted = sorted(users)
    frequency, limit = rules.default_frequency, rules.default_limit_picodollars
    limits = {user: QuotaLimit(user, frequency, limit, True) for user in wanted}
    for user, own_frequency, own_limit in execute_prepared(
        db, in_list(_QUOTAS_SQL, db.param, len(wanted)), wanted
    ).fetchall():
        limits[user] = QuotaLimit(user, cast(QuotaFrequency, own_frequency), int(own_limit), False)
    return limits


def _lock_row(db: peewee.Database, user: str, period_start: datetime) -> tuple[int, int]:
    """The user's ledger row for the period, locked until the transaction ends (created if missing)."""
    spent, reserved = lock_row(db, _READ_ROW_SQL, _CREATE_ROW_SQL, (user, _PERIOD_START(period_start)))
    return int(spent), int(reserved)


def carry_period(user: str, old: QuotaFrequency, new: QuotaFrequency, now: datetime) -> None:
    """Move the user's spend into the new frequency's current period; call inside a transaction.

    A frequency change must not start the user from zero. Going to a shorter period (weekly
    to daily), the new period's row takes the cost of the requests made since it started,
    taken out of the old, longer period's row (where they were settled). Going to a longer
    period (daily to weekly), the rows of the shorter periods inside it are merged into it.
    The sum over the user's ledger rows stays the sum of their requests either way.
    Reservations stay with the rows they were admitted into and settle there (so for the
    rest of their flight they are not counted against the new period).
    """
    if old == new:
        return
    new_start, _ = period_bounds(new, now)
    old_start, _ = period_bounds(old, now)
    if new_start == old_start:
        return
    if old_start < new_start:
        since = int(
            RequestRecord.select(peewee.fn.COALESCE(peewee.fn.SUM(RequestRecord.cost_picodollars), 0))
            .where((RequestRecord.user == user) & (RequestRecord.created_at >= new_start))
            .scalar()
        )
        if since <= 0 or ledger_entry(user, old_start).spent_picodollars <= 0:
            return  # nothing to move: no row is created
        source = _locked_entry(user, old_start)
        target = _locked_entry(user, new_start)
        moved = min(since, source.spent_picodollars) - target.spent_picodollars
        if moved > 0:
            _add_spent(user, old_start, -moved)
            _add_spent(user, new_start, moved)
        return
    inside = [
        row
        for row in QuotaLedger.select().where(
            (QuotaLedger.user == user) & (QuotaLedger.period_start > new_start) & (QuotaLedger.period_start <= now)
        )
        if row.spent_picodollars
    ]
    if inside:
        _locked_entry(user, new_start)
    for row in inside:
        _add_spent(user, new_start, row.spent_picodollars)
        _add_spent(user, row.period_start, -row.spent_picodollars)


def _locked_entry(user: str, period_start: datetime) -> LedgerEntry:
    """The (user, period) row, created if missing and locked until the transaction ends."""
    db = QuotaLedger._meta.database
    if isinstance(db, peewee.DatabaseProxy):
        db = db.obj
    spent, reserved = _lock_row(db, user, period_start)
    return LedgerEntry(spent, reserved)


def _add_spent(user: str, period_start: datetime, amount: int) -> None:
    QuotaLedger.update(spent_picodollars=QuotaLedger.spent_picodollars + amount).where(
        (QuotaLedger.user == user) & (QuotaLedger.period_start == period_start)
    ).execute()
