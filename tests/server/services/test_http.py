"""Governance over HTTP: the bridge in front of the real gateway, driven by the official OpenAI SDK and httpx."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx2 as httpx
import openai
import pytest

from llmgw.v1 import policy_service_pb2, quota_pb2, quota_service_pb2
from tests.bridge.conftest import LoopThread, running_bridge
from tests.model_ids import HAIKU, NOVA_MICRO
from tests.server.services.conftest import Gov, md, rows


@pytest.fixture
def bridge_url(gov: Gov) -> Iterator[str]:
    """The HTTP bridge in front of this test's gateway."""
    loop = LoopThread()
    try:
        with running_bridge(loop, gov.gateway.grpc_target) as url:
            yield url
    finally:
        loop.close()


def _sdk(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=30)


def _outcomes(user: str, count: int) -> list[str]:
    deadline = time.monotonic() + 5
    while len(rows(user)) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return [row.outcome for row in rows(user)]


def test_policy_denial_is_403_and_quota_exceeded_is_429(gov: Gov, bridge_url: str) -> None:
    """The SDK raises PermissionDeniedError (model_access_denied) and RateLimitError (quota_exceeded); both recorded."""
    gov.stubs.policies.SetModelAccess(
        policy_service_pb2.SetModelAccessRequest(user="alice", models=[NOVA_MICRO]), metadata=md(gov.root)
    )
    gov.stubs.quotas.SetQuota(
        quota_service_pb2.SetQuotaRequest(user="bob", frequency=quota_pb2.QUOTA_FREQUENCY_DAILY, limit_usd="0"),
        metadata=md(gov.root),
    )
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
    with _sdk(bridge_url, gov.alice) as sdk, pytest.raises(openai.PermissionDeniedError) as denied:
        sdk.chat.completions.create(model=HAIKU, messages=messages)
    assert denied.value.status_code == 403
    assert denied.value.code == "model_access_denied"
    with _sdk(bridge_url, gov.bob) as sdk, pytest.raises(openai.RateLimitError) as limited:
        sdk.chat.completions.create(model=HAIKU, messages=messages, stream=True)
    assert limited.value.status_code == 429
    assert limited.value.code == "quota_exceeded"
    assert _outcomes("alice", 1) == ["model_access_denied"]
    assert _outcomes("bob", 1) == ["quota_exceeded"]


def test_governance_resources_over_http(gov: Gov, bridge_url: str) -> None:
    """Keys, quota, model access and the request log over plain HTTP; admin calls are 403 for others; bad input 400."""
    root = {"authorization": f"Bearer {gov.root}"}
    alice = {"authorization": f"Bearer {gov.alice}"}
    with httpx.Client(base_url=bridge_url, timeout=30) as http:
        created = http.post("/v1/keys", json={"name": "web", "expires_at": "2099-01-01T00:00:00Z"}, headers=alice)
        assert created.status_code == 200, created.text
        assert created.json()["key"]["status"] == "valid"
        assert "secret" not in http.get("/v1/keys", headers=alice).text.replace('"secret"', "")
        assert created.json()["secret"] not in http.get("/v1/keys", headers=alice).text
        assert http.delete("/v1/keys/web", headers=alice).status_code == 200
        assert http.delete("/v1/keys/web", headers=alice).status_code == 404
        quota = http.put("/v1/users/alice/quota", json={"frequency": "monthly", "limit_usd": 12.5}, headers=root)
        assert quota.json() == {"user": "alice", "frequency": "monthly", "limit_usd": "12.5", "is_default": False}
        assert http.get("/v1/users/me/quota/status", headers=alice).json()["limit_usd"] == "12.5"
        bad = http.put("/v1/users/alice/quota", json={"frequency": "hourly", "limit_usd": "1"}, headers=root)
        assert bad.status_code == 400
        negative = http.put("/v1/users/alice/quota", json={"frequency": "daily", "limit_usd": "-1"}, headers=root)
        assert negative.status_code == 400
        assert negative.json()["error"]["param"] == "limit_usd"
        unknown = http.put("/v1/users/alice/model-access", json={"models": ["nope:0"]}, headers=root)
        assert unknown.status_code == 400
        assert "nope:0" in unknown.json()["error"]["message"]
        for method, path, body in (
            ("GET", "/v1/users/alice/quota", None),
            ("PUT", "/v1/users/alice/quota", {"frequency": "daily", "limit_usd": "100"}),
            ("DELETE", "/v1/users/alice/quota", None),
            ("PUT", "/v1/users/alice/model-access", {"models": ["*"]}),
            ("DELETE", "/v1/users/alice/model-access", None),
            ("GET", "/v1/users/bob/quota/status", None),
            ("GET", "/v1/requests?user=bob", None),
            ("GET", "/v1/keys?user=bob", None),
        ):
            refused = http.request(method, path, json=body, headers=alice)
            assert refused.status_code == 403, (method, path)
        listed = http.get(
            "/v1/requests", params={"start_time": "2026-01-01T00:00:00Z", "outcome": "quota_exceeded"}, headers=root
        )
        assert listed.status_code == 200, listed.text
        assert listed.json()["requests"] == []
