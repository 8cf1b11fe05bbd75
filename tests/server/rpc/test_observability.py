"""Metrics, request ids and the per-request log line, through the real bridge in front of a real gateway."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from decimal import Decimal

import grpc
import httpx2 as httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from llmgw.bridge.app import create_app, serve_http
from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.server.rpc.logging_setup import JsonFormatter
from llmgw.v1 import chat_service_pb2, chat_service_pb2_grpc, quota_pb2, quota_service_pb2, quota_service_pb2_grpc
from tests.bridge.conftest import LoopThread
from tests.chat_requests import params, user
from tests.model_ids import HAIKU
from tests.support import GatewayThread, bearer, gateway_settings

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def bridge_url(gateway: GatewayThread) -> Iterator[str]:
    """The bridge serving the module gateway's metrics at /metrics."""
    assert gateway.gateway is not None
    loop = LoopThread()
    app = create_app(gateway.grpc_target, metrics=gateway.gateway.metrics.render)

    async def start() -> tuple[asyncio.Task[None], int]:
        ready = asyncio.Event()
        ports: list[int] = []
        task = asyncio.create_task(serve_http(app, "127.0.0.1", 0, ready=ready, on_bound=ports.append))
        await asyncio.wait_for(ready.wait(), 10)
        return task, ports[0]

    async def stop(task: asyncio.Task[None]) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    task, port = loop.run(start())
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.run(stop(task))
        loop.close()


def scrape(url: str) -> Samples:
    """Every sample of GET /metrics, by name and labels."""
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much one sample moved."""
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_metrics_move_by_what_the_requests_did(gateway: GatewayThread, bridge_url: str) -> None:
    """Two answered chats and one quota refusal move requests, tokens, cost, histograms and rejections exactly."""
    key = gateway.create_key("metrics-user", "m")
    root = gateway.create_key("root", "metrics-admin")
    before = scrape(bridge_url)
    body = {"model": HAIKU, "messages": [{"role": "user", "content": "count me"}]}
    usages = []
    with httpx.Client(base_url=bridge_url, headers={"authorization": f"Bearer {key}"}, timeout=30) as client:
        for _ in range(2):
            response = client.post("/v1/chat/completions", json=body)
            assert response.status_code == 200
            usages.append(response.json()["usage"])
        with gateway.channel() as channel:
            quota_service_pb2_grpc.QuotaServiceStub(channel).SetQuota(
                quota_service_pb2.SetQuotaRequest(
                    user="metrics-user", frequency=quota_pb2.QUOTA_FREQUENCY_DAILY, limit_usd="0"
                ),
                metadata=bearer(root),
            )
        assert client.post("/v1/chat/completions", json=body).status_code == 429
    after = scrape(bridge_url)
    chat = {"api": "chat", "model": HAIKU}
    assert delta(before, after, "llmgw_requests_total", outcome="success", **chat) == 2
    assert delta(before, after, "llmgw_requests_total", outcome="quota_exceeded", **chat) == 1
    assert delta(before, after, "llmgw_input_tokens_total", **chat) == sum(u["prompt_tokens"] for u in usages)
    assert delta(before, after, "llmgw_output_tokens_total", **chat) == sum(u["completion_tokens"] for u in usages)
    cost = float(sum(Decimal(u["cost_usd"]) for u in usages))
    assert delta(before, after, "llmgw_cost_usd_total", model=HAIKU) == pytest.approx(cost)
    assert delta(before, after, "llmgw_request_duration_seconds_count", **chat) == 3
    assert delta(before, after, "llmgw_time_to_first_token_seconds_count", **chat) == 2
    assert delta(before, after, "llmgw_rejections_total", reason="quota_exceeded") == 1
    method = "/llmgw.v1.ChatService/CreateChatCompletion"
    assert delta(before, after, "llmgw_grpc_calls_total", method=method, code="OK") == 2
    assert delta(before, after, "llmgw_grpc_calls_total", method=method, code="RESOURCE_EXHAUSTED") == 1
    assert after[("llmgw_grpc_calls_in_flight", ())] == 0


def test_request_id_is_returned_and_logged_once_without_secrets(
    gateway: GatewayThread, bridge_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A client's x-request-id comes back and names one JSON log line; a bad one is replaced; no secret is logged."""
    key = gateway.create_key("log-user", "l")
    caplog.set_level(logging.INFO, logger="llmgw.requests")
    body = {"model": HAIKU, "messages": [{"role": "user", "content": "log me"}], "stream": True}
    headers = {"authorization": f"Bearer {key}", "x-request-id": "client-req-42"}
    with httpx.Client(base_url=bridge_url, timeout=30) as client:
        streamed = client.post("/v1/chat/completions", json=body, headers=headers)
        replaced = client.post("/v1/chat/completions", json=body, headers={**headers, "x-request-id": "bad id!"})
        refused = client.get("/v1/models", headers={"authorization": "Bearer sk-llmgw-not-a-real-key"})
    assert streamed.headers["x-request-id"] == "client-req-42"
    assert replaced.headers["x-request-id"].startswith("req_")
    assert refused.status_code == 401
    assert refused.headers["x-request-id"].startswith("req_")
    formatter = JsonFormatter()
    replaced_id = replaced.headers["x-request-id"]

    def request_lines() -> list[str]:
        return [formatter.format(record) for record in caplog.records if record.name == "llmgw.requests"]

    # A call's line is written when its handler returns, which may be just after the
    # client has read the last byte: wait (bounded) for all three.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = request_lines()
        wanted = ('"request_id": "client-req-42"', replaced_id, '"code": "UNAUTHENTICATED"')
        if all(any(text in line for line in lines) for text in wanted):
            break
        time.sleep(0.02)
    lines = request_lines()
    mine = [line for line in lines if '"request_id": "client-req-42"' in line]
    assert len(mine) == 1
    for field in ('"code": "OK"', '"user": "log-user"', '"outcome": "success"', '"output_tokens": ', HAIKU):
        assert field in mine[0]
    assert any(replaced_id in line for line in lines)
    assert any('"code": "UNAUTHENTICATED"' in line for line in lines)
    captured = "\n".join(lines) + caplog.text
    assert key not in captured
    assert "sk-llmgw-not-a-real-key" not in captured
    assert "log me" not in captured


def test_grpc_clients_get_the_request_id_as_initial_metadata(gateway: GatewayThread) -> None:
    """gRPC callers see x-request-id in the initial metadata, their own when well formed."""
    key = gateway.create_key("grpc-id-user", "g")
    with gateway.channel() as channel:
        stub = chat_service_pb2_grpc.ChatServiceStub(channel)
        request = chat_service_pb2.CreateChatCompletionRequest(params=params(user("hi")))
        _, call = stub.CreateChatCompletion.with_call(request, metadata=(*bearer(key), ("x-request-id", "abc-1")))
        assert dict(call.initial_metadata())["x-request-id"] == "abc-1"
        with pytest.raises(grpc.RpcError) as failed:
            stub.CreateChatCompletion(request, metadata=bearer("sk-llmgw-wrong"))
        ids = dict(failed.value.initial_metadata())  # type: ignore[attr-defined]
    assert ids["x-request-id"].startswith("req_")


def test_metrics_listen_serves_the_registry_without_the_bridge(
    fake_bedrock: FakeBedrockServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """With METRICS_LISTEN a gateway serves /metrics on its own port, and stops serving it on stop."""
    settings = gateway_settings(tmp_path_factory.mktemp("metrics"), fake_bedrock.url, metrics_listen="127.0.0.1:0")
    running = GatewayThread(settings).start()
    try:
        assert running.gateway is not None
        port = running.gateway.metrics_port
        assert port
        with running.channel() as channel, pytest.raises(grpc.RpcError):
            chat_service_pb2_grpc.ChatServiceStub(channel).CreateChatCompletion(
                chat_service_pb2.CreateChatCompletionRequest(params=params(user("hi"))), metadata=bearer("sk-x")
            )
        samples = scrape(f"http://127.0.0.1:{port}")
        method = "/llmgw.v1.ChatService/CreateChatCompletion"
        assert samples[("llmgw_grpc_calls_total", (("code", "UNAUTHENTICATED"), ("method", method)))] == 1
    finally:
        running.stop()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
