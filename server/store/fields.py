"""A datetime column that means the same instant on SQLite and PostgreSQL.

Columns hold naive UTC (SQLite: ISO text; PostgreSQL: TIMESTAMP WITHOUT TIME
ZONE), so a value never shifts with a server's or session's time zone. Python
code on both sides of the column sees aware UTC datetimes only: a naive
datetime is refused on the way in, since its time zone would be a guess.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import peewee

# The stubs make fields generic in their value type; peewee's runtime class is not.
if TYPE_CHECKING:
    _DateTimeField = peewee.DateTimeField[Any]
else:
    _DateTimeField = peewee.DateTimeField


class UtcDateTimeField(_DateTimeField):
    """Stores aware datetimes as naive UTC and returns them as aware UTC."""

    def db_value(self, value: object) -> datetime | None:
        """Convert an aware datetime to naive UTC; refuse a naive one or a non-datetime."""
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"{self.name}: expected a datetime, got {type(value).__name__}")
        if value.utcoffset() is None:
            raise ValueError(f"{self.name}: a naive datetime has no time zone; pass an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def python_value(self, value: object) -> datetime | None:
        """Read naive UTC (ISO text on SQLite, a datetime on PostgreSQL) back as an aware UTC datetime."""
        if value is None:
            return None
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
        if not isinstance(parsed, datetime):
            raise TypeError(f"{self.name}: the column holds {type(value).__name__}, not a datetime")
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
