"""The users the gateway knows, page by page, with what ListUsers shows about each.

A known user is an admin, or anyone who has had a key or has settings of their
own. Everything about one page of users is read in a handful of queries, one per
table, never one per user.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import peewee

from llmgw.server.core.periods import QuotaFrequency, period_bounds
from llmgw.server.store.ledger import quota_limits
from llmgw.server.store.models import (
    ApiKey,
    QuotaLedger,
    RequestRecord,
    UserModelAccess,
    UserQuota,
    UserRateLimit,
)


@dataclass(frozen=True, slots=True)
class UserSummary:
    """One user as ListUsers shows them."""

    user: str
    keys: int
    spent_picodollars: int
    limit_picodollars: int
    frequency: QuotaFrequency
    period_start: datetime
    period_end: datetime
    last_request_at: datetime | None
    has_own_quota: bool
    has_own_policy: bool
    has_own_rate_limit: bool
    is_admin: bool


def user_names(after: str, limit: int, admins: Iterable[str]) -> list[str]:
    """Up to `limit` known user names after `after`, sorted."""
    union: Any = ApiKey.select(ApiKey.user.alias("name"))
    for model in (UserQuota, UserModelAccess, UserRateLimit):
        union = union | model.select(model.user.alias("name"))  # UNION: distinct names
    named = union.alias("known")
    query = (
        peewee.Select(from_list=[named], columns=[named.c.name])
        .where(named.c.name > after)
        .order_by(named.c.name)
        .limit(limit)
        .bind(ApiKey._meta.database)
    )
    stored = {str(row[0]) for row in cast(Iterable[tuple[Any, ...]], query.tuples())}
    wanted = stored | {admin for admin in admins if admin > after}
    return sorted(wanted)[:limit]


def summaries(
    users: list[str],
    default_frequency: QuotaFrequency,
    default_limit: int,
    is_admin: Callable[[str], bool],
    now: datetime,
) -> list[UserSummary]:
    """What ListUsers shows about each of `users`, in the same order."""
    keys = dict(
        cast(
            Iterable[tuple[str, int]],
            ApiKey.select(ApiKey.user, peewee.fn.COUNT(ApiKey.id))
            .where(ApiKey.user.in_(users) & ApiKey.deleted_at.is_null())
            .group_by(ApiKey.user)
            .tuples(),
        )
    )
    last = dict(
        cast(
            Iterable[tuple[str, datetime]],
            RequestRecord.select(RequestRecord.user, peewee.fn.MAX(RequestRecord.created_at))
            .where(RequestRecord.user.in_(users))
            .group_by(RequestRecord.user)
            .tuples(),
        )
    )
    policies = {row.user for row in UserModelAccess.select(UserModelAccess.user).where(UserModelAccess.user.in_(users))}
    rates = {row.user for row in UserRateLimit.select(UserRateLimit.user).where(UserRateLimit.user.in_(users))}
    limits = quota_limits(users, default_frequency, default_limit)
    bounds = {user: period_bounds(limits[user].frequency, now) for user in users}
    spent = {
        (row.user, row.period_start): row.spent_picodollars
        for row in QuotaLedger.select().where(
            QuotaLedger.user.in_(users) & QuotaLedger.period_start.in_(sorted({start for start, _ in bounds.values()}))
        )
    }
    return [
        UserSummary(
            user=user,
            keys=int(keys.get(user, 0)),
            spent_picodollars=int(spent.get((user, bounds[user][0]), 0)),
            limit_picodollars=limits[user].limit_picodollars,
            frequency=limits[user].frequency,
            period_start=bounds[user][0],
            period_end=bounds[user][1],
            last_request_at=_aware(last.get(user)),
            has_own_quota=not limits[user].is_default,
            has_own_policy=user in policies,
            has_own_rate_limit=user in rates,
            is_admin=is_admin(user),
        )
        for user in users
    ]


def _aware(value: object) -> datetime | None:
    """MAX() bypasses the column's conversion: read the raw value as the UTC moment the column stores."""
    if value is None:
        return None
    return cast(datetime, RequestRecord.created_at.python_value(value))
