"""WatchRequests on one gateway process sees requests another process served (both stores)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import grpc
import peewee
import pytest

from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.server.store import keys_repo
from llmgw.server.store.db import open_database
from llmgw.v1 import chat_service_pb2_grpc, usage_service_pb2, usage_service_pb2_grpc
from tests.server.services.conftest import ask, md
from tests.server.services.test_replicas import SERVER_SECRET, serve

WAIT_S = 20.0


@pytest.fixture
def shared_db(store_url: str, tmp_path: Path) -> Iterator[peewee.Database]:
    """The database the gateways share, opened (and migrated) in the test process too."""
    db = open_database(store_url, tmp_path / "test-process")
    try:
        yield db
    finally:
        db.close()


def test_a_watch_sees_requests_served_by_another_replica(
    store_url: str, shared_db: peewee.Database, tmp_path: Path, fake_bedrock: FakeBedrockServer
) -> None:
    """An admin watching replica A gets the record of a chat served by replica B, once."""
    root = keys_repo.create_key("root", "admin", None, SERVER_SECRET.encode())[1]
    user = keys_repo.create_key("erin", "main", None, SERVER_SECRET.encode())[1]
    with ExitStack() as stack:
        watched, served = (
            stack.enter_context(serve(store_url, tmp_path / f"r{n}", fake_bedrock.url))[1] for n in (0, 1)
        )
        channel = stack.enter_context(grpc.insecure_channel(watched))
        call = usage_service_pb2_grpc.UsageServiceStub(channel).WatchRequests(
            usage_service_pb2.WatchRequestsRequest(), metadata=md(root), timeout=60
        )
        ids: list[str] = []
        live = threading.Event()
        arrived = threading.Condition()

        def read() -> None:
            try:
                for response in call:
                    live.set()
                    with arrived:
                        ids.extend(record.id for record in response.requests)
                        arrived.notify_all()
            except grpc.RpcError:
                live.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        stack.callback(reader.join, WAIT_S)
        stack.callback(call.cancel)  # runs first (last in, first out), so the join is quick
        assert live.wait(WAIT_S)
        with grpc.insecure_channel(served) as other:
            answer = chat_service_pb2_grpc.ChatServiceStub(other).CreateChatCompletion(
                ask("[[tokens:3]] hi"), metadata=md(user)
            )
        with arrived:
            assert arrived.wait_for(lambda: answer.completion.id in ids, WAIT_S)
        assert ids.count(answer.completion.id) == 1
