"""UserService and UsageService.WatchRequests against a real gateway, on SQLite and PostgreSQL, over gRPC and HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import grpc
import httpx2 as httpx
import pytest

from llmgw.v1 import (
    key_service_pb2,
    model_service_pb2,
    policy_service_pb2,
    quota_pb2,
    quota_service_pb2,
    usage_service_pb2,
    user_service_pb2,
    user_service_pb2_grpc,
)
from tests.bridge.conftest import LoopThread, running_bridge
from tests.model_ids import HAIKU
from tests.server.services.conftest import Gov, ask, md

WATCH_TIMEOUT_S = 10.0


@pytest.fixture
def bridge_url(gov: Gov) -> Iterator[str]:
    """The HTTP bridge in front of this test's gateway."""
    loop = LoopThread()
    try:
        with running_bridge(loop, gov.gateway.grpc_target) as url:
            yield url
    finally:
        loop.close()


def users_stub(gov: Gov) -> user_service_pb2_grpc.UserServiceStub:
    """A UserService stub on the test's channel."""
    return user_service_pb2_grpc.UserServiceStub(gov.stubs.channel)


def test_current_user_says_who_and_whether_admin(gov: Gov) -> None:
    """GetCurrentUser names the key's owner and whether they are in ADMIN_LIST."""
    me = users_stub(gov).GetCurrentUser(user_service_pb2.GetCurrentUserRequest(), metadata=md(gov.root))
    assert (me.user, me.is_admin) == ("root", True)
    me = users_stub(gov).GetCurrentUser(user_service_pb2.GetCurrentUserRequest(), metadata=md(gov.alice))
    assert (me.user, me.is_admin) == ("alice", False)


def test_list_users_shows_keys_spend_and_own_settings(gov: Gov) -> None:
    """Every known user with key count, spend this period, limit, last request and their own settings."""
    gov.stubs.quotas.SetQuota(
        quota_service_pb2.SetQuotaRequest(user="alice", frequency=quota_pb2.QUOTA_FREQUENCY_DAILY, limit_usd="3"),
        metadata=md(gov.root),
    )
    gov.stubs.policies.SetModelAccess(
        policy_service_pb2.SetModelAccessRequest(user="bob", models=[HAIKU]), metadata=md(gov.root)
    )
    gov.gateway.create_key("carol", "gone")
    gov.stubs.keys.DeleteKey(key_service_pb2.DeleteKeyRequest(user="carol", name="gone"), metadata=md(gov.root))
    gov.stubs.quotas.SetRateLimit(
        quota_service_pb2.SetRateLimitRequest(user="carol", requests_per_minute=5), metadata=md(gov.root)
    )
    gov.gateway.create_key("alice", "second")
    answer = gov.stubs.chat.CreateChatCompletion(ask("[[tokens:10]] hi"), metadata=md(gov.alice))
    listed = users_stub(gov).ListUsers(user_service_pb2.ListUsersRequest(), metadata=md(gov.root))
    by_name = {user.user: user for user in listed.users}
    assert list(by_name) == ["alice", "bob", "carol", "root"]
    alice = by_name["alice"]
    assert alice.keys == 2
    assert alice.spent_usd == answer.completion.usage.cost_usd
    assert alice.limit_usd == "3"
    assert alice.has_own_quota
    assert not alice.has_own_policy
    assert not alice.has_own_rate_limit
    assert alice.HasField("last_request_at")
    assert alice.period.end_time.ToDatetime() > alice.period.start_time.ToDatetime()
    assert by_name["bob"].has_own_policy
    assert not by_name["bob"].HasField("last_request_at")
    assert by_name["carol"].has_own_rate_limit
    assert by_name["carol"].keys == 0
    assert by_name["root"].is_admin
    assert not alice.is_admin
    assert listed.next_page_token == ""


def test_list_users_pages_and_refuses_others(gov: Gov) -> None:
    """Pages of one walk every user once; a non-admin gets PERMISSION_DENIED; a forged token INVALID_ARGUMENT."""
    seen: list[str] = []
    token = ""
    while True:
        page = users_stub(gov).ListUsers(
            user_service_pb2.ListUsersRequest(page_size=1, page_token=token), metadata=md(gov.root)
        )
        seen.extend(user.user for user in page.users)
        token = page.next_page_token
        if not token:
            break
    assert seen == ["alice", "bob", "root"]
    with pytest.raises(grpc.RpcError) as refused:
        users_stub(gov).ListUsers(user_service_pb2.ListUsersRequest(), metadata=md(gov.alice))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as forged:
        users_stub(gov).ListUsers(user_service_pb2.ListUsersRequest(page_token="!!"), metadata=md(gov.root))
    assert forged.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_users_and_me_over_http(gov: Gov, bridge_url: str) -> None:
    """GET /v1/users (admins; 403 for others) and GET /v1/me as JSON."""
    with httpx.Client(base_url=bridge_url, timeout=30) as http:
        listed = http.get("/v1/users", params={"page_size": 2}, headers={"authorization": f"Bearer {gov.root}"})
        assert listed.status_code == 200, listed.text
        body = listed.json()
        assert [user["user"] for user in body["users"]] == ["alice", "bob"]
        assert body["next_page_token"]
        assert body["users"][0]["limit_usd"] == "25"
        refused = http.get("/v1/users", headers={"authorization": f"Bearer {gov.alice}"})
        assert refused.status_code == 403
        me = http.get("/v1/me", headers={"authorization": f"Bearer {gov.alice}"})
        assert me.json() == {"user": "alice", "is_admin": False}


def test_include_all_lists_the_catalog_for_admins_only(gov: Gov) -> None:
    """ListModels include_all ignores the admin's own policy; for anyone else it is PERMISSION_DENIED."""
    gov.stubs.policies.SetModelAccess(
        policy_service_pb2.SetModelAccessRequest(user="root", models=[HAIKU]), metadata=md(gov.root)
    )
    own = gov.stubs.models.ListModels(model_service_pb2.ListModelsRequest(), metadata=md(gov.root))
    everything = gov.stubs.models.ListModels(
        model_service_pb2.ListModelsRequest(include_all=True), metadata=md(gov.root)
    )
    assert [model.id for model in own.data] == [HAIKU]
    assert len(everything.data) > 1
    with pytest.raises(grpc.RpcError) as refused:
        gov.stubs.models.ListModels(model_service_pb2.ListModelsRequest(include_all=True), metadata=md(gov.alice))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


class Watch:
    """A WatchRequests stream read on a thread, collecting record ids until cancelled."""

    def __init__(self, gov: Gov, key: str, user: str = "") -> None:
        self.call = gov.stubs.usage.WatchRequests(
            usage_service_pb2.WatchRequestsRequest(user=user), metadata=md(key), timeout=60
        )
        self.ids: list[str] = []
        self.users: list[str] = []
        self.live = threading.Event()
        self.arrived = threading.Condition()
        self.error: grpc.RpcError | None = None
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for response in self.call:
                self.live.set()
                with self.arrived:
                    self.ids.extend(record.id for record in response.requests)
                    self.users.extend(record.user for record in response.requests)
                    self.arrived.notify_all()
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.CANCELLED:
                self.error = error
            self.live.set()

    def wait_for(self, request_id: str) -> bool:
        """Whether the id arrives within WATCH_TIMEOUT_S."""
        with self.arrived:
            return self.arrived.wait_for(lambda: request_id in self.ids, WATCH_TIMEOUT_S)

    def close(self) -> None:
        """Cancel the stream and join the reader."""
        self.call.cancel()
        self._thread.join(WATCH_TIMEOUT_S)


def test_watch_streams_new_requests_by_permission(gov: Gov) -> None:
    """The admin's watch sees everyone's new requests (not older ones); alice's only hers; naming bob is refused."""
    before = gov.stubs.chat.CreateChatCompletion(ask("[[tokens:3]] hi"), metadata=md(gov.alice)).completion.id
    everyone, own = Watch(gov, gov.root), Watch(gov, gov.alice)
    try:
        assert everyone.live.wait(WATCH_TIMEOUT_S)
        assert own.live.wait(WATCH_TIMEOUT_S)
        bobs = gov.stubs.chat.CreateChatCompletion(ask("[[tokens:3]] hi"), metadata=md(gov.bob)).completion.id
        alices = gov.stubs.chat.CreateChatCompletion(ask("[[tokens:3]] hi"), metadata=md(gov.alice)).completion.id
        assert everyone.wait_for(bobs)
        assert everyone.wait_for(alices)
        assert own.wait_for(alices)
        assert bobs not in own.ids
        assert set(own.users) == {"alice"}
        assert everyone.ids.count(alices) == 1
        assert before not in everyone.ids
        assert before not in own.ids
    finally:
        everyone.close()
        own.close()
    refused = Watch(gov, gov.alice, user="bob")
    try:
        assert refused.live.wait(WATCH_TIMEOUT_S)
        refused.close()
        assert refused.error is not None
        assert refused.error.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        refused.close()
