"""Tests for llmgw.server.store.db."""

from __future__ import annotations

from pathlib import Path

import peewee
import pytest

from llmgw.server.store.db import database, open_database
from llmgw.server.store.models import ApiKey
from tests.conftest import postgres_admin, run_sql


def test_default_is_a_wal_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    """No DATABASE_URL means data_dir/llmgw.db, created with its directory, in WAL mode."""
    data_dir = tmp_path / "data"
    db = open_database(None, data_dir)
    try:
        assert isinstance(db, peewee.SqliteDatabase)
        assert (data_dir / "llmgw.db").is_file()
        names = ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
        pragmas = {name: run_sql(db, f"PRAGMA {name}")[0][0] for name in names}
        assert pragmas == {"journal_mode": "wal", "synchronous": 1, "busy_timeout": 5000, "foreign_keys": 1}
        assert database.obj is db
        assert ApiKey.select().count() == 0
    finally:
        db.close()


def test_sqlite_url_names_the_file(tmp_path: Path) -> None:
    """sqlite:////absolute/path opens that file, creating its directory."""
    path = tmp_path / "elsewhere" / "gateway.db"
    db = open_database(f"sqlite:///{path}", tmp_path / "unused")
    try:
        assert Path(db.database) == path
        assert path.is_file()
        assert not (tmp_path / "unused").exists()
    finally:
        db.close()


@pytest.mark.parametrize("url", ["mysql://root@localhost/db", "sqlite:///", "not a url"])
def test_bad_url_names_the_setting(tmp_path: Path, url: str) -> None:
    """An unsupported DATABASE_URL is refused with a message naming the setting."""
    with pytest.raises(ValueError, match="DATABASE_URL"):
        open_database(url, tmp_path)


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_postgres_reconnects_after_the_server_drops_the_connection(store_db: peewee.Database) -> None:
    """A connection the server terminated between transactions is replaced on the next query."""
    [(backend_pid,)] = run_sql(store_db, "SELECT pg_backend_pid()")
    admin = postgres_admin()
    try:
        run_sql(admin, "SELECT pg_terminate_backend(%s)", (backend_pid,))
    finally:
        admin.close()
    assert ApiKey.select().count() == 0
    assert run_sql(store_db, "SELECT pg_backend_pid()") != [(backend_pid,)]
