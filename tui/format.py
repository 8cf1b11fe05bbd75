"""How the UI writes money, times and periods, in one place so every screen agrees.

Times are written relative to `now` when recent, so what a screen shows does not
depend on the wall clock within a session (and snapshot tests stay stable).
"""

from __future__ import annotations

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
OUTCOME_NAMES: dict[int, str] = {
    request_record_pb2.OUTCOME_SUCCESS: "success",
    request_record_pb2.OUTCOME_QUOTA_EXCEEDED: "quota exceeded",
    request_record_pb2.OUTCOME_MODEL_ACCESS_DENIED: "access denied",
    request_record_pb2.OUTCOME_ERROR: "error",
    request_record_pb2.OUTCOME_CANCELLED: "cancelled",
}


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
