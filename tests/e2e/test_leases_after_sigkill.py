"""SIGKILL with 50 streams in flight, then restart: the dead replica's reservations are released within the lease."""

from __future__ import annotations

import contextlib
import http.client
import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import peewee
import pytest

from llmgw.server.store import governance_repo
from llmgw.server.store.db import open_database
from llmgw.server.store.ledger import open_reservations
from llmgw.server.store.models import QuotaLedger, RequestRecord
from tests.e2e.conftest import LLMGW, STARTUP_TIMEOUT_S, free_port, gateway_env, stop, wait_for_http

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
USERS = ("u0", "u1", "u2", "u3", "u4")
STREAMS_PER_USER = 10
LEASE_S = 2.0
WAIT_S = 30.0


class Served:
    """One `llmgw serve` process on a given database and data dir."""

    def __init__(self, env: dict[str, str], http_port: int, log: Path) -> None:
        self.env = env
        self.url = f"127.0.0.1:{http_port}"
        with log.open("ab") as stderr:
            self.process = subprocess.Popen([*LLMGW, "serve"], env=env, stderr=stderr)  # noqa: S603 - our own command
        wait_for_http(f"http://{self.url}/healthz", self.process)

    @contextlib.contextmanager
    def post(self, key: str, body: dict[str, object]) -> Iterator[http.client.HTTPResponse]:
        """Start a chat request; the caller reads the response; the connection closes after."""
        host, port = self.url.split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=WAIT_S)
        try:
            connection.request(
                "POST",
                "/v1/chat/completions",
                body=json.dumps(body).encode(),
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            )
            yield connection.getresponse()
        finally:
            connection.close()


def _chat(prompt: str, *, stream: bool = False) -> dict[str, object]:
    return {"model": HAIKU, "max_tokens": 200, "stream": stream, "messages": [{"role": "user", "content": prompt}]}


@pytest.fixture
def db(store_url: str, tmp_path: Path) -> Iterator[peewee.Database]:
    """The test's own connection to the gateway's database (migrated here first)."""
    database = open_database(store_url, tmp_path / "test-side")
    try:
        yield database
    finally:
        database.close()


def _reserved(user: str) -> int:
    return sum(row.reserved_picodollars for row in QuotaLedger.select().where(QuotaLedger.user == user))


def test_sigkill_with_streams_then_restart(
    store_url: str, db: peewee.Database, tmp_path: Path, fake_bedrock_process: str
) -> None:
    """Reservations of killed streams are released within the lease; next requests admitted; delivered usage kept."""
    http_port = free_port()
    env = gateway_env(
        tmp_path / "gateway",
        database_url=store_url,
        benchmark_mode="true",
        bedrock_endpoint_url=fake_bedrock_process,
        bedrock_max_attempts="1",
        http_listen=f"127.0.0.1:{http_port}",
        grpc_listen=f"127.0.0.1:{free_port()}",
        reservation_lease_seconds=str(LEASE_S),
        shutdown_grace_seconds="2",
        # One process, so the SIGKILL ends the gateway outright (workers whose supervisor dies drain instead).
        workers="1",
    )
    keys = {
        user: subprocess.run(  # noqa: S603 - our own command
            [*LLMGW, "keys", "create", "--user", user, "--name", "main"],
            env=env,
            capture_output=True,
            check=True,
            timeout=STARTUP_TIMEOUT_S,
        )
        .stdout.decode()
        .strip()
        for user in USERS
    }
    first = Served(env, http_port, tmp_path / "first.log")
    try:
        delivered = []
        for user in USERS:
            with first.post(keys[user], _chat("a short answer")) as response:
                assert response.status == 200
                delivered.append(json.loads(response.read())["id"])
        started = threading.Barrier(len(USERS) * STREAMS_PER_USER + 1, timeout=WAIT_S)

        def hold_stream(key: str) -> None:
            with first.post(key, _chat("[[tokens:2000]] [[token_delay_ms:100]] a long story", stream=True)) as response:
                assert response.status == 200
                assert response.readline().startswith(b"data: ")
                started.wait()
                try:
                    while response.read(1024):
                        pass
                except (ConnectionError, http.client.HTTPException, ValueError):  # the replica was killed mid-chunk
                    pass

        streams = [
            threading.Thread(target=hold_stream, args=(keys[user],), daemon=True)
            for user in USERS
            for _ in range(STREAMS_PER_USER)
        ]
        for thread in streams:
            thread.start()
        started.wait()
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(WAIT_S)
        for thread in streams:
            thread.join(WAIT_S)
    finally:
        if first.process.poll() is None:
            first.process.kill()
            first.process.wait()

    held = {user: len(open_reservations(user, 100)) for user in USERS}
    assert held == dict.fromkeys(USERS, STREAMS_PER_USER), "the killed streams left their reservations"
    now = datetime.now(UTC)
    for user in USERS:  # each user's quota is now exactly full: only a release lets the next request in
        spent = sum(row.cost_picodollars for row in RequestRecord.select().where(RequestRecord.user == user))
        governance_repo.set_quota(user, "weekly", spent + _reserved(user), now)

    second = Served(env, http_port, tmp_path / "second.log")
    try:
        deadline = time.monotonic() + WAIT_S
        while any(open_reservations(user, 1) for user in USERS):
            assert time.monotonic() < deadline, "reservations were not released"
            time.sleep(0.1)
        assert all(_reserved(user) == 0 for user in USERS)
        for user in USERS:
            with second.post(keys[user], _chat("next please")) as response:
                assert response.status == 200, response.read()
    finally:
        assert stop(second.process) == 0
    assert {row.id for row in RequestRecord.select().where(RequestRecord.outcome == "success")} >= set(delivered)
    log = (tmp_path / "second.log").read_text()
    assert log.count("released the expired reservation") == len(USERS) * STREAMS_PER_USER
