"""SQL text run as it is inside the caller's transaction: the group-commit writer's hot statements.

The writer runs a handful of statements in every group transaction (quota ledger rows,
reservations, rate windows). Building them with peewee's query builder each time cost more
CPU than running them, so they are written once as text with `{p}` placeholders, formatted
once per placeholder style, and values always travel as parameters.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Protocol

import peewee


class Cursor(Protocol):
    """The DB-API cursor methods read here."""

    def fetchone(self) -> Sequence[Any] | None:
        """The next row, None after the last."""

    def fetchall(self) -> list[Sequence[Any]]:
        """The remaining rows."""


def execute_prepared(db: peewee.Database, sql: str, params: Sequence[object]) -> Cursor:
    """Run SQL text as it is, inside the caller's transaction (typed: peewee's stub leaves this bare)."""
    cursor: Cursor = db.execute_sql(sql, params)  # type: ignore[no-untyped-call]
    return cursor


@functools.cache
def statement(template: str, param: str) -> str:
    """A statement's text for one placeholder style."""
    return template.format(p=param)


@functools.cache
def in_list(template: str, param: str, count: int) -> str:
    """A statement whose `{params}` is a list of `count` placeholders (an IN list)."""
    return template.format(params=", ".join([param] * count))


def lock_row(db: peewee.Database, read: str, create: str, key: Sequence[object]) -> Sequence[Any]:
    """Read a row locked until the transaction ends, creating it first when it is missing.

    `read` and `create` are templates taking `key` as their parameters. The row usually
    exists (one per user and period), so it is read first and created only when the read
    finds nothing: one statement per lock instead of two. On SQLite, BEGIN IMMEDIATE already
    holds the write lock; elsewhere the read takes the row lock (FOR UPDATE).
    """
    read_sql = statement(read, db.param)
    if not isinstance(db, peewee.SqliteDatabase):
        read_sql += " FOR UPDATE"
    row = execute_prepared(db, read_sql, key).fetchone()
    if row is None:
        execute_prepared(db, statement(create, db.param), key)
        row = execute_prepared(db, read_sql, key).fetchone()
        if row is None:
            raise peewee.DoesNotExist(f"no row for {key!r} after creating it")
    return row
