"""Several gateway processes on one database: the quota bound across replicas, and usage rows surviving SIGKILL.

Each gateway is a real `llmgw serve --grpc-only` subprocess on a free port, in front of
the session's fake Bedrock; the test process opens the same database to create keys and
to read the ledger. Waits are bounded and every process is killed on the way out.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import grpc
import peewee
import pytest

from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.server.core.money import format_usd
from llmgw.server.store import keys_repo
from llmgw.server.store.db import open_database
from llmgw.server.store.models import RequestRecord
from llmgw.v1 import chat_service_pb2_grpc, quota_pb2, quota_service_pb2, quota_service_pb2_grpc
from tests.server.services.conftest import ask, ledger, md
from tests.support import picodollars

SERVER_SECRET = "replica-test-server-secret-0123456789abcdef"
START_TIMEOUT_S = 20.0
_LISTENING = re.compile(r"gRPC listening on [^ ]+:(\d+)")


@contextmanager
def serve(store_url: str, data_dir: Path, bedrock_url: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A `llmgw serve --grpc-only` process; yields it and its HOST:PORT once it listens."""
    env = {
        **os.environ,
        "LLMGW_DATABASE_URL": store_url,
        "LLMGW_DATA_DIR": str(data_dir),
        "LLMGW_GRPC_LISTEN": "127.0.0.1:0",
        "LLMGW_BENCHMARK_MODE": "true",
        "LLMGW_BEDROCK_ENDPOINT_URL": bedrock_url,
        "LLMGW_BEDROCK_MAX_ATTEMPTS": "1",
        "LLMGW_SERVER_SECRET": SERVER_SECRET,
        "LLMGW_ADMIN_LIST": "root",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "llmgw", "serve", "--grpc-only"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    ports: list[int] = []
    found = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:  # keep draining, so the process never blocks on a full pipe
            match = _LISTENING.search(line)
            if match and not ports:
                ports.append(int(match.group(1)))
                found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not found.wait(START_TIMEOUT_S):
            pytest.fail(f"gateway process did not start within {START_TIMEOUT_S}s (exit code {process.poll()})")
        yield process, f"127.0.0.1:{ports[0]}"
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=START_TIMEOUT_S)
        reader.join(timeout=START_TIMEOUT_S)
        assert process.stderr is not None
        process.stderr.close()


@pytest.fixture
def shared_db(store_url: str, tmp_path: Path) -> Iterator[peewee.Database]:
    """The database the gateways share, opened (and migrated) in the test process too."""
    db = open_database(store_url, tmp_path / "test-process")
    try:
        yield db
    finally:
        db.close()


def _key(user: str, name: str) -> str:
    return keys_repo.create_key(user, name, None, SERVER_SECRET.encode())[1]


async def _burst(targets: list[str], key: str, count: int) -> list[grpc.StatusCode]:
    """`count` concurrent chat requests spread evenly over the targets."""
    channels = [grpc.aio.insecure_channel(target) for target in targets]
    try:
        stubs = [chat_service_pb2_grpc.ChatServiceStub(channel) for channel in channels]

        async def one(stub: chat_service_pb2_grpc.ChatServiceAsyncStub) -> grpc.StatusCode:
            try:
                await stub.CreateChatCompletion(ask("[[tokens:40]] go", max_tokens=40), metadata=md(key), timeout=30)
            except grpc.aio.AioRpcError as error:
                return error.code()
            return grpc.StatusCode.OK

        return await asyncio.gather(*(one(stubs[n % len(stubs)]) for n in range(count)))
    finally:
        for channel in channels:
            await channel.close()


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_two_replicas_keep_the_quota_bound(
    store_url: str, shared_db: peewee.Database, tmp_path: Path, fake_bedrock: FakeBedrockServer
) -> None:
    """50 concurrent requests split over two gateway processes: spend ends <= limit + one request's cost."""
    root, user = _key("root", "admin"), _key("dana", "main")
    with ExitStack() as stack:
        targets = [stack.enter_context(serve(store_url, tmp_path / f"r{n}", fake_bedrock.url))[1] for n in range(2)]
        with grpc.insecure_channel(targets[0]) as channel:
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
        codes = asyncio.run(_burst(targets, user, 50))
    assert set(codes) == {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
    final = ledger("dana")
    assert final.reserved_picodollars == 0
    assert final.spent_picodollars <= limit + one_cost
    assert final.spent_picodollars == sum(
        row.cost_picodollars for row in RequestRecord.select().where(RequestRecord.user == "dana")
    )


def test_usage_rows_survive_sigkill(
    store_url: str, shared_db: peewee.Database, tmp_path: Path, fake_bedrock: FakeBedrockServer
) -> None:
    """Every response a client received has its usage row and its ledger charge after the server is SIGKILLed."""
    user = _key("erin", "main")
    with serve(store_url, tmp_path / "victim", fake_bedrock.url) as (process, target):

        async def burst() -> list[str]:
            async with grpc.aio.insecure_channel(target) as channel:
                stub = chat_service_pb2_grpc.ChatServiceStub(channel)
                replies = await asyncio.gather(
                    *(stub.CreateChatCompletion(ask(f"n{n}"), metadata=md(user), timeout=30) for n in range(30))
                )
            return [reply.completion.id for reply in replies]

        ids = asyncio.run(burst())
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=START_TIMEOUT_S)
    stored = {row.id: row for row in RequestRecord.select().where(RequestRecord.user == "erin")}
    assert set(ids) <= set(stored)
    assert ledger("erin").spent_picodollars >= sum(stored[record_id].cost_picodollars for record_id in ids)
