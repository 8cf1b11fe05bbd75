"""API keys in the store: create, look up by secret, list, delete, mark as used.

Synchronous peewee calls; async callers run them in a thread. The secret
exists only in the return value of `create_key`; everything else works from its
keyed hash (llmgw.server.core.keys).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import peewee

from llmgw.server.core.keys import generate_api_key, hash_api_key
from llmgw.server.store.models import ApiKey
from llmgw.wire.echo import echo
from llmgw.wire.errors import InvalidArgument

MAX_NAME_LENGTH = 64
_NAME_PATTERN = re.compile(r"[A-Za-z0-9._-]+")


def validate_key_name(name: str) -> None:
    """Refuse a key name that could not appear in a URL path segment as is.

    Raises InvalidArgument (field "name") for an empty name, one over 64
    characters, or one with characters outside A-Z a-z 0-9 . _ -.
    """
    if not name:
        raise InvalidArgument("a key name is required", field="name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidArgument(f"a key name has at most {MAX_NAME_LENGTH} characters", field="name")
    if not _NAME_PATTERN.fullmatch(name):
        raise InvalidArgument(
            f"key name {echo(name)} may hold only letters, digits, '.', '_' and '-'",
            field="name",
        )


def create_key(
    user: str, name: str, expires_at: datetime | None, server_secret: bytes, *, now: datetime | None = None
) -> tuple[ApiKey, str]:
    """Create a key for `user` and return its row and its secret, which is never available again.

    Raises InvalidArgument for a bad name, an expiry that is naive or not after
    `now`, or a name the user already has on a key that is not deleted.
    """
    validate_key_name(name)
    created_at = now or datetime.now(UTC)
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise InvalidArgument("expires_at needs a time zone", field="expires_at")
        if expires_at <= created_at:
            raise InvalidArgument("expires_at must be in the future", field="expires_at")
    secret = generate_api_key()
    try:
        key = ApiKey.create(
            user=user,
            name=name,
            key_hash=hash_api_key(secret, server_secret),
            created_at=created_at,
            expires_at=expires_at,
        )
    except peewee.IntegrityError:
        raise InvalidArgument(f"a key named {name!r} already exists", field="name") from None
    return key, secret


def find_key_by_hash(key_hash: str) -> ApiKey | None:
    """The key with this hash unless deleted, expired or not: for callers that report expiry themselves."""
    key: ApiKey | None = ApiKey.get_or_none((ApiKey.key_hash == key_hash) & ApiKey.deleted_at.is_null())
    return key


def list_keys(user: str, *, after: str = "", limit: int | None = None) -> list[ApiKey]:
    """The user's keys that are not deleted (expired ones included), by name, from after `after`."""
    query = ApiKey.select().where((ApiKey.user == user) & ApiKey.deleted_at.is_null())
    if after:
        query = query.where(ApiKey.name > after)
    query = query.order_by(ApiKey.name)
    if limit is not None:
        query = query.limit(limit)
    return list(query)


def delete_key(user: str, name: str, *, now: datetime | None = None) -> bool:
    """Delete the user's key of that name (it stops working at once); False when there is none."""
    query = ApiKey.update(deleted_at=now or datetime.now(UTC)).where(
        (ApiKey.user == user) & (ApiKey.name == name) & ApiKey.deleted_at.is_null()
    )
    return bool(query.execute())


def touch_last_used(key_id: int, when: datetime) -> None:
    """Record that the key was used at `when`; an earlier `when` never moves last_used_at back."""
    ApiKey.update(last_used_at=when).where(
        (ApiKey.id == key_id) & (ApiKey.last_used_at.is_null() | (ApiKey.last_used_at < when))
    ).execute()
