"""The database handle: one proxy the models bind to, opened from DATABASE_URL at start-up.

Nothing connects at import time. The app factory calls `open_database` once;
it builds the right peewee database for the URL, points the `database` proxy
at it, brings the schema up to date and returns it, so tests and replicas
each get their own handle without global settings.

URLs: empty or None means the embedded SQLite file `<data_dir>/llmgw.db`;
`sqlite:///relative/path.db`, `sqlite:////absolute/path.db` (the usual
SQLAlchemy / peewee spelling) pick another file; `postgresql://user@host:port/db`
(libpq URI syntax, query parameters such as `options` allowed) uses PostgreSQL,
which is how several gateway replicas share one store.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import peewee

from llmgw.server.store.migrations import migrate

database = peewee.DatabaseProxy()

DATABASE_FILE_NAME = "llmgw.db"
_BUSY_TIMEOUT_MS = 5000  # how long a writer waits for another connection's lock
# Per connection. WAL (readers never wait for the group-commit writer) is set once per
# file instead, by _enable_wal.
_SQLITE_PRAGMAS = {
    "busy_timeout": _BUSY_TIMEOUT_MS,
    "synchronous": "normal",  # durable across process crashes; WAL keeps it consistent on power loss
    "foreign_keys": 1,
}
_T = TypeVar("_T")


class _PostgresqlDatabase(peewee.PostgresqlDatabase):
    """PostgreSQL that reconnects once when the server dropped an idle connection.

    peewee runs in autocommit mode (its old `autorollback` option is gone), so a
    failed statement never leaves a connection stuck in an aborted transaction; what
    remains is a connection the server closed (restart, idle timeout). Outside a
    transaction that is retried on a fresh connection; inside one it is raised,
    since the transaction's earlier work is lost.
    """

    def execute_sql(self, sql: str, params: Sequence[object] | None = None) -> object:
        """Run a statement, reconnecting once if the connection was lost between transactions."""
        # The peewee stub leaves execute_sql unannotated.
        run = super().execute_sql
        return self._retry_on_lost_connection(lambda: run(sql, params))  # type: ignore[no-untyped-call]

    def begin(self, isolation_level: str | None = None) -> None:
        """Open a transaction, reconnecting once if the idle connection was lost."""
        begin = super().begin
        self._retry_on_lost_connection(lambda: begin(isolation_level))

    def _retry_on_lost_connection(self, call: Callable[[], _T]) -> _T:
        try:
            return call()
        except (peewee.OperationalError, peewee.InterfaceError):
            if self.in_transaction() or self.is_closed() or self.is_connection_usable():
                raise
            self.close()
            return call()


def connect_database(url: str | None, data_dir: Path) -> peewee.Database:
    """The peewee database named by DATABASE_URL; it connects on first use.

    A SQLite file (and its directory) is created here, already in WAL mode.

    Raises ValueError naming DATABASE_URL for an unsupported scheme.
    """
    if not url:
        data_dir.mkdir(parents=True, exist_ok=True)
        return _sqlite(data_dir / DATABASE_FILE_NAME)
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if not path:
            raise ValueError("DATABASE_URL: sqlite:/// needs a file path, e.g. sqlite:///llmgw.db")
        if path == ":memory:":
            return _sqlite(path)
        file = Path(path)
        file.parent.mkdir(parents=True, exist_ok=True)
        return _sqlite(file)
    if url.startswith(("postgresql://", "postgres://")):
        return _PostgresqlDatabase("postgresql://" + url.split("://", 1)[1])
    scheme = url.split("://", 1)[0] if "://" in url else url
    raise ValueError(
        f"DATABASE_URL: unsupported database {scheme!r}; use sqlite:///path or postgresql://user@host:port/db"
    )


def open_database(url: str | None, data_dir: Path) -> peewee.Database:
    """Open the database for DATABASE_URL, bind the models to it and migrate it to the current schema."""
    db = connect_database(url, data_dir)
    database.initialize(db)
    migrate(db)
    return db


def _enable_wal(path: Path) -> None:
    """Switch the file to WAL once, waiting out other connections doing the same.

    WAL is a property of the file, so later connections find it set. The switch
    needs an exclusive lock, and SQLite answers "database is locked" at once,
    without its busy handler, when another connection holds a shared lock; so
    several processes creating the file together retry here until busy_timeout.
    """
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        connection = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode = wal")
            return
        except sqlite3.OperationalError:
            if time.monotonic() >= deadline:
                raise
        finally:
            connection.close()
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def _sqlite(path: Path | str) -> peewee.SqliteDatabase:
    if isinstance(path, Path):
        _enable_wal(path)
    # IMMEDIATE: a transaction takes the write lock at BEGIN, so two writers queue on
    # busy_timeout instead of failing when a read lock would need upgrading.
    return peewee.SqliteDatabase(str(path), pragmas=_SQLITE_PRAGMAS, lock_type="IMMEDIATE")
