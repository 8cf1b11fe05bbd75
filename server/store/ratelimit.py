"""Per-user rate limits (requests and tokens per minute), shared by every gateway replica.

Windows are fixed UTC calendar minutes: one `rate_window` row per (user, minute)
counts the requests admitted and the tokens used in it. Limits are DEFAULT_RPM and
DEFAULT_TPM, or the user's own row in `user_rate_limit`; 0 means unlimited, and a
user with neither limit never touches `rate_window`.

- ADMIT, with the quota admission, in the group-commit writer's group transaction
  (store/group_commit.py): the user's window row is created if missing and locked (as
  the quota ledger locks its rows: SELECT ... FOR UPDATE on PostgreSQL, the write
  lock on SQLite), rows in sorted order. A request is refused when the window
  already holds RPM requests, or TPM tokens; otherwise its request is counted.
- CHARGE, when a request's row is committed: its input + output tokens are added
  to the window of the minute it started in, in the same transaction as the row.

Bounds, under any concurrency and any number of replicas sharing the database:
within one calendar minute a user is admitted at most RPM requests (the count is
decided under the row lock); since windows are fixed, any sliding 60 seconds
that spans a window boundary can see up to 2 x RPM. Tokens are known only when a
request ends, so a window's tokens can pass TPM by the tokens of the requests
admitted (still in flight) before it was reached; once reached, nothing more is
admitted until the next minute. A refused request learns how many seconds remain
in the window (its Retry-After).

Which users have limits is read in each admitting transaction, so a change through
the Quotas service applies to the next admission on every replica.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import peewee

from llmgw.server.store.models import RateWindow, UserRateLimit
from llmgw.server.store.prepared import execute_prepared, in_list, lock_row, statement
from llmgw.wire.errors import RateLimited

WINDOW = timedelta(minutes=1)
MAX_RPM = 1_000_000
MAX_TPM = 1_000_000_000


@dataclass(frozen=True, slots=True)
class UserRate:
    """A user's rate limits in effect (0 = unlimited): their own row, or the defaults."""

    user: str
    requests_per_minute: int
    tokens_per_minute: int
    is_default: bool

    @property
    def limited(self) -> bool:
        """Whether either limit applies."""
        return self.requests_per_minute > 0 or self.tokens_per_minute > 0


# The writer's statements as SQL text (store/prepared.py), as the ledger's are.
_WINDOW_START = RateWindow.window_start.db_value
_LIMITS_SQL = (
    'SELECT "user", "requests_per_minute", "tokens_per_minute" FROM "user_rate_limit" WHERE "user" IN ({params})'
)
_CREATE_WINDOW_SQL = (
    'INSERT INTO "rate_window" ("user", "window_start", "requests", "tokens") VALUES ({p}, {p}, 0, 0) '
    "ON CONFLICT DO NOTHING"
)
_READ_WINDOW_SQL = 'SELECT "requests", "tokens" FROM "rate_window" WHERE "user" = {p} AND "window_start" = {p}'
_WRITE_WINDOW_SQL = (
    'UPDATE "rate_window" SET "requests" = {p}, "tokens" = {p} WHERE "user" = {p} AND "window_start" = {p}'
)


def window_start(when: datetime) -> datetime:
    """The start of the UTC minute `when` falls in."""
    return when.replace(second=0, microsecond=0)


def rate_limits(users: Iterable[str], default_rpm: int, default_tpm: int) -> dict[str, UserRate]:
    """The limits in effect for each user (one query for all of them)."""
    wanted = sorted(set(users))
    limits = {user: UserRate(user, default_rpm, default_tpm, True) for user in wanted}
    for row in UserRateLimit.select().where(UserRateLimit.user.in_(wanted)):
        limits[row.user] = UserRate(row.user, int(row.requests_per_minute), int(row.tokens_per_minute), False)
    return limits


def set_rate_limit(user: str, requests_per_minute: int, tokens_per_minute: int, now: datetime) -> None:
    """Give the user their own limits, replacing any they had."""
    UserRateLimit.insert(
        user=user, requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute, updated_at=now
    ).on_conflict(
        conflict_target=[UserRateLimit.user],
        update={
            UserRateLimit.requests_per_minute: requests_per_minute,
            UserRateLimit.tokens_per_minute: tokens_per_minute,
            UserRateLimit.updated_at: now,
        },
    ).execute()


def reset_rate_limit(user: str) -> None:
    """Remove the user's own limits so the defaults apply."""
    UserRateLimit.delete().where(UserRateLimit.user == user).execute()


class RateLimiter:
    """Admits and charges rate windows inside the group-commit writer's transactions (one thread).

    It remembers which users it admitted as limited, so charging tokens costs
    nothing for the (usual) users without limits.
    """

    def __init__(self, default_rpm: int, default_tpm: int, clock: Callable[[], datetime]) -> None:
        self._default_rpm = default_rpm
        self._default_tpm = default_tpm
        self._clock = clock
        self._limited_users: set[str] = set()

    def apply(
        self, db: peewee.Database, usage: Iterable[tuple[str, datetime, int]], users: Sequence[str]
    ) -> list[RateLimited | None]:
        """Charge finished requests' tokens, then admit new requests; call inside the writer's transaction.

        `usage` is (user, started at, tokens) of the requests whose rows commit now;
        `users` are the callers asking for admission, in arrival order. Returns a
        RateLimited for each refused caller, None for each admitted one. Every window
        row is locked once, all in one sorted pass, so replicas never deadlock here.
        """
        now = self._clock()
        start = window_start(now)
        limits = self._limits(db, users) if users else {}
        admitting = sorted(user for user, rate in limits.items() if rate.limited)
        self._limited_users.update(admitting)
        charges: dict[tuple[str, datetime], int] = defaultdict(int)
        for user, started, tokens in usage:
            if tokens > 0 and user in self._limited_users:
                charges[(user, window_start(started))] += tokens
        keys = sorted({*charges, *((user, start) for user in admitting)})
        if not keys:
            return [None] * len(users)
        rows = {key: _lock_window(db, *key) for key in keys}
        for key, tokens in charges.items():
            rows[key] = (rows[key][0], rows[key][1] + tokens)
        retry_after = max(1, math.ceil((start + WINDOW - now).total_seconds()))
        outcomes = [self._admit_one(limits.get(user), rows, (user, start), retry_after) for user in users]
        write = statement(_WRITE_WINDOW_SQL, db.param)
        for (user, started), (requests, tokens) in rows.items():
            execute_prepared(db, write, (requests, tokens, user, _WINDOW_START(started)))
        return outcomes

    def _limits(self, db: peewee.Database, users: Sequence[str]) -> dict[str, UserRate]:
        """`rate_limits`, read inside the writer's transaction from prepared SQL."""
        wanted = sorted(set(users))
        limits = {user: UserRate(user, self._default_rpm, self._default_tpm, True) for user in wanted}
        for user, requests_per_minute, tokens_per_minute in execute_prepared(
            db, in_list(_LIMITS_SQL, db.param, len(wanted)), wanted
        ).fetchall():
            limits[user] = UserRate(user, int(requests_per_minute), int(tokens_per_minute), False)
        return limits

    @staticmethod
    def _admit_one(
        rate: UserRate | None,
        rows: dict[tuple[str, datetime], tuple[int, int]],
        key: tuple[str, datetime],
        retry_after: int,
    ) -> RateLimited | None:
        if rate is None or not rate.limited:
            return None
        requests, tokens = rows[key]
        if rate.requests_per_minute and requests >= rate.requests_per_minute:
            what = f"{rate.requests_per_minute} requests per minute"
        elif rate.tokens_per_minute and tokens >= rate.tokens_per_minute:
            what = f"{rate.tokens_per_minute} tokens per minute"
        else:
            rows[key] = (requests + 1, tokens)
            return None
        return RateLimited(f"Rate limit reached: {what}. Retry in {retry_after} s.", retry_after)


def _lock_window(db: peewee.Database, user: str, start: datetime) -> tuple[int, int]:
    """The user's window row for the minute, locked until the transaction ends (created if missing)."""
    requests, tokens = lock_row(db, _READ_WINDOW_SQL, _CREATE_WINDOW_SQL, (user, _WINDOW_START(start)))
    return int(requests), int(tokens)
