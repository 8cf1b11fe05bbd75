"""Shared pytest fixtures.

Store fixtures: `store_url` names an empty database and `store_db` opens and
migrates it, parametrized over SQLite (a file in tmp_path) and PostgreSQL (a
fresh schema per test on the server named by LLMGW_TEST_POSTGRES_URL, dropped
afterwards). The PostgreSQL cases carry the `postgres` marker; they skip when the
server is unreachable, unless the CI environment variable is set, where they fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import quote

import peewee
import pytest

from llmgw.fakebedrock.config import FakeBedrockConfig
from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.server.store.db import open_database
from tests.support import GatewayThread, gateway_settings

DEFAULT_TEST_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
_POSTGRES_CONNECT_TIMEOUT_S = 3


def postgres_url() -> str:
    """The PostgreSQL server the `postgres` tests use (LLMGW_TEST_POSTGRES_URL or the local default)."""
    return os.environ.get("LLMGW_TEST_POSTGRES_URL") or DEFAULT_TEST_POSTGRES_URL


def run_sql(db: peewee.Database, statement: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
    """Run one SQL statement on `db` and return its rows (none for a statement without results)."""
    cursor = db.execute_sql(statement, params)  # type: ignore[no-untyped-call]  # unannotated in the peewee stub
    return [tuple(row) for row in cursor.fetchall()] if cursor.description else []


def postgres_admin() -> peewee.PostgresqlDatabase:
    """A connection to the test server outside any test schema; skips (locally) or fails (CI) if unreachable."""
    url = postgres_url()
    admin = peewee.PostgresqlDatabase(url, connect_timeout=_POSTGRES_CONNECT_TIMEOUT_S)
    try:
        admin.connect()
    except peewee.OperationalError:
        reason = f"PostgreSQL not reachable at {url}; start it (pg_ctlcluster ... start) or set LLMGW_TEST_POSTGRES_URL"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return admin


def _with_search_path(url: str, schema: str) -> str:
    """The URL with the session's search_path set to `schema` (libpq `options`)."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """DATABASE_URL of an empty database: a SQLite file, or a new PostgreSQL schema dropped after the test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store' / 'llmgw.db'}"
        return
    schema = f"test_{secrets.token_hex(6)}"
    admin = postgres_admin()
    try:
        run_sql(admin, f"CREATE SCHEMA {schema}")
        try:
            yield _with_search_path(postgres_url(), schema)
        finally:
            # Bounded: a connection a failed test left inside a transaction must not hang the run.
            run_sql(admin, "SET lock_timeout = '10s'")
            run_sql(admin, f"DROP SCHEMA {schema} CASCADE")
    finally:
        admin.close()


@pytest.fixture
def store_db(store_url: str, tmp_path: Path) -> Iterator[peewee.Database]:
    """A migrated database the store models are bound to, closed after the test."""
    db = open_database(store_url, tmp_path)
    try:
        yield db
    finally:
        db.close()


@pytest.fixture(scope="session")
def fake_bedrock() -> Iterator[FakeBedrockServer]:
    """One fake Bedrock for the session, answering at once; tests steer it with prompt markers."""
    with FakeBedrockServer(FakeBedrockConfig()) as server:
        yield server


@pytest.fixture(scope="module")
def gateway(fake_bedrock: FakeBedrockServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    """A real gateway (gRPC on a free port, SQLite in a temp dir) in front of the fake Bedrock."""
    settings = gateway_settings(tmp_path_factory.mktemp("gateway"), fake_bedrock.url)
    running = GatewayThread(settings).start()
    try:
        yield running
    finally:
        running.stop()
