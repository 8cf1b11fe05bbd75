"""KeyService and roles: self-service keys, isolation between users, deletion bounds, no secret anywhere."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2

from llmgw.server.store import keys_repo
from llmgw.server.store.models import ApiKey
from llmgw.v1 import key_pb2, key_service_pb2, model_service_pb2
from tests.server.services.conftest import KEY_CACHE_SECONDS, Gov, md, reason


def _ts(gov: Gov, delta: timedelta) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(gov.clock.now + delta)
    return stamp


def test_create_list_delete_own_keys(gov: Gov) -> None:
    """A user creates a key that works, sees it listed without its secret, deletes it and it stops at once."""
    keys = gov.stubs.keys
    created = keys.CreateKey(
        key_service_pb2.CreateKeyRequest(name="laptop", expires_at=_ts(gov, timedelta(days=2))), metadata=md(gov.alice)
    )
    assert created.secret.startswith("sk-llmgw-")
    assert created.key.user == "alice"
    assert created.key.status == key_pb2.KEY_STATUS_VALID
    gov.stubs.models.ListModels(model_service_pb2.ListModelsRequest(), metadata=md(created.secret))
    listed = keys.ListKeys(key_service_pb2.ListKeysRequest(), metadata=md(gov.alice))
    assert [key.name for key in listed.keys] == ["laptop", "main"]
    assert created.secret not in str(listed)
    keys.DeleteKey(key_service_pb2.DeleteKeyRequest(name="laptop"), metadata=md(gov.alice))
    with pytest.raises(grpc.RpcError) as refused:
        gov.stubs.models.ListModels(model_service_pb2.ListModelsRequest(), metadata=md(created.secret))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as again:
        keys.DeleteKey(key_service_pb2.DeleteKeyRequest(name="laptop"), metadata=md(gov.alice))
    assert again.value.code() == grpc.StatusCode.NOT_FOUND


def test_status_and_expiry_follow_the_clock(gov: Gov) -> None:
    """A key past its expiry lists as expired and is refused, by the injected clock."""
    created = gov.stubs.keys.CreateKey(
        key_service_pb2.CreateKeyRequest(name="short", expires_at=_ts(gov, timedelta(hours=1))), metadata=md(gov.bob)
    )
    gov.clock.advance(timedelta(hours=2))
    listed = gov.stubs.keys.ListKeys(key_service_pb2.ListKeysRequest(), metadata=md(gov.bob))
    assert {key.name: key.status for key in listed.keys}["short"] == key_pb2.KEY_STATUS_EXPIRED
    with pytest.raises(grpc.RpcError) as refused:
        gov.stubs.models.ListModels(model_service_pb2.ListModelsRequest(), metadata=md(created.secret))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_users_cannot_reach_each_others_keys(gov: Gov) -> None:
    """Naming bob is PERMISSION_DENIED for alice, reveals nothing and changes nothing."""
    keys = gov.stubs.keys
    bob_main = keys.ListKeys(key_service_pb2.ListKeysRequest(), metadata=md(gov.bob)).keys
    assert [key.name for key in bob_main] == ["main"]
    calls: tuple[tuple[Any, Any], ...] = (
        (keys.ListKeys, key_service_pb2.ListKeysRequest(user="bob")),
        (keys.DeleteKey, key_service_pb2.DeleteKeyRequest(name="main", user="bob")),
        (keys.CreateKey, key_service_pb2.CreateKeyRequest(name="evil", user="bob")),
    )
    for call, request in calls:
        with pytest.raises(grpc.RpcError) as denied:
            call(request, metadata=md(gov.alice))
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "main" not in (denied.value.details() or "")
    assert [key.name for key in keys.ListKeys(key_service_pb2.ListKeysRequest(), metadata=md(gov.bob)).keys] == ["main"]


def test_missing_key_and_another_users_key_answer_alike(gov: Gov) -> None:
    """DeleteKey of bob's key name by alice, and of a name nobody has, give the same status and message."""
    answers = []
    gov.stubs.keys.CreateKey(key_service_pb2.CreateKeyRequest(name="shared-name"), metadata=md(gov.bob))
    for name in ("shared-name", "nobody-has-this"):
        with pytest.raises(grpc.RpcError) as caught:
            gov.stubs.keys.DeleteKey(key_service_pb2.DeleteKeyRequest(name=name), metadata=md(gov.alice))
        answers.append((caught.value.code(), reason(caught.value), (caught.value.details() or "").replace(name, "X")))
    assert answers[0] == answers[1]
    assert answers[0][0] == grpc.StatusCode.NOT_FOUND
    assert [
        key.name for key in gov.stubs.keys.ListKeys(key_service_pb2.ListKeysRequest(), metadata=md(gov.bob)).keys
    ] == [
        "main",
        "shared-name",
    ]


def test_admin_manages_any_users_keys(gov: Gov) -> None:
    """An admin creates, lists and deletes keys for another user; the key acts as that user."""
    keys = gov.stubs.keys
    created = keys.CreateKey(key_service_pb2.CreateKeyRequest(name="ci", user="carol"), metadata=md(gov.root))
    assert created.key.user == "carol"
    listed = keys.ListKeys(key_service_pb2.ListKeysRequest(user="carol"), metadata=md(gov.root))
    assert [key.name for key in listed.keys] == ["ci"]
    keys.DeleteKey(key_service_pb2.DeleteKeyRequest(name="ci", user="carol"), metadata=md(gov.root))
    assert not keys.ListKeys(key_service_pb2.ListKeysRequest(user="carol"), metadata=md(gov.root)).keys


def test_bad_key_requests_write_nothing(gov: Gov) -> None:
    """Empty, malformed and duplicate names and a past expiry are INVALID_ARGUMENT and create no key."""
    before = ApiKey.select().count()
    for request in (
        key_service_pb2.CreateKeyRequest(name=""),
        key_service_pb2.CreateKeyRequest(name="has space"),
        key_service_pb2.CreateKeyRequest(name="x" * 65),
        key_service_pb2.CreateKeyRequest(name="main"),
        key_service_pb2.CreateKeyRequest(name="past", expires_at=_ts(gov, timedelta(seconds=-1))),
        key_service_pb2.CreateKeyRequest(name="ok", user="bad user!"),
    ):
        key = gov.root if request.user else gov.alice
        with pytest.raises(grpc.RpcError) as caught:
            gov.stubs.keys.CreateKey(request, metadata=md(key))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request
    assert ApiKey.select().count() == before


def test_list_keys_pages(gov: Gov) -> None:
    """ListKeys pages by name with an opaque token; a forged token is INVALID_ARGUMENT."""
    for number in range(5):
        gov.stubs.keys.CreateKey(key_service_pb2.CreateKeyRequest(name=f"k{number}"), metadata=md(gov.bob))
    names: list[str] = []
    token = ""
    while True:
        page = gov.stubs.keys.ListKeys(
            key_service_pb2.ListKeysRequest(page_size=2, page_token=token), metadata=md(gov.bob)
        )
        names += [key.name for key in page.keys]
        token = page.next_page_token
        if not token:
            break
    assert names == ["k0", "k1", "k2", "k3", "k4", "main"]
    with pytest.raises(grpc.RpcError) as caught:
        gov.stubs.keys.ListKeys(key_service_pb2.ListKeysRequest(page_token="!!!"), metadata=md(gov.bob))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_key_deleted_on_another_replica_stops_within_the_cache_time(gov: Gov) -> None:
    """A deletion this replica did not see (another replica's) takes effect within KEY_CACHE_SECONDS."""
    secret = gov.gateway.create_key("alice", "elsewhere")
    request = model_service_pb2.ListModelsRequest()
    gov.stubs.models.ListModels(request, metadata=md(secret))  # now cached here
    assert keys_repo.delete_key("alice", "elsewhere")  # what another replica's DeleteKey writes
    deadline = time.monotonic() + KEY_CACHE_SECONDS + 2
    code = grpc.StatusCode.OK
    while time.monotonic() < deadline and code == grpc.StatusCode.OK:
        try:
            gov.stubs.models.ListModels(request, metadata=md(secret))
        except grpc.RpcError as error:
            code = error.code()
        time.sleep(0.05)
    assert code == grpc.StatusCode.UNAUTHENTICATED, "a key deleted elsewhere kept working past KEY_CACHE_SECONDS"


def test_last_used_is_recorded(gov: Gov) -> None:
    """A key's first use shows up as last_used_at (through the writer, not the call's path)."""
    gov.stubs.models.ListModels(model_service_pb2.ListModelsRequest(), metadata=md(gov.bob))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        listed = gov.stubs.keys.ListKeys(key_service_pb2.ListKeysRequest(), metadata=md(gov.bob))
        if listed.keys[0].HasField("last_used_at"):
            return
        time.sleep(0.05)
    pytest.fail("last_used_at was never written")


def test_no_secret_in_database_logs_or_listings(gov: Gov, caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    """The secrets CreateKey returns appear in no database file, log record or ListKeys response."""
    caplog.set_level(logging.DEBUG)
    secrets = [
        gov.stubs.keys.CreateKey(key_service_pb2.CreateKeyRequest(name=f"s{n}"), metadata=md(gov.alice)).secret
        for n in range(3)
    ]
    gov.stubs.models.ListModels(model_service_pb2.ListModelsRequest(), metadata=md(secrets[0]))
    listing = gov.stubs.keys.ListKeys(key_service_pb2.ListKeysRequest(), metadata=md(gov.alice))
    stored = b"".join(path.read_bytes() for path in tmp_path.rglob("*") if path.is_file())
    rows = str(list(ApiKey.select().dicts()))
    for secret in secrets:
        assert secret.encode() not in stored
        assert secret not in rows
        assert secret not in caplog.text
        assert secret not in str(listing)


def test_get_caller(gov: Gov) -> None:
    """GetCaller names the key's owner, key and role, and refuses a bad key (the bridge's pre-body check)."""
    caller = gov.stubs.keys.GetCaller(key_service_pb2.GetCallerRequest(), metadata=md(gov.root))
    assert (caller.user, caller.key_name, caller.admin) == ("root", "admin", True)
    caller = gov.stubs.keys.GetCaller(key_service_pb2.GetCallerRequest(), metadata=md(gov.alice))
    assert (caller.user, caller.key_name, caller.admin) == ("alice", "main", False)
    with pytest.raises(grpc.RpcError) as refused:
        gov.stubs.keys.GetCaller(key_service_pb2.GetCallerRequest(), metadata=md("sk-llmgw-nope"))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_authorization_must_use_the_bearer_scheme(gov: Gov) -> None:
    """A raw key in `authorization` (no `Bearer `) is refused saying so, even when the key is valid."""
    with pytest.raises(grpc.RpcError) as refused:
        gov.stubs.keys.GetCaller(key_service_pb2.GetCallerRequest(), metadata=(("authorization", gov.alice),))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "Bearer scheme" in (refused.value.details() or "")
    caller = gov.stubs.keys.GetCaller(
        key_service_pb2.GetCallerRequest(), metadata=(("authorization", "Basic x"), ("x-api-key", gov.alice))
    )
    assert caller.user == "alice"
