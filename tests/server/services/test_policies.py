"""PolicyService and enforcement: defaults, overrides, refusals recorded, filtered model lists, bounds."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import grpc
import pytest

from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.server.app import Gateway
from llmgw.server.settings import SettingsError
from llmgw.server.store import governance_repo
from llmgw.server.store.models import UserModelAccess
from llmgw.v1 import embedding_service_pb2, model_service_pb2, policy_service_pb2
from tests.model_ids import HAIKU, NOVA_MICRO, TITAN
from tests.server.services.conftest import (
    KEY_CACHE_SECONDS,
    Clock,
    Gov,
    ask,
    md,
    reason,
    rows,
)
from tests.support import gateway_settings


def _set(gov: Gov, user: str, *models: str) -> policy_service_pb2.SetModelAccessResponse:
    request = policy_service_pb2.SetModelAccessRequest(user=user, models=models)
    response: policy_service_pb2.SetModelAccessResponse = gov.stubs.policies.SetModelAccess(
        request, metadata=md(gov.root)
    )
    return response


def test_default_is_every_model_and_override_round_trips(gov: Gov) -> None:
    """Without DEFAULT_MODEL_ACCESS everyone may use every model; set, get and reset an override."""
    get = policy_service_pb2.GetModelAccessRequest(user="me")
    default = gov.stubs.policies.GetModelAccess(get, metadata=md(gov.alice)).model_access
    assert (list(default.models), default.is_default) == (["*"], True)
    assert list(_set(gov, "alice", NOVA_MICRO, HAIKU, HAIKU).model_access.models) == [NOVA_MICRO, HAIKU]
    mine = gov.stubs.policies.GetModelAccess(get, metadata=md(gov.alice)).model_access
    assert (list(mine.models), mine.is_default) == ([NOVA_MICRO, HAIKU], False)
    reset = gov.stubs.policies.ResetModelAccess(
        policy_service_pb2.ResetModelAccessRequest(user="alice"), metadata=md(gov.root)
    ).model_access
    assert reset.is_default


def test_denied_model_is_refused_recorded_and_hidden(gov: Gov) -> None:
    """A model outside the policy: chat and embeddings PERMISSION_DENIED (recorded), not listed, GetModel NOT_FOUND."""
    _set(gov, "alice", NOVA_MICRO)
    with pytest.raises(grpc.RpcError) as chat:
        gov.stubs.chat.CreateChatCompletion(ask(model=HAIKU), metadata=md(gov.alice))
    assert chat.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert reason(chat.value) == "MODEL_ACCESS_DENIED"
    with pytest.raises(grpc.RpcError) as embed:
        gov.stubs.embeddings.CreateEmbedding(
            embedding_service_pb2.CreateEmbeddingRequest(model=TITAN, input=["x"]), metadata=md(gov.alice)
        )
    assert embed.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert gov.stubs.chat.CreateChatCompletion(ask(model=NOVA_MICRO), metadata=md(gov.alice)).completion.choices
    listed = gov.stubs.models.ListModels(model_service_pb2.ListModelsRequest(), metadata=md(gov.alice))
    assert [model.id for model in listed.data] == [NOVA_MICRO]
    with pytest.raises(grpc.RpcError) as hidden:
        gov.stubs.models.GetModel(model_service_pb2.GetModelRequest(model=HAIKU), metadata=md(gov.alice))
    assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
    deadline = time.monotonic() + 5
    while len(rows("alice")) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sorted(row.outcome for row in rows("alice")) == ["model_access_denied", "model_access_denied", "success"]
    assert all(row.cost_picodollars == 0 for row in rows("alice") if row.outcome != "success")


def test_unknown_models_and_users_are_refused_and_nothing_written(gov: Gov) -> None:
    """Unknown model ids (named in the error), `*` mixed with ids and unknown users are INVALID_ARGUMENT."""
    for user, models in (
        ("alice", ("no.such-model-v1:0", HAIKU, "other.bad:1")),
        ("alice", ("*", HAIKU)),
        ("nobody-known", (HAIKU,)),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            _set(gov, user, *models)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as named:
        _set(gov, "alice", "no.such-model-v1:0", "other.bad:1")
    assert "no.such-model-v1:0" in (named.value.details() or "")
    assert "other.bad:1" in (named.value.details() or "")
    assert UserModelAccess.select().count() == 0


def test_non_admins_cannot_change_or_read_others_policies(gov: Gov) -> None:
    """Set, reset and reading another user's policy are PERMISSION_DENIED for a non-admin."""
    policies = gov.stubs.policies
    calls: tuple[tuple[Any, Any], ...] = (
        (policies.SetModelAccess, policy_service_pb2.SetModelAccessRequest(user="me", models=[HAIKU])),
        (policies.ResetModelAccess, policy_service_pb2.ResetModelAccessRequest(user="me")),
        (policies.GetModelAccess, policy_service_pb2.GetModelAccessRequest(user="bob")),
    )
    for call, request in calls:
        with pytest.raises(grpc.RpcError) as caught:
            call(request, metadata=md(gov.alice))
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert UserModelAccess.select().count() == 0


def test_change_elsewhere_applies_within_the_cache_time(gov: Gov) -> None:
    """A policy written by another replica (straight to the store) applies here within KEY_CACHE_SECONDS."""
    assert gov.stubs.chat.CreateChatCompletion(ask(), metadata=md(gov.bob)).completion.choices
    governance_repo.set_model_access("bob", (NOVA_MICRO,), gov.clock.now)
    deadline = time.monotonic() + KEY_CACHE_SECONDS + 2
    code = grpc.StatusCode.OK
    while time.monotonic() < deadline and code == grpc.StatusCode.OK:
        try:
            gov.stubs.models.GetModel(model_service_pb2.GetModelRequest(model=HAIKU), metadata=md(gov.bob))
        except grpc.RpcError as error:
            code = error.code()
        time.sleep(0.05)
    assert code == grpc.StatusCode.NOT_FOUND


def test_default_model_access_setting(tmp_path: Path, fake_bedrock: FakeBedrockServer) -> None:
    """DEFAULT_MODEL_ACCESS naming an unknown model stops start-up with an error naming the setting."""
    settings = gateway_settings(tmp_path, fake_bedrock.url, default_model_access=[HAIKU, "no.such-model-v1:0"])
    with pytest.raises(SettingsError, match=r"LLMGW_DEFAULT_MODEL_ACCESS.*no\.such-model-v1:0"):
        Gateway(settings, clock=Clock())
