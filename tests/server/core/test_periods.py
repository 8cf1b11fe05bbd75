"""Quota periods: UTC days, weeks from Monday, calendar months, including year ends and leap days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from llmgw.server.core.periods import QuotaFrequency, period_bounds


@pytest.mark.parametrize(
    ("frequency", "at", "start", "end"),
    [
        ("daily", datetime(2026, 11, 27, 23, 59, 59, tzinfo=UTC), datetime(2026, 11, 27), datetime(2026, 11, 28)),
        ("weekly", datetime(2026, 11, 27, 12, tzinfo=UTC), datetime(2026, 11, 23), datetime(2026, 11, 30)),
        ("weekly", datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 23), datetime(2026, 11, 30)),
        ("weekly", datetime(2026, 12, 31, tzinfo=UTC), datetime(2026, 12, 28), datetime(2027, 1, 4)),
        ("monthly", datetime(2026, 12, 31, 23, tzinfo=UTC), datetime(2026, 12, 1), datetime(2027, 1, 1)),
        ("monthly", datetime(2028, 2, 29, tzinfo=UTC), datetime(2028, 2, 1), datetime(2028, 3, 1)),
        # 01:30 at UTC+2 is still the previous UTC day
        (
            "daily",
            datetime(2026, 11, 27, 1, 30, tzinfo=timezone(timedelta(hours=2))),
            datetime(2026, 11, 26),
            datetime(2026, 11, 27),
        ),
    ],
)
def test_period_bounds(frequency: QuotaFrequency, at: datetime, start: datetime, end: datetime) -> None:
    """Each moment falls in the UTC period that starts and ends where the calendar says."""
    assert period_bounds(frequency, at) == (start.replace(tzinfo=UTC), end.replace(tzinfo=UTC))


def test_naive_moment_is_refused() -> None:
    """A naive datetime has no time zone, so no period."""
    with pytest.raises(ValueError, match="aware"):
        period_bounds("daily", datetime(2026, 1, 1))
