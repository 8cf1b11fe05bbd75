"""Quota burn-down arithmetic for the Spend screen: how fast a user spends and when the money runs out.

Exact: amounts are Decimal, times are datetimes; nothing is summed in floats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from llmgw.tui.format import decimal
from llmgw.v1 import user_pb2

NEAR_LIMIT = Decimal("0.8")


@dataclass(frozen=True, slots=True)
class BurnDown:
    """Where one user stands this period, and when at the present pace they reach their limit."""

    user: str
    spent: Decimal
    limit: Decimal
    period_end: datetime
    run_out: datetime | None
    """When the limit is reached at the pace so far; None when never within the period (or nothing spent)."""

    @property
    def used(self) -> Decimal:
        """Spent as a fraction of the limit (1 when the limit is zero)."""
        return Decimal(1) if self.limit <= 0 else self.spent / self.limit

    @property
    def near_limit(self) -> bool:
        """At or above 80% of the limit."""
        return self.used >= NEAR_LIMIT


def burn_down(user: user_pb2.User, now: datetime) -> BurnDown:
    """The user's burn-down: spend so far, pace since the period began, projected run-out."""
    spent, limit = decimal(user.spent_usd), decimal(user.limit_usd)
    start = user.period.start_time.ToDatetime(tzinfo=UTC)
    end = user.period.end_time.ToDatetime(tzinfo=UTC)
    elapsed = Decimal(str(max((now - start).total_seconds(), 1.0)))
    run_out: datetime | None = None
    if spent >= limit:
        run_out = now  # already there (a zero limit allows nothing)
    elif spent > 0:
        seconds_left = (limit - spent) / (spent / elapsed)
        moment = now + _seconds(seconds_left)
        run_out = moment if moment < end else None
    return BurnDown(user.user, spent, limit, end, run_out)


def _seconds(amount: Decimal) -> timedelta:
    # Capped: a pace of a fraction of a cent a year would overflow timedelta and means "never" anyway.
    return timedelta(seconds=int(min(amount, Decimal(10**9))))
