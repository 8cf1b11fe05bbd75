"""How the UI writes money, times and periods, in one place so every screen agrees.

Times are written relative to `now` when recent, so what a screen shows does not
depend on the wall clock within a session (and snapshot tests stay stable).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from google.protobuf import timestamp_pb2

from llmgw.v1 import quota_pb2, request_record_pb2

FREQUENCY_NAMES: dict[int, str] = {
    quota_pb2.QUOTA_FREQUENCY_DAILY: "daily",
    quota_pb2.QUOTA_FREQUENCY_WEEKLY: "weekly",
    quota_pb2.QUOTA_FREQUENCY_MONTHLY: "monthly",
}
_RESETS: dict[int, str] = {
    quota_pb2.QUOTA_FREQUENCY_DAILY: "resets daily at 00:00 UTC",
    quota_pb2.QUOTA_FREQUENCY_WEEKLY: "resets Mondays at 00:00 UTC",
    quota_pb2.QUOTA_FREQUENCY_MONTHLY: "resets on the 1st at 00:00 UTC",
}
# Every outcome the API defines, from its descriptor, so a new one never shows as `?`.
_SHORTER = {"model access denied": "access denied"}
OUTCOME_NAMES: dict[int, str] = {
    value.number: _SHORTER.get(name, name)
    for value in request_record_pb2.Outcome.DESCRIPTOR.values
    if value.number != request_record_pb2.OUTCOME_UNSPECIFIED
    for name in [value.name.removeprefix("OUTCOME_").replace("_", " ").lower()]
}
_ISO_MOMENT = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?(?:\+00:00|Z)")


def decimal(text: str) -> Decimal:
    """A decimal USD string from the API as a Decimal (0 if empty or malformed)."""
    try:
        return Decimal(text or "0")
    except InvalidOperation:
        return Decimal(0)


def usd(text: str) -> str:
    """A USD amount for people: cents for sums, more digits for the tiny cost of one request."""
    amount = decimal(text)
    if amount != 0 and abs(amount) < Decimal("0.01"):
        return f"${amount:.6f}".rstrip("0")
    return f"${amount:,.2f}"


def readable_times(text: str) -> str:
    """Server text with its ISO 8601 UTC moments written as `2026-12-02 00:00 UTC`."""
    return _ISO_MOMENT.sub(r"\1 \2 UTC", text)


def moment(stamp: timestamp_pb2.Timestamp) -> str:
    """A moment as its absolute UTC time, to the second."""
    return stamp.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S")


def clock(now: datetime) -> str:
    """The time of day (UTC) a screen last loaded its data, for an `as of` line."""
    return now.astimezone(UTC).strftime("%H:%M:%S UTC")


def period(frequency: int) -> str:
    """The quota period and when it starts over, without dates (they follow from the frequency)."""
    return f"{FREQUENCY_NAMES.get(frequency, 'unknown')}, {_RESETS.get(frequency, 'period unknown')}"


def ago(stamp: timestamp_pb2.Timestamp | None, now: datetime, never: str = "never") -> str:
    """A past moment relative to `now`: `just now`, `5 min ago`, `3 h ago`, then the date."""
    if stamp is None:
        return never
    moment = stamp.ToDatetime(tzinfo=UTC)
    seconds = (now - moment).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return moment.strftime("%Y-%m-%d")


def day(stamp: timestamp_pb2.Timestamp | None, never: str = "never") -> str:
    """A moment as its UTC date, or `never` when absent."""
    return never if stamp is None else stamp.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d")


def parse_day(text: str) -> date | None:
    """A YYYY-MM-DD date typed by the user; None when blank. Raises ValueError when malformed."""
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def midnight(on: date) -> datetime:
    """00:00 UTC of a day."""
    return datetime.combine(on, time.min, tzinfo=UTC)


def day_after(on: date) -> datetime:
    """00:00 UTC of the next day, to make a typed end date inclusive."""
    return midnight(on + timedelta(days=1))
