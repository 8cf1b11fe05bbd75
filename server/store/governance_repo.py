"""Per-user quota and model-access overrides in the store, and who counts as a known user.

Synchronous peewee calls; async callers run them in a thread. Every write is one
statement (or one transaction), so a refused request writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from llmgw.server.core.periods import QuotaFrequency
from llmgw.server.store.models import ApiKey, RequestRecord, UserModelAccess, UserQuota
from llmgw.wire.errors import InvalidArgument

ALL_MODELS = "*"


def require_known_user(user: str, is_admin: Callable[[str], bool]) -> None:
    """Refuse settings for a user the gateway does not know: not an admin, never had a key, never called.

    A user who signed in with SSO and made a request is known without a key.
    Raises InvalidArgument naming the field, so a typo in a user name writes nothing.
    """
    if is_admin(user) or ApiKey.select(ApiKey.id).where(ApiKey.user == user).exists():
        return
    if not RequestRecord.select(RequestRecord.id).where(RequestRecord.user == user).exists():
        raise InvalidArgument(
            f"unknown user {user!r} (no key and no request yet; an SSO identity such as 'Alice Smith' "
            "is the user 'Alice~20Smith'): create a key for them first",
            field="user",
        )


def set_quota(user: str, frequency: QuotaFrequency, limit_picodollars: int, now: datetime) -> None:
    """Give the user their own quota, replacing any they had."""
    UserQuota.insert(user=user, frequency=frequency, limit_picodollars=limit_picodollars, updated_at=now).on_conflict(
        conflict_target=[UserQuota.user],
        update={
            UserQuota.frequency: frequency,
            UserQuota.limit_picodollars: limit_picodollars,
            UserQuota.updated_at: now,
        },
    ).execute()


def reset_quota(user: str) -> None:
    """Remove the user's own quota so the defaults apply."""
    UserQuota.delete().where(UserQuota.user == user).execute()


def get_model_access(user: str) -> tuple[str, ...] | None:
    """The user's own allowed model ids (`*` alone for all), or None when the default applies."""
    row = UserModelAccess.get_or_none(UserModelAccess.user == user)
    if row is None:
        return None
    text: str = row.models
    return tuple(text.split("\n")) if text else ()


def set_model_access(user: str, models: tuple[str, ...], now: datetime) -> None:
    """Give the user their own model access (ids already checked against the catalog)."""
    text = "\n".join(sorted(set(models)))
    UserModelAccess.insert(user=user, models=text, updated_at=now).on_conflict(
        conflict_target=[UserModelAccess.user],
        update={UserModelAccess.models: text, UserModelAccess.updated_at: now},
    ).execute()


def reset_model_access(user: str) -> None:
    """Remove the user's own model access so DEFAULT_MODEL_ACCESS applies."""
    UserModelAccess.delete().where(UserModelAccess.user == user).execute()
