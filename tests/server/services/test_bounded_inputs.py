"""Bounded echoes and fields: long client input is refused with a short message, stored and logged bounded."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import grpc
import httpx2 as httpx
import pytest

from llmgw.server.core.names import MAX_MODEL_ID_LENGTH
from llmgw.v1 import key_service_pb2, model_service_pb2
from tests.bridge.conftest import LoopThread, running_bridge
from tests.server.services.conftest import Gov, ask, md, reason, rows

MAX_MESSAGE = 400


@pytest.fixture
def bridge_url(gov: Gov) -> Iterator[str]:
    """The HTTP bridge (taking bodies up to 20 MiB) in front of this test's gateway."""
    loop = LoopThread()
    try:
        with running_bridge(loop, gov.gateway.grpc_target, max_body_bytes=20 * 1024 * 1024) as url:
            yield url
    finally:
        loop.close()


@pytest.mark.parametrize("length", [8_000, 5_000_000])
def test_huge_model_id_is_a_short_400_stored_bounded(
    gov: Gov, bridge_url: str, length: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A model id of thousands or millions of characters: 400 with a short message; row and log line bounded."""
    model = "m" * length
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    with caplog.at_level(logging.INFO):
        reply = httpx.post(
            f"{bridge_url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {gov.alice}"}, timeout=60
        )
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_request", "model")
    assert len(error["message"]) < MAX_MESSAGE
    deadline = time.monotonic() + 10
    while not rows("alice") and time.monotonic() < deadline:
        time.sleep(0.05)
    [row] = rows("alice")
    assert len(row.model) <= MAX_MODEL_ID_LENGTH
    assert all(len(record.getMessage()) + len(str(getattr(record, "fields", ""))) < 4000 for record in caplog.records)


def test_missing_model_is_400(gov: Gov) -> None:
    """A request without a model is INVALID_ARGUMENT naming `model`, not NOT_FOUND."""
    with pytest.raises(grpc.RpcError) as refused:
        gov.stubs.chat.CreateChatCompletion(ask(model=""), metadata=md(gov.alice))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason(refused.value) == "INVALID_REQUEST"


def test_bad_model_ids_over_grpc(gov: Gov) -> None:
    """GetModel with an 8,000-character id: INVALID_ARGUMENT with a short message, never a transport error."""
    with pytest.raises(grpc.RpcError) as refused:
        gov.stubs.models.GetModel(model_service_pb2.GetModelRequest(model="x" * 8000), metadata=md(gov.alice))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(refused.value.details() or "") < MAX_MESSAGE


def test_huge_key_name_in_path_is_400(gov: Gov, bridge_url: str) -> None:
    """DELETE /v1/keys/<10,000 characters>: 400 naming the rule, not 429 quota_exceeded."""
    reply = httpx.delete(f"{bridge_url}/v1/keys/{'k' * 10_000}", headers={"Authorization": f"Bearer {gov.alice}"})
    assert reply.status_code == 400
    assert len(reply.json()["error"]["message"]) < MAX_MESSAGE
    with pytest.raises(grpc.RpcError) as refused:
        gov.stubs.keys.DeleteKey(key_service_pb2.DeleteKeyRequest(name="k" * 10_000), metadata=md(gov.alice))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("length", [20_000, 70_000])
def test_huge_bearer_is_431_not_quota(gov: Gov, bridge_url: str, length: int) -> None:
    """A bearer too long for gRPC metadata (or for the HTTP header limit) is a 431, never 429 quota_exceeded."""
    reply = httpx.get(f"{bridge_url}/v1/models", headers={"Authorization": "Bearer " + "a" * length})
    assert reply.status_code == 431
    assert "quota" not in reply.text
