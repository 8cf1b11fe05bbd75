"""Model access from the store, cached per user, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import peewee
import pytest

from llmgw.server.core.catalog import Catalog
from llmgw.server.governance.model_access import Access, ModelAccessCache, default_access
from llmgw.server.settings import SettingsError
from llmgw.server.store import governance_repo
from llmgw.server.store.runner import DatabaseRunner
from llmgw.wire.errors import ModelAccessDenied
from tests.model_ids import HAIKU, NOVA_MICRO

NOW = datetime(2026, 12, 1, tzinfo=UTC)
LONG_CACHE_S = 3600.0


@pytest.fixture
async def runner(store_db: peewee.Database) -> AsyncIterator[DatabaseRunner]:
    db = DatabaseRunner(threads=1)
    yield db
    db.close()


def test_the_default_is_every_model_or_the_listed_ones() -> None:
    catalog = Catalog.load()
    assert default_access(catalog, ()).allows(HAIKU)
    assert default_access(catalog, ("*",)).allows(NOVA_MICRO)
    listed = default_access(catalog, (HAIKU,))
    assert listed.allows(HAIKU)
    assert not listed.allows(NOVA_MICRO)
    with pytest.raises(SettingsError, match="LLMGW_DEFAULT_MODEL_ACCESS"):
        default_access(catalog, ("no.such-model",))


async def test_a_users_own_policy_replaces_the_default(runner: DatabaseRunner) -> None:
    cache = ModelAccessCache(Access(None, True), runner, cache_seconds=0)
    await cache.check("alice", NOVA_MICRO)
    governance_repo.set_model_access("alice", (HAIKU,), NOW)
    own = await cache.access("alice")
    assert own == Access(frozenset({HAIKU}), False)
    await cache.check("alice", HAIKU)
    with pytest.raises(ModelAccessDenied, match=NOVA_MICRO):
        await cache.check("alice", NOVA_MICRO)
    await cache.check("bob", NOVA_MICRO)


async def test_the_cache_holds_until_invalidated(runner: DatabaseRunner) -> None:
    cache = ModelAccessCache(Access(None, True), runner, cache_seconds=LONG_CACHE_S)
    assert (await cache.access("alice")).is_default
    governance_repo.set_model_access("alice", (HAIKU,), NOW)
    assert (await cache.access("alice")).is_default
    cache.invalidate("alice")
    assert not (await cache.access("alice")).allows(NOVA_MICRO)
