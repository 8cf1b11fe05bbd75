"""`llmgw serve --workers 2`: two gateway processes on one HTTP port and one gRPC port (llmgw/workers.py).

Real subprocesses on free loopback ports, SQLite or PostgreSQL shared by both workers, the
session's fake Bedrock. Which worker served a request is read from its JSON log line
(`"worker": 0 | 1`); every HTTP request goes over a new connection, which the kernel spreads
over the workers' SO_REUSEPORT sockets.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import peewee
import pytest
from prometheus_client.parser import text_string_to_metric_families

from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.server.core.money import format_usd
from llmgw.server.store import keys_repo
from llmgw.server.store.db import open_database
from llmgw.server.store.models import RequestRecord
from llmgw.v1 import chat_service_pb2_grpc, quota_pb2, quota_service_pb2, quota_service_pb2_grpc
from tests.e2e.conftest import STARTUP_TIMEOUT_S, free_port, gateway_env, stop, wait_for_http
from tests.model_ids import HAIKU
from tests.server.services.conftest import ask, ledger, md
from tests.support import picodollars

SERVER_SECRET = "workers-test-server-secret-0123456789abcdef"
LOG_LINE_WAIT_S = 10.0


@dataclass
class Workers:
    """A running `llmgw serve --workers 2` and the JSON log lines its workers wrote so far."""

    process: subprocess.Popen[str]
    http_port: int
    grpc_target: str
    lines: list[dict[str, object]] = field(default_factory=list)

    def served_by(self) -> set[object]:
        """The worker indexes that logged a chat request."""
        return {line.get("worker") for line in self.lines if str(line.get("method", "")).endswith("ChatCompletion")}

    def settled_served_by(self, expected: set[object]) -> set[object]:
        """`served_by` once it shows `expected`, or after a bounded wait.

        A worker writes its log line as the call ends, and a thread reads the pipe: the
        line of a request the client has finished may still be on its way.
        """
        deadline = time.monotonic() + LOG_LINE_WAIT_S
        while self.served_by() != expected and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.served_by()


@pytest.fixture
def shared_db(store_url: str, tmp_path: Path) -> Iterator[peewee.Database]:
    """The database both workers use, opened (and migrated) in the test process too."""
    db = open_database(store_url, tmp_path / "test-process")
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def workers(
    store_url: str, shared_db: peewee.Database, tmp_path: Path, fake_bedrock: FakeBedrockServer
) -> Iterator[Workers]:
    http_port, grpc_port = free_port(), free_port()
    env = gateway_env(
        tmp_path / "served",
        database_url=store_url,
        benchmark_mode="true",
        bedrock_endpoint_url=fake_bedrock.url,
        bedrock_max_attempts="1",
        http_listen=f"127.0.0.1:{http_port}",
        grpc_listen=f"127.0.0.1:{grpc_port}",
        admin_list="root",
        server_secret=SERVER_SECRET,
        shutdown_grace_seconds="5",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "llmgw", "serve", "--workers", "2"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    running = Workers(process, http_port, f"127.0.0.1:{grpc_port}")

    def read() -> None:
        assert process.stderr is not None
        for text in process.stderr:  # drained to the end, so a worker never blocks on a full pipe
            if text.startswith("{"):
                running.lines.append(json.loads(text))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_for_http(f"http://127.0.0.1:{http_port}/healthz", process)  # type: ignore[arg-type]
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while sum("HTTP bridge listening" in str(line.get("message")) for line in running.lines) < 2:
            assert time.monotonic() < deadline, "both workers did not start"
            time.sleep(0.05)
        yield running
    finally:
        stop(process)  # type: ignore[arg-type]
        reader.join(timeout=STARTUP_TIMEOUT_S)
        assert process.stderr is not None
        process.stderr.close()


def _key(user: str, name: str) -> str:
    return keys_repo.create_key(user, name, None, SERVER_SECRET.encode())[1]


def _post(port: int, key: str, body: dict[str, object]) -> tuple[int, bytes]:
    """One request on its own connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        connection.request("POST", "/v1/chat/completions", body=json.dumps(body), headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _metric(port: int, name: str, **labels: str) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_two_workers_serve_one_port_and_metrics_count_both(workers: Workers) -> None:
    """Requests on new connections reach both workers; /metrics (from either) counts every one of them."""
    key = _key("wendy", "main")
    body: dict[str, object] = {"model": HAIKU, "messages": [{"role": "user", "content": "hi"}]}
    served = 0
    deadline = time.monotonic() + 60
    while workers.served_by() != {0, 1} or served < 20:
        assert time.monotonic() < deadline, f"only workers {workers.served_by()} served"
        status, _ = _post(workers.http_port, key, body)
        assert status == 200
        served += 1
        time.sleep(0.01)  # the log line is written as the call ends
    deadline = time.monotonic() + LOG_LINE_WAIT_S  # the last call's counters move as it ends, after its answer
    while _metric(workers.http_port, "llmgw_requests_total", api="chat", outcome="success") != served:
        assert time.monotonic() < deadline, "the scrape never counted every request"
        time.sleep(0.02)
    for _ in range(3):  # whichever worker answers the scrape, it counts both
        assert _metric(workers.http_port, "llmgw_requests_total", api="chat", outcome="success") == served


def test_quota_bound_holds_across_workers(workers: Workers, store_url: str) -> None:
    """50 concurrent requests over many connections to both workers: spend ends <= limit + one request's cost."""
    root, user = _key("root", "admin"), _key("dana", "main")
    with grpc.insecure_channel(workers.grpc_target) as channel:
        probe = chat_service_pb2_grpc.ChatServiceStub(channel).CreateChatCompletion(
            ask("[[tokens:40]] go", max_tokens=40), metadata=md(user)
        )
        one_cost = picodollars(probe.completion.usage.cost_usd)
        limit = ledger("dana").spent_picodollars + 3 * one_cost
        quota_service_pb2_grpc.QuotaServiceStub(channel).SetQuota(
            quota_service_pb2.SetQuotaRequest(
                user="dana", frequency=quota_pb2.QUOTA_FREQUENCY_DAILY, limit_usd=format_usd(limit)
            ),
            metadata=md(root),
        )

    async def burst() -> list[grpc.StatusCode]:
        # A channel per request: each is its own connection, spread over the workers.
        async def one() -> grpc.StatusCode:
            async with grpc.aio.insecure_channel(
                workers.grpc_target, options=[("grpc.use_local_subchannel_pool", 1)]
            ) as channel:
                try:
                    await chat_service_pb2_grpc.ChatServiceStub(channel).CreateChatCompletion(
                        ask("[[tokens:40]] go", max_tokens=40), metadata=md(user), timeout=30
                    )
                except grpc.aio.AioRpcError as error:
                    return error.code()
                return grpc.StatusCode.OK

        return await asyncio.gather(*(one() for _ in range(50)))

    codes = asyncio.run(burst())
    assert set(codes) == {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert workers.settled_served_by({0, 1}) == {0, 1}
    deadline = time.monotonic() + 10
    while ledger("dana").reserved_picodollars and time.monotonic() < deadline:
        time.sleep(0.05)
    final = ledger("dana")
    assert final.reserved_picodollars == 0
    assert final.spent_picodollars <= limit + one_cost
    assert final.spent_picodollars == sum(
        row.cost_picodollars for row in RequestRecord.select().where(RequestRecord.user == "dana")
    )


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_sigterm_drains_both_workers(workers: Workers, fake_bedrock: FakeBedrockServer) -> None:
    """Streams in flight on both workers finish with [DONE] after SIGTERM; every process exits 0."""
    key = _key("sid", "main")
    prompt = "[[tokens:10]] [[token_delay_ms:100]] go"
    body: dict[str, object] = {"model": HAIKU, "stream": True, "messages": [{"role": "user", "content": prompt}]}
    results: list[bytes] = []
    started = fake_bedrock.app.stats.streams_started

    def stream() -> None:
        results.append(_post(workers.http_port, key, body)[1])

    threads = [threading.Thread(target=stream) for _ in range(16)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while fake_bedrock.app.stats.streams_started < started + 16:  # every stream is under way at Bedrock
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert stop(workers.process) == 0  # type: ignore[arg-type]
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 16
    assert all(result.rstrip().endswith(b"data: [DONE]") for result in results)
    assert workers.settled_served_by({0, 1}) == {0, 1}
