"""Schema migrations: every change to the tables, in order, from the first version on.

The database records its version in `schema_version` (one row per applied
migration). `migrate` applies the pending migrations, each in its own
transaction together with its version row, so a failure leaves the database at
the last good version. Every step first takes a lock (PostgreSQL: a transaction
advisory lock; SQLite: the write lock of BEGIN IMMEDIATE) and re-reads the
version, so replicas starting together apply each migration exactly once.

Migrations never use the live models in models.py: each one describes the tables
as they were at its version, so old migrations keep producing the same schema
after the models move on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

import peewee

from llmgw.server.store.fields import UtcDateTimeField

Migration = Callable[[peewee.Database], None]

# Any fixed number would do; it only has to be the same in every replica.
_ADVISORY_LOCK_ID = 0x6C6C6D67775F6D67  # "llmgw_mg"


# One row per applied migration. Used through explicit-database queries (not a bound
# model), so several databases can be migrated at once from one process.
_VERSIONS = peewee.Table("schema_version")
_CREATE_VERSIONS = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL PRIMARY KEY, applied_at TIMESTAMP NOT NULL)"
)


def _create_keys_and_requests(db: peewee.Database) -> None:
    """Version 1: API keys and the request log."""

    class ApiKey(peewee.Model):
        id = peewee.AutoField()
        user = peewee.CharField(max_length=255, index=True)
        name = peewee.CharField(max_length=64)
        key_hash = peewee.CharField(max_length=64, unique=True)
        created_at = UtcDateTimeField()
        expires_at = UtcDateTimeField(null=True)
        last_used_at = UtcDateTimeField(null=True)
        deleted_at = UtcDateTimeField(null=True)

        class Meta:
            table_name = "api_key"

    ApiKey.add_index(
        peewee.ModelIndex(
            ApiKey,
            (ApiKey.user, ApiKey.name),
            unique=True,
            where=ApiKey.deleted_at.is_null(),
            name="api_key_live_name",
        )
    )

    class RequestRecord(peewee.Model):
        id = peewee.CharField(max_length=64, primary_key=True)
        user = peewee.CharField(max_length=255)
        key_name = peewee.CharField(max_length=64)
        model = peewee.TextField()  # as the caller sent it, so unbounded
        api = peewee.CharField(max_length=32)
        input_tokens = peewee.IntegerField()
        output_tokens = peewee.IntegerField()
        cost_picodollars = peewee.BigIntegerField()
        latency_ms = peewee.IntegerField()
        ttft_ms = peewee.IntegerField(null=True)
        outcome = peewee.CharField(max_length=32)
        error_reason = peewee.CharField(max_length=64, default="")
        created_at = UtcDateTimeField()

        class Meta:
            table_name = "request_record"
            indexes = (
                (("user", "created_at"), False),
                (("created_at",), False),
            )

    with db.bind_ctx([ApiKey, RequestRecord]):
        db.create_tables([ApiKey, RequestRecord], safe=False)


def _create_governance(db: peewee.Database) -> None:
    """Version 2: per-user quotas and model access, and the quota ledger."""

    class UserQuota(peewee.Model):
        user = peewee.CharField(max_length=255, primary_key=True)
        frequency = peewee.CharField(max_length=16)
        limit_picodollars = peewee.BigIntegerField()
        updated_at = UtcDateTimeField()

        class Meta:
            table_name = "user_quota"

    class UserModelAccess(peewee.Model):
        user = peewee.CharField(max_length=255, primary_key=True)
        models = peewee.TextField()
        updated_at = UtcDateTimeField()

        class Meta:
            table_name = "user_model_access"

    class QuotaLedger(peewee.Model):
        user = peewee.CharField(max_length=255)
        period_start = UtcDateTimeField()
        spent_picodollars = peewee.BigIntegerField(default=0)
        reserved_picodollars = peewee.BigIntegerField(default=0)

        class Meta:
            table_name = "quota_ledger"
            primary_key = peewee.CompositeKey("user", "period_start")

    tables = [UserQuota, UserModelAccess, QuotaLedger]
    with db.bind_ctx(tables):
        db.create_tables(tables, safe=False)


def _create_rate_limits(db: peewee.Database) -> None:
    """Version 3: per-user rate limits and the per-minute rate windows."""

    class UserRateLimit(peewee.Model):
        user = peewee.CharField(max_length=255, primary_key=True)
        requests_per_minute = peewee.BigIntegerField()
        tokens_per_minute = peewee.BigIntegerField()
        updated_at = UtcDateTimeField()

        class Meta:
            table_name = "user_rate_limit"

    class RateWindow(peewee.Model):
        user = peewee.CharField(max_length=255)
        window_start = UtcDateTimeField()
        requests = peewee.BigIntegerField(default=0)
        tokens = peewee.BigIntegerField(default=0)

        class Meta:
            table_name = "rate_window"
            primary_key = peewee.CompositeKey("user", "window_start")

    tables = [UserRateLimit, RateWindow]
    with db.bind_ctx(tables):
        db.create_tables(tables, safe=False)


def _add_session_and_cache_tokens(db: peewee.Database) -> None:
    """Version 4: the request log's Claude Code session id and prompt-cache token counts."""
    for column in (
        "session_id VARCHAR(128) NOT NULL DEFAULT ''",
        "cache_read_tokens INTEGER NOT NULL DEFAULT 0",
        "cache_write_tokens INTEGER NOT NULL DEFAULT 0",
    ):
        db.execute_sql(f"ALTER TABLE request_record ADD COLUMN {column}")  # type: ignore[no-untyped-call]


def _request_tier_upstream(db: peewee.Database) -> None:
    """Version 5: the request log keeps the service tier and the model id sent to Bedrock."""
    for column in ("service_tier VARCHAR(16) NOT NULL DEFAULT ''", "upstream_model TEXT NOT NULL DEFAULT ''"):
        db.execute_sql(f"ALTER TABLE request_record ADD COLUMN {column}")  # type: ignore[no-untyped-call]


def _number_request_records(db: peewee.Database) -> None:
    """Version 6: a number per request record in insertion order, for following the log (WatchRequests).

    SQLite already numbers rows in insertion order (`rowid`, under its one write
    lock), so only PostgreSQL gets a column: `seq`, filled from a sequence as rows
    are inserted, with an index to read onward from a number.
    """
    if isinstance(db, peewee.PostgresqlDatabase):
        db.execute_sql("ALTER TABLE request_record ADD COLUMN seq BIGSERIAL")  # type: ignore[no-untyped-call]  # unannotated in the peewee stub
        db.execute_sql("CREATE INDEX request_record_seq ON request_record (seq)")  # type: ignore[no-untyped-call]  # unannotated in the peewee stub


def _add_request_routing(db: peewee.Database) -> None:
    """Version 7: where each request was sent (region) and how many calls to Bedrock it took."""
    for column in ("region VARCHAR(32) NOT NULL DEFAULT ''", "attempts INTEGER NOT NULL DEFAULT 0"):
        db.execute_sql(f"ALTER TABLE request_record ADD COLUMN {column}")  # type: ignore[no-untyped-call]


def _create_reservations(db: peewee.Database) -> None:
    """Version 8: one row per quota reservation, with its lease (issue 15)."""

    class QuotaReservation(peewee.Model):
        id = peewee.CharField(max_length=32, primary_key=True)
        user = peewee.CharField(max_length=255)
        period_start = UtcDateTimeField()
        bound_picodollars = peewee.BigIntegerField()
        owner = peewee.CharField(max_length=128)
        created_at = UtcDateTimeField()
        expires_at = UtcDateTimeField(index=True)

        class Meta:
            table_name = "quota_reservation"
            indexes = ((("user", "created_at"), False),)

    with db.bind_ctx([QuotaReservation]):
        db.create_tables([QuotaReservation], safe=False)


MIGRATIONS: tuple[Migration, ...] = (
    _create_keys_and_requests,
    _create_governance,
    _create_rate_limits,
    _add_session_and_cache_tokens,
    _request_tier_upstream,
    _number_request_records,
    _add_request_routing,
    _create_reservations,
)
"""The schema's history; migration i (from 0) brings the database to version i + 1. Append only."""


def migrate(db: peewee.Database, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Apply the pending migrations and return the schema version the database is now at.

    Raises RuntimeError when the database is newer than this code knows (a
    downgrade would lose data; run the newer gateway instead).
    """
    while True:
        with _locked_transaction(db):
            db.execute_sql(_CREATE_VERSIONS)  # type: ignore[no-untyped-call]  # unannotated in the peewee stub
            current = _VERSIONS.select(peewee.fn.MAX(_VERSIONS.c.version)).scalar(db) or 0
            if current > len(migrations):
                raise RuntimeError(f"database schema version {current} is newer than this gateway's {len(migrations)}")
            if current == len(migrations):
                return int(current)
            migrations[current](db)
            applied_at = datetime.now(UTC).replace(tzinfo=None)  # naive UTC, as every datetime column
            _VERSIONS.insert({_VERSIONS.c.version: current + 1, _VERSIONS.c.applied_at: applied_at}).execute(db)


@contextmanager
def _locked_transaction(db: peewee.Database) -> Iterator[None]:
    """A transaction that holds the migration lock from its first statement to its end."""
    if isinstance(db, peewee.SqliteDatabase):
        with db.atomic(lock_type="IMMEDIATE"):
            yield
        return
    with db.atomic():
        if isinstance(db, peewee.PostgresqlDatabase):
            peewee.Select(columns=[peewee.fn.pg_advisory_xact_lock(_ADVISORY_LOCK_ID)]).scalar(db)
        yield
