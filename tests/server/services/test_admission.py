"""The step before Bedrock, on a real store: catalog, model access, then the quota reservation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import peewee
import pytest

from llmgw.server.core.application_profiles import ModelDirectory
from llmgw.server.core.catalog import Catalog
from llmgw.server.governance.admission import Governance
from llmgw.server.governance.identity import Principal
from llmgw.server.governance.model_access import Access, ModelAccessCache
from llmgw.server.services.admission import Admission
from llmgw.server.services.recording import RequestTrace
from llmgw.server.store import governance_repo
from llmgw.server.store.group_commit import GroupCommitWriter
from llmgw.server.store.ledger import QuotaRules
from llmgw.server.store.runner import DatabaseRunner
from llmgw.wire.errors import ModelAccessDenied, ModelNotFound, QuotaExceeded
from tests.model_ids import HAIKU, NOVA_MICRO

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
LIMIT = 10**12  # one dollar
ALICE = Principal(user="alice", key_name="laptop", key_id=1, is_admin=False)


@pytest.fixture
async def admission(store_db: peewee.Database) -> AsyncIterator[Admission]:
    db = DatabaseRunner(threads=1)
    writer = GroupCommitWriter(store_db, quota_rules=QuotaRules("daily", LIMIT, lambda: NOW))
    writer.start()
    access = ModelAccessCache(Access(None, True), db, cache_seconds=0)
    yield Admission(ModelDirectory(Catalog.load()), Governance(access, writer))
    await writer.close()
    db.close()


def trace(model_id: str) -> RequestTrace:
    return RequestTrace("chatcmpl", "chat", ALICE, model_id, NOW)


async def test_an_allowed_model_is_admitted_with_its_reservation(admission: Admission) -> None:
    request = trace(HAIKU)
    model = await admission.model(request)
    assert model.id == HAIKU
    assert request.model is None
    await admission.admit(request, model, LIMIT // 4)
    assert request.model is model
    assert request.reservation is not None
    assert request.reservation.bound_picodollars == LIMIT // 4


async def test_unknown_and_forbidden_models_stop_before_the_quota(admission: Admission) -> None:
    with pytest.raises(ModelNotFound):
        await admission.model(trace("no.such-model"))
    governance_repo.set_model_access("alice", (HAIKU,), NOW)
    with pytest.raises(ModelAccessDenied):
        await admission.model(trace(NOVA_MICRO))


async def test_a_bound_past_the_remaining_quota_is_refused(admission: Admission) -> None:
    first = trace(HAIKU)
    model = await admission.model(first)
    await admission.admit(first, model, LIMIT)
    second = trace(HAIKU)
    with pytest.raises(QuotaExceeded):
        await admission.admit(second, model, 1)
    assert second.reservation is None
    assert second.model is None
