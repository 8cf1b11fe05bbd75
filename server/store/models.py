"""The tables of the gateway, as peewee models bound to the `database` proxy.

Datetimes are aware UTC in Python and naive UTC in the columns (see fields.py),
on SQLite and PostgreSQL alike. The schema these models describe is created and
changed only by migrations.py; a change here needs a new migration there.
"""

from __future__ import annotations

from datetime import datetime

import peewee

from llmgw.server.store.db import database
from llmgw.server.store.fields import UtcDateTimeField


class BaseModel(peewee.Model):
    """Binds every table to the database chosen at start-up."""

    class Meta:
        """peewee options shared by every table."""

        database = database


class ApiKey(BaseModel):
    """An API key by its keyed hash; the secret itself is never stored.

    Deleting a key stamps `deleted_at` rather than removing the row, so its history
    stays readable. Names are unique per user among keys not deleted (a partial
    unique index), so a name can be used again once its key is deleted.
    """

    id = peewee.AutoField()
    user = peewee.CharField(max_length=255, index=True)
    name = peewee.CharField(max_length=64)
    key_hash = peewee.CharField(max_length=64, unique=True)
    created_at = UtcDateTimeField()
    expires_at = UtcDateTimeField(null=True)
    last_used_at = UtcDateTimeField(null=True)
    deleted_at = UtcDateTimeField(null=True)

    class Meta:
        """peewee table options."""

        table_name = "api_key"

    def is_usable(self, at: datetime) -> bool:
        """True when the key is neither deleted nor expired at `at`."""
        deleted_at: datetime | None = self.deleted_at
        expires_at: datetime | None = self.expires_at
        return deleted_at is None and (expires_at is None or at < expires_at)


ApiKey.add_index(
    peewee.ModelIndex(
        ApiKey, (ApiKey.user, ApiKey.name), unique=True, where=ApiKey.deleted_at.is_null(), name="api_key_live_name"
    )
)


class RequestRecord(BaseModel):
    """One served (or refused) request: who, which key by name, model, tokens, cost, time, outcome."""

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
    session_id = peewee.CharField(max_length=128, default="")  # X-Claude-Code-Session-Id
    cache_read_tokens = peewee.IntegerField(default=0)
    cache_write_tokens = peewee.IntegerField(default=0)
    service_tier = peewee.CharField(max_length=16, default="")
    upstream_model = peewee.TextField(default="")
    region = peewee.CharField(max_length=32, default="")
    attempts = peewee.IntegerField(default=0)

    class Meta:
        """peewee table options; the indexes serve per-user and time-range usage queries."""

        table_name = "request_record"
        indexes = (
            (("user", "created_at"), False),
            (("created_at",), False),
        )


class UserQuota(BaseModel):
    """A user's own cost quota; users without a row get DEFAULT_QUOTA_FREQUENCY / DEFAULT_QUOTA_DOLLARS."""

    user = peewee.CharField(max_length=255, primary_key=True)
    frequency = peewee.CharField(max_length=16)
    limit_picodollars = peewee.BigIntegerField()
    updated_at = UtcDateTimeField()

    class Meta:
        """peewee table options."""

        table_name = "user_quota"


class UserModelAccess(BaseModel):
    """A user's own model-access policy; users without a row get DEFAULT_MODEL_ACCESS.

    `models` holds the allowed model ids, sorted, one per line; `*` alone means
    every model, and an empty text allows none.
    """

    user = peewee.CharField(max_length=255, primary_key=True)
    models = peewee.TextField()
    updated_at = UtcDateTimeField()

    class Meta:
        """peewee table options."""

        table_name = "user_model_access"


class QuotaLedger(BaseModel):
    """What a user spent and holds in reserve in one quota period (see store/ledger.py)."""

    user = peewee.CharField(max_length=255)
    period_start = UtcDateTimeField()
    spent_picodollars = peewee.BigIntegerField(default=0)
    reserved_picodollars = peewee.BigIntegerField(default=0)

    class Meta:
        """peewee table options: one row per (user, period)."""

        table_name = "quota_ledger"
        primary_key = peewee.CompositeKey("user", "period_start")


class QuotaReservation(BaseModel):
    """One admitted request's hold on its user's ledger row, with a lease (see store/ledger.py)."""

    id = peewee.CharField(max_length=32, primary_key=True)
    user = peewee.CharField(max_length=255)
    period_start = UtcDateTimeField()
    bound_picodollars = peewee.BigIntegerField()
    owner = peewee.CharField(max_length=128)
    created_at = UtcDateTimeField()
    expires_at = UtcDateTimeField(index=True)

    class Meta:
        """peewee table options: one row per request in flight, found by user or by lease expiry."""

        table_name = "quota_reservation"
        indexes = ((("user", "created_at"), False),)


class UserRateLimit(BaseModel):
    """A user's own rate limits (requests and tokens per minute, 0 = unlimited); absent = the defaults."""

    user = peewee.CharField(max_length=255, primary_key=True)
    requests_per_minute = peewee.BigIntegerField()
    tokens_per_minute = peewee.BigIntegerField()
    updated_at = UtcDateTimeField()

    class Meta:
        """peewee table options."""

        table_name = "user_rate_limit"


class RateWindow(BaseModel):
    """Requests admitted and tokens used by a rate-limited user in one UTC minute (see store/ratelimit.py)."""

    user = peewee.CharField(max_length=255)
    window_start = UtcDateTimeField()
    requests = peewee.BigIntegerField(default=0)
    tokens = peewee.BigIntegerField(default=0)

    class Meta:
        """peewee table options: one row per (user, minute)."""

        table_name = "rate_window"
        primary_key = peewee.CompositeKey("user", "window_start")
