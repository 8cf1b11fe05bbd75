"""Following the request log as rows arrive, from any process or replica that shares the database.

Rows are read onward from an insertion number: SQLite's `rowid` (assigned under
its single write lock, so in commit order) or PostgreSQL's `seq` column (from a
sequence, migration 6). On PostgreSQL a transaction can commit after one that
took later numbers, so each read starts `REREAD_MARGIN` numbers back and the
caller drops ids it has already sent (`FeedCursor` keeps them).

Run these on a thread of their own: on SQLite a connection whose thread left a
statement unfinished keeps reading the snapshot of that moment, and the feed must
always see the latest commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import peewee

from llmgw.server.store.models import RequestRecord

REREAD_MARGIN = 1000
BATCH = 500


def _number() -> peewee.SQL:
    """The insertion number column of the database the models are bound to (through the store's proxy)."""
    db = RequestRecord._meta.database
    bound = db.obj if isinstance(db, peewee.DatabaseProxy) else db
    return peewee.SQL('"seq"' if isinstance(bound, peewee.PostgresqlDatabase) else "rowid")


@dataclass
class FeedCursor:
    """Where a reader of the feed is: the highest number read, and the ids sent within the margin."""

    position: int
    sent: dict[str, int] = field(default_factory=dict)


def start_cursor() -> FeedCursor:
    """A cursor at the end of the log: only rows inserted from now on are read.

    The rows within the re-read margin count as sent already, so the first read
    does not replay them.
    """
    # Read to the end (not .scalar()): a statement left open would pin this connection's snapshot.
    rows = cast(list[tuple[Any, ...]], list(RequestRecord.select(peewee.fn.MAX(_number())).tuples()))
    cursor = FeedCursor(int(rows[0][0] or 0))
    number = _number()
    recent = RequestRecord.select(RequestRecord.id, number.alias("feed_number")).where(
        number > cursor.position - REREAD_MARGIN
    )
    cursor.sent = {str(row[0]): int(row[1]) for row in cast(list[tuple[Any, ...]], list(recent.tuples()))}
    return cursor


def read_new(cursor: FeedCursor, user: str | None) -> list[RequestRecord]:
    """Rows inserted since the cursor (of `user` only, unless None), in insertion order; advances the cursor."""
    number = _number()
    query = (
        RequestRecord.select(RequestRecord, number.alias("feed_number"))
        .where(number > cursor.position - REREAD_MARGIN)
        .order_by(number)
        .limit(BATCH + REREAD_MARGIN)
    )
    if user is not None:
        query = query.where(RequestRecord.user == user)
    fresh: list[RequestRecord] = []
    for row in list(query):
        position = int(cast(Any, row).feed_number)
        cursor.position = max(cursor.position, position)
        if row.id in cursor.sent:
            continue
        cursor.sent[row.id] = position
        fresh.append(row)
    floor = cursor.position - REREAD_MARGIN
    cursor.sent = {record_id: position for record_id, position in cursor.sent.items() if position > floor}
    return fresh
