"""Tests for llmgw.server.store.keys_repo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import peewee
import pytest

from llmgw.server.core.keys import hash_api_key
from llmgw.server.store.keys_repo import (
    create_key,
    delete_key,
    find_key_by_hash,
    list_keys,
    touch_last_used,
)
from llmgw.server.store.models import ApiKey
from llmgw.wire.errors import InvalidArgument
from tests.conftest import run_sql

SERVER_SECRET = b"s" * 48
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def lookup(secret: str, server_secret: bytes = SERVER_SECRET) -> ApiKey | None:
    """The key a secret names, as the authenticator finds it: by its keyed hash."""
    return find_key_by_hash(hash_api_key(secret, server_secret))


def test_created_key_is_found_by_its_secret(store_db: peewee.Database) -> None:
    """The one-time secret finds the key; the row holds only its keyed hash."""
    key, secret = create_key("ann", "laptop", None, SERVER_SECRET, now=NOW)
    found = lookup(secret)
    assert found is not None
    assert (found.id, found.user, found.name, found.created_at, found.expires_at) == (
        key.id,
        "ann",
        "laptop",
        NOW,
        None,
    )
    assert found.key_hash == hash_api_key(secret, SERVER_SECRET)
    assert lookup(secret, b"t" * 48) is None


@pytest.mark.parametrize("secret", ["", "garbage", "sk-llmgw-" + "A" * 43])
def test_unknown_or_malformed_secret_finds_nothing(store_db: peewee.Database, secret: str) -> None:
    """Garbage and well-formed unknown secrets both find nothing."""
    create_key("ann", "laptop", None, SERVER_SECRET, now=NOW)
    assert lookup(secret) is None


def test_secret_is_never_stored(store_db: peewee.Database, store_url: str) -> None:
    """The secret appears in no column of the row, and (on SQLite) nowhere in the database files."""
    _, secret = create_key("ann", "laptop", NOW + timedelta(days=1), SERVER_SECRET, now=NOW)
    for row in run_sql(store_db, "SELECT * FROM api_key"):
        assert all(secret not in str(value) for value in row)
    if store_url.startswith("sqlite:///"):
        path = Path(store_url.removeprefix("sqlite:///"))
        files = [file for file in path.parent.iterdir() if file.name.startswith(path.name)]
        assert path in files
        body = secret.removeprefix("sk-llmgw-").encode()
        for file in files:
            assert body not in file.read_bytes()


def test_duplicate_name_is_refused(store_db: peewee.Database) -> None:
    """A second live key with the same name for the same user is refused; other users may use it."""
    create_key("ann", "laptop", None, SERVER_SECRET, now=NOW)
    with pytest.raises(InvalidArgument, match="a key named 'laptop' already exists") as raised:
        create_key("ann", "laptop", None, SERVER_SECRET, now=NOW)
    assert raised.value.field == "name"
    create_key("bob", "laptop", None, SERVER_SECRET, now=NOW)
    assert [key.user for key in ApiKey.select().order_by(ApiKey.user)] == ["ann", "bob"]


@pytest.mark.parametrize("name", ["", "x" * 65, "has space", "slash/name", "naïve", "semi;colon"])
def test_bad_names_are_refused(store_db: peewee.Database, name: str) -> None:
    """Empty, over-long and out-of-alphabet names are refused and nothing is stored."""
    with pytest.raises(InvalidArgument) as raised:
        create_key("ann", name, None, SERVER_SECRET, now=NOW)
    assert raised.value.field == "name"
    assert ApiKey.select().count() == 0


def test_longest_and_punctuated_names_are_accepted(store_db: peewee.Database) -> None:
    """Names of 64 characters from the allowed alphabet are accepted."""
    name = "Ab0._-" + "z" * 58
    key, _ = create_key("ann", name, None, SERVER_SECRET, now=NOW)
    assert key.name == name


@pytest.mark.parametrize(
    "expires_at",
    [NOW, NOW - timedelta(seconds=1), datetime(2027, 1, 1)],
)
def test_bad_expiry_is_refused(store_db: peewee.Database, expires_at: datetime) -> None:
    """An expiry not after creation, or without a time zone, is refused."""
    with pytest.raises(InvalidArgument) as raised:
        create_key("ann", "laptop", expires_at, SERVER_SECRET, now=NOW)
    assert raised.value.field == "expires_at"


def test_expired_key_is_found_but_not_usable(store_db: peewee.Database) -> None:
    """A key stops being usable at its expiry; the lookup still reports it, so expiry can be named."""
    expires_at = NOW + timedelta(hours=1)
    _, secret = create_key("ann", "laptop", expires_at, SERVER_SECRET, now=NOW)
    row = lookup(secret)
    assert row is not None
    assert row.expires_at == expires_at
    assert row.is_usable(expires_at - timedelta(microseconds=1))
    assert not row.is_usable(expires_at)


def test_deleted_key_stops_working_and_frees_its_name(store_db: peewee.Database) -> None:
    """Deleting a key hides it at once and lets the name be used again."""
    _, old_secret = create_key("ann", "laptop", None, SERVER_SECRET, now=NOW)
    assert delete_key("ann", "laptop", now=NOW)
    assert not delete_key("ann", "laptop", now=NOW)
    assert lookup(old_secret) is None
    assert find_key_by_hash(hash_api_key(old_secret, SERVER_SECRET)) is None
    assert list_keys("ann") == []
    _, new_secret = create_key("ann", "laptop", None, SERVER_SECRET, now=NOW)
    assert lookup(new_secret) is not None
    assert lookup(old_secret) is None


def test_delete_needs_the_owner(store_db: peewee.Database) -> None:
    """Another user's key of the same name is not deleted."""
    create_key("ann", "laptop", None, SERVER_SECRET, now=NOW)
    assert not delete_key("bob", "laptop", now=NOW)
    assert [key.name for key in list_keys("ann")] == ["laptop"]


def test_list_keys_is_per_user_and_by_name(store_db: peewee.Database) -> None:
    """A user sees their own live keys, expired ones included, ordered by name."""
    create_key("ann", "b", None, SERVER_SECRET, now=NOW)
    create_key("ann", "a", NOW + timedelta(seconds=1), SERVER_SECRET, now=NOW)
    create_key("bob", "c", None, SERVER_SECRET, now=NOW)
    assert [key.name for key in list_keys("ann")] == ["a", "b"]


def test_touch_last_used_only_moves_forward(store_db: peewee.Database) -> None:
    """last_used_at takes the latest time it is told, whatever the order of the updates."""
    key, _ = create_key("ann", "laptop", None, SERVER_SECRET, now=NOW)
    later = NOW + timedelta(minutes=5)
    touch_last_used(key.id, later)
    touch_last_used(key.id, NOW + timedelta(minutes=1))
    assert ApiKey.get_by_id(key.id).last_used_at == later
