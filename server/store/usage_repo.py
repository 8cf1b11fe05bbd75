"""Queries over the request log: filtered pages (newest first) and spend summaries.

Sums are computed by the database as exact integers on SQLite and PostgreSQL
(PostgreSQL's SUM of a BIGINT is NUMERIC, read back as an exact Decimal).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

import peewee

from llmgw.server.store.models import RequestRecord

_LIKE_ESCAPE = "!"


@dataclass(frozen=True, slots=True)
class RequestFilter:
    """Which request records to read; empty or None fields do not filter.

    `model` matches every model id containing it, ignoring case ("opus" finds every
    Opus model); `key_name` and `outcome` match exactly.
    """

    user: str | None = None
    key_name: str = ""
    model: str = ""
    outcome: str = ""
    start_time: datetime | None = None
    end_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class ModelTotal:
    """Requests, tokens and cost of one model."""

    model: str
    requests: int
    input_tokens: int
    output_tokens: int
    cost_picodollars: int


@dataclass(frozen=True, slots=True)
class DayTotal:
    """Requests and cost of one UTC day."""

    day: date
    requests: int
    cost_picodollars: int


def _where(query: peewee.ModelSelect[Any], selected: RequestFilter) -> peewee.ModelSelect[Any]:
    if selected.user is not None:
        query = query.where(RequestRecord.user == selected.user)
    if selected.key_name:
        query = query.where(RequestRecord.key_name == selected.key_name)
    if selected.model:
        query = query.where(_contains_ignoring_case(RequestRecord.model, selected.model))
    if selected.outcome:
        query = query.where(RequestRecord.outcome == selected.outcome)
    if selected.start_time is not None:
        query = query.where(RequestRecord.created_at >= selected.start_time)
    if selected.end_time is not None:
        query = query.where(RequestRecord.created_at < selected.end_time)
    return query


def _contains_ignoring_case(column: peewee.Field, text: str) -> peewee.NodeList:
    """`column` contains `text`, ignoring the case of A-Z, with `%`, `_` and the escape taken literally.

    LOWER on both sides rather than ILIKE (PostgreSQL only) or LIKE's own folding
    (SQLite's), so both databases match the same rows; SQLite's LOWER folds only A-Z,
    which is all model ids use.
    """
    literal = text.lower()
    for special in (_LIKE_ESCAPE, "%", "_"):  # the escape character first, so its own doubling is not redone
        literal = literal.replace(special, _LIKE_ESCAPE + special)
    pattern = f"%{literal}%"
    return peewee.NodeList(
        (peewee.fn.LOWER(column), peewee.SQL("LIKE"), pattern, peewee.SQL(f"ESCAPE '{_LIKE_ESCAPE}'"))
    )


def list_requests(
    selected: RequestFilter, limit: int, after: tuple[datetime, str] | None = None
) -> list[RequestRecord]:
    """Up to `limit` records, newest first (ties by id), after the (created_at, id) of a previous page's last."""
    query = _where(RequestRecord.select(), selected)
    if after is not None:
        created_at, record_id = after
        query = query.where(
            (RequestRecord.created_at < created_at)
            | ((RequestRecord.created_at == created_at) & (RequestRecord.id < record_id))
        )
    page = query.order_by(RequestRecord.created_at.desc(), RequestRecord.id.desc()).limit(limit)
    return cast(list[RequestRecord], list(page))


def totals_by_model(selected: RequestFilter) -> list[ModelTotal]:
    """Per-model totals, most expensive first (then by model id)."""
    query = _where(
        RequestRecord.select(
            RequestRecord.model,
            peewee.fn.COUNT(RequestRecord.id),
            peewee.fn.SUM(RequestRecord.input_tokens),
            peewee.fn.SUM(RequestRecord.output_tokens),
            peewee.fn.SUM(RequestRecord.cost_picodollars),
        ),
        selected,
    ).group_by(RequestRecord.model)
    totals = [
        ModelTotal(str(model), int(count), int(inputs or 0), int(outputs or 0), int(cost or 0))
        for model, count, inputs, outputs, cost in _tuples(query)
    ]
    return sorted(totals, key=lambda total: (-total.cost_picodollars, total.model))


@dataclass(frozen=True, slots=True)
class GroupTotal:
    """Requests and cost of one user, or of one user's key."""

    user: str
    key_name: str
    requests: int
    cost_picodollars: int


def top_spenders(selected: RequestFilter, limit: int, *, by_key: bool) -> list[GroupTotal]:
    """The `limit` users (or user's keys, with `by_key`) that spent most, most first (ties by name)."""
    columns = [RequestRecord.user, *([RequestRecord.key_name] if by_key else [])]
    cost = peewee.fn.SUM(RequestRecord.cost_picodollars)
    query = (
        _where(RequestRecord.select(*columns, peewee.fn.COUNT(RequestRecord.id), cost), selected)
        .group_by(*columns)
        .order_by(cost.desc(), *columns)
        .limit(limit)
    )
    return [
        GroupTotal(str(row[0]), str(row[1]) if by_key else "", int(row[-2]), int(row[-1] or 0))
        for row in _tuples(query)
    ]


def totals_by_day(selected: RequestFilter) -> list[DayTotal]:
    """Per-UTC-day totals of the days that have requests, oldest first."""
    day = peewee.fn.DATE(RequestRecord.created_at).coerce(False)  # a date, not the column's datetime
    query = _where(
        RequestRecord.select(day, peewee.fn.COUNT(RequestRecord.id), peewee.fn.SUM(RequestRecord.cost_picodollars)),
        selected,
    ).group_by(day)
    totals = [
        DayTotal(value if isinstance(value, date) else date.fromisoformat(str(value)), int(count), int(cost or 0))
        for value, count, cost in _tuples(query)
    ]
    return sorted(totals, key=lambda total: total.day)


def _tuples(query: peewee.ModelSelect[Any]) -> Iterable[tuple[Any, ...]]:
    """The rows of an aggregate query as plain tuples (the peewee stub types them as models)."""
    return cast(Iterable[tuple[Any, ...]], query.tuples())
