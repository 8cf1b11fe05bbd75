"""Rate windows in the store: requests and tokens per minute, defaults, overrides and the retry delay."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import peewee

from llmgw.server.store.models import RateWindow
from llmgw.server.store.ratelimit import RateLimiter, rate_limits, reset_rate_limit, set_rate_limit
from llmgw.wire.errors import RateLimited

MINUTE = datetime(2026, 11, 27, 15, 4, tzinfo=UTC)


@dataclass
class Clock:
    """A settable clock."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


def _apply(
    db: peewee.Database, limiter: RateLimiter, users: list[str], usage: Iterable[tuple[str, datetime, int]] = ()
) -> list[RateLimited | None]:
    with db.atomic():
        return limiter.apply(db, list(usage), users)


def test_requests_per_minute_refuse_the_excess_with_the_seconds_left(store_db: peewee.Database) -> None:
    """With RPM 3, the fourth request of the minute is refused with the seconds to the next minute."""
    clock = Clock(MINUTE + timedelta(seconds=45, milliseconds=500))
    limiter = RateLimiter(3, 0, clock)
    outcomes = _apply(store_db, limiter, ["ann", "ann"]) + _apply(store_db, limiter, ["ann", "ann"])
    assert outcomes[:3] == [None, None, None]
    refusal = outcomes[3]
    assert isinstance(refusal, RateLimited)
    assert refusal.retry_after_seconds == 15
    assert "3 requests per minute" in refusal.message
    clock.now = MINUTE + timedelta(minutes=1)
    assert _apply(store_db, limiter, ["ann"]) == [None]


def test_tokens_per_minute_refuse_once_charged_tokens_reach_the_limit(store_db: peewee.Database) -> None:
    """Tokens of finished requests count toward TPM; admission stops once the window holds TPM tokens."""
    clock = Clock(MINUTE + timedelta(seconds=10))
    limiter = RateLimiter(0, 100, clock)
    assert _apply(store_db, limiter, ["ann"]) == [None]
    assert _apply(store_db, limiter, ["ann"], [("ann", MINUTE + timedelta(seconds=5), 60)]) == [None]
    [refusal] = _apply(store_db, limiter, ["ann"], [("ann", MINUTE + timedelta(seconds=6), 40)])
    assert isinstance(refusal, RateLimited)
    assert "100 tokens per minute" in refusal.message
    row = RateWindow.get((RateWindow.user == "ann") & (RateWindow.window_start == MINUTE))
    assert (row.requests, row.tokens) == (2, 100)


def test_overrides_replace_the_defaults_and_unlimited_users_write_nothing(store_db: peewee.Database) -> None:
    """A user's own limits win over the defaults; 0 is unlimited; reset restores the defaults."""
    limiter = RateLimiter(0, 0, Clock(MINUTE))
    set_rate_limit("ann", 1, 0, MINUTE)
    assert [type(outcome).__name__ for outcome in _apply(store_db, limiter, ["ann", "ann", "ben"])] == [
        "NoneType",
        "RateLimited",
        "NoneType",
    ]
    assert [row.user for row in RateWindow.select()] == ["ann"]
    assert rate_limits(["ann", "ben"], 5, 7)["ben"].is_default
    reset_rate_limit("ann")
    limit = rate_limits(["ann"], 5, 7)["ann"]
    assert (limit.requests_per_minute, limit.tokens_per_minute, limit.is_default) == (5, 7, True)
