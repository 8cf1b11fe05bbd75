"""Tests for llmgw.server.store.migrations."""

from __future__ import annotations

import threading
from pathlib import Path

import peewee
import pytest

from llmgw.server.store.db import connect_database
from llmgw.server.store.migrations import MIGRATIONS, Migration, migrate
from tests.conftest import run_sql

THREADS = 4


def _add_note_table(db: peewee.Database) -> None:
    """A test-only version 2: a table, and a row that proves how often it ran."""
    run_sql(db, "CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    run_sql(db, "INSERT INTO note (id, body) VALUES (1, 'added by migration 2')")


def _add_note_column(db: peewee.Database) -> None:
    """A test-only version 3: a column added to a table holding data."""
    run_sql(db, "ALTER TABLE note ADD COLUMN author TEXT NOT NULL DEFAULT 'nobody'")


def _fail(db: peewee.Database) -> None:
    """A test-only migration that changes the schema, then fails."""
    run_sql(db, "CREATE TABLE half_done (id INTEGER PRIMARY KEY)")
    raise RuntimeError("migration failed")


def _versions(db: peewee.Database) -> list[int]:
    return [int(str(row[0])) for row in run_sql(db, "SELECT version FROM schema_version ORDER BY version")]


@pytest.fixture
def empty_db(store_url: str, tmp_path: Path) -> peewee.Database:
    """A database with no tables yet, closed by the caller's test teardown."""
    return connect_database(store_url, tmp_path)


def test_fresh_database_gets_the_current_schema(empty_db: peewee.Database) -> None:
    """Migrating an empty database creates every table and records each version once."""
    try:
        assert migrate(empty_db) == len(MIGRATIONS)
        assert {"api_key", "request_record", "schema_version"} <= set(empty_db.get_tables())
        assert _versions(empty_db) == list(range(1, len(MIGRATIONS) + 1))
        assert migrate(empty_db) == len(MIGRATIONS)
        assert _versions(empty_db) == list(range(1, len(MIGRATIONS) + 1))
    finally:
        empty_db.close()


def test_existing_database_upgrades_in_place(empty_db: peewee.Database) -> None:
    """A database at version N moves to N+1 and N+2 keeping its data, and each step runs once."""
    try:
        version_2: list[Migration] = [*MIGRATIONS, _add_note_table]
        assert migrate(empty_db, version_2) == len(version_2)
        run_sql(empty_db, "INSERT INTO note (id, body) VALUES (2, 'written at version 2')")
        version_3 = [*version_2, _add_note_column]
        assert migrate(empty_db, version_3) == len(version_3)
        assert migrate(empty_db, version_3) == len(version_3)
        rows = run_sql(empty_db, "SELECT id, body, author FROM note ORDER BY id")
        assert rows == [
            (1, "added by migration 2", "nobody"),
            (2, "written at version 2", "nobody"),
        ]
        assert _versions(empty_db) == list(range(1, len(version_3) + 1))
    finally:
        empty_db.close()


def test_failed_migration_leaves_the_last_good_version(empty_db: peewee.Database) -> None:
    """A migration that raises is rolled back with its version row; the earlier ones stay."""
    try:
        with pytest.raises(RuntimeError, match="migration failed"):
            migrate(empty_db, [*MIGRATIONS, _fail])
        assert _versions(empty_db) == list(range(1, len(MIGRATIONS) + 1))
        assert "half_done" not in empty_db.get_tables()
    finally:
        empty_db.close()


def test_newer_database_is_refused(empty_db: peewee.Database) -> None:
    """Code that knows fewer migrations than the database has applied refuses to run on it."""
    try:
        migrate(empty_db, [*MIGRATIONS, _add_note_table])
        with pytest.raises(RuntimeError, match="newer"):
            migrate(empty_db)
    finally:
        empty_db.close()


def test_concurrent_migrations_apply_each_step_once(store_url: str, tmp_path: Path) -> None:
    """Several handles (as several replicas would) migrating at once apply every migration exactly once."""
    migrations: list[Migration] = [*MIGRATIONS, _add_note_table]
    handles = [connect_database(store_url, tmp_path) for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)
    results: list[int] = []
    errors: list[BaseException] = []

    def run(db: peewee.Database) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(migrate(db, migrations))
        except BaseException as error:
            errors.append(error)
        finally:
            db.close()

    threads = [threading.Thread(target=run, args=(db,)) for db in handles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert results == [len(migrations)] * THREADS
    check = connect_database(store_url, tmp_path)
    try:
        assert _versions(check) == list(range(1, len(migrations) + 1))
        assert run_sql(check, "SELECT COUNT(*) FROM note")[0][0] == 1
    finally:
        check.close()


def test_session_and_cache_columns_upgrade_a_request_log_in_place(empty_db: peewee.Database) -> None:
    """Version 4 adds session_id and the cache token counts to a request log that already has rows."""
    try:
        assert migrate(empty_db, MIGRATIONS[:3]) == 3
        run_sql(
            empty_db,
            'INSERT INTO request_record (id, "user", key_name, model, api, input_tokens, output_tokens,'
            " cost_picodollars, latency_ms, ttft_ms, outcome, error_reason, created_at)"
            " VALUES ('chatcmpl-1', 'alice', 'k', 'm', 'chat', 1, 2, 3, 4, NULL, 'success', '', '2026-12-01 00:00:00')",
        )
        assert migrate(empty_db) == len(MIGRATIONS)
        rows = run_sql(empty_db, "SELECT id, session_id, cache_read_tokens, cache_write_tokens FROM request_record")
        assert rows == [("chatcmpl-1", "", 0, 0)]
    finally:
        empty_db.close()


def test_version_5_adds_tier_and_upstream_columns_to_existing_rows(empty_db: peewee.Database) -> None:
    """A request log written at version 4 keeps its rows; they read an empty service tier and upstream model."""
    try:
        assert migrate(empty_db, MIGRATIONS[:4]) == 4
        run_sql(
            empty_db,
            'INSERT INTO request_record (id, "user", key_name, model, api, input_tokens, output_tokens, '
            "cost_picodollars, latency_ms, outcome, error_reason, created_at) "
            "VALUES ('chatcmpl-old', 'alice', 'k', 'm', 'chat', 5, 6, 7, 8, 'success', '', '2026-11-30 12:00:00')",
        )
        assert migrate(empty_db) == len(MIGRATIONS) >= 5
        columns = "input_tokens, cache_read_tokens, service_tier, upstream_model"
        assert run_sql(empty_db, f"SELECT {columns} FROM request_record") == [(5, 0, "", "")]  # noqa: S608
    finally:
        empty_db.close()
