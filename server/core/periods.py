"""Quota periods: UTC calendar days, weeks starting Monday, calendar months.

A quota's spend starts over at the beginning of each period, so the start of the
period a moment falls in is the ledger's key for that moment's spend.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

QuotaFrequency = Literal["daily", "weekly", "monthly"]
FREQUENCIES: tuple[QuotaFrequency, ...] = ("daily", "weekly", "monthly")


def period_bounds(frequency: QuotaFrequency, at: datetime) -> tuple[datetime, datetime]:
    """The (start, end) in aware UTC of the period of this frequency that contains `at`.

    Raises ValueError for a naive `at`: its time zone would be a guess.
    """
    if at.utcoffset() is None:
        raise ValueError("period_bounds needs an aware datetime")
    day = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if frequency == "daily":
        return day, day + timedelta(days=1)
    if frequency == "weekly":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    start = day.replace(day=1)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end
