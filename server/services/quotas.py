"""QuotaService: per-user cost quotas and rate limits (admins) and where a user stands (admins, or the user)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from llmgw.server.core.periods import QuotaFrequency, period_bounds
from llmgw.server.governance.identity import current_principal
from llmgw.server.governance.roles import admin_target, target_user
from llmgw.server.rpc.context import Context
from llmgw.server.services.convert import timestamp, usd
from llmgw.server.store import governance_repo
from llmgw.server.store.db import database
from llmgw.server.store.ledger import (
    HeldReservation,
    QuotaLimit,
    carry_period,
    ledger_entry,
    open_reservations,
    quota_limits,
)
from llmgw.server.store.ratelimit import MAX_RPM, MAX_TPM, UserRate, rate_limits, reset_rate_limit, set_rate_limit
from llmgw.server.store.runner import DatabaseRunner
from llmgw.v1 import quota_pb2, quota_service_pb2, quota_service_pb2_grpc
from llmgw.wire.errors import InvalidArgument, NotFound
from llmgw.wire.usd import parse_usd

FREQUENCY_TO_PROTO: dict[QuotaFrequency, quota_pb2.QuotaFrequency.ValueType] = {
    "daily": quota_pb2.QUOTA_FREQUENCY_DAILY,
    "weekly": quota_pb2.QUOTA_FREQUENCY_WEEKLY,
    "monthly": quota_pb2.QUOTA_FREQUENCY_MONTHLY,
}
logger = logging.getLogger(__name__)
DEFAULT_RESERVATIONS = 100
MAX_RESERVATIONS = 1000
_FREQUENCY_FROM_PROTO: dict[int, QuotaFrequency] = {int(number): name for name, number in FREQUENCY_TO_PROTO.items()}


def parse_frequency(number: int) -> QuotaFrequency:
    """The frequency of a SetQuota request; InvalidArgument naming `frequency` when unset or unknown."""
    frequency = _FREQUENCY_FROM_PROTO.get(number)
    if frequency is None:
        raise InvalidArgument("frequency must be daily, weekly or monthly", field="frequency")
    return frequency


def quota_message(limit: QuotaLimit) -> quota_pb2.Quota:
    """The API view of a quota in effect."""
    return quota_pb2.Quota(
        user=limit.user,
        frequency=FREQUENCY_TO_PROTO[limit.frequency],
        limit_usd=usd(limit.limit_picodollars),
        is_default=limit.is_default,
    )


def rate_limit_message(rate: UserRate) -> quota_pb2.RateLimit:
    """The API view of a rate limit in effect."""
    return quota_pb2.RateLimit(
        user=rate.user,
        requests_per_minute=rate.requests_per_minute,
        tokens_per_minute=rate.tokens_per_minute,
        is_default=rate.is_default,
    )


def reservation_message(held: HeldReservation) -> quota_pb2.Reservation:
    """The API view of a reservation still held."""
    return quota_pb2.Reservation(
        id=held.id,
        user=held.user,
        period_start=timestamp(held.period_start),
        reserved_usd=usd(held.bound_picodollars),
        owner=held.owner,
        created_at=timestamp(held.created_at),
        expires_at=timestamp(held.expires_at),
    )


def bounded(text: str, limit: int = 64) -> str:
    """At most `limit` characters of client input, for an error message."""
    return text if len(text) <= limit else f"{text[:limit]}..."


def _check_rate(value: int, maximum: int, field: str) -> int:
    if not 0 <= value <= maximum:
        raise InvalidArgument(f"{field} must be from 0 (unlimited) to {maximum}, got {value}", field=field)
    return value


class QuotaServicer(quota_service_pb2_grpc.QuotaServiceServicer):
    """Reads and changes quotas in the store; the ledger (store/ledger.py) enforces them."""

    def __init__(
        self,
        db: DatabaseRunner,
        default_frequency: QuotaFrequency,
        default_limit: int,
        is_admin: Callable[[str], bool],
        clock: Callable[[], datetime],
        *,
        default_rpm: int = 0,
        default_tpm: int = 0,
        release: Callable[[str, str], Awaitable[HeldReservation | None]] | None = None,
    ) -> None:
        self._release = release
        self._default_rpm = default_rpm
        self._default_tpm = default_tpm
        self._db = db
        self._default_frequency = default_frequency
        self._default_limit = default_limit
        self._is_admin = is_admin
        self._clock = clock

    def _limit(self, user: str) -> QuotaLimit:
        return quota_limits([user], self._default_frequency, self._default_limit)[user]

    async def GetQuota(
        self, request: quota_service_pb2.GetQuotaRequest, context: Context
    ) -> quota_service_pb2.GetQuotaResponse:
        """The user's quota in effect (admins only)."""
        user = admin_target(current_principal(), request.user)
        return quota_service_pb2.GetQuotaResponse(quota=quota_message(await self._db.run(lambda: self._limit(user))))

    async def SetQuota(
        self, request: quota_service_pb2.SetQuotaRequest, context: Context
    ) -> quota_service_pb2.SetQuotaResponse:
        """Give a known user their own quota (admins only); the next admission on any replica uses it."""
        user = admin_target(current_principal(), request.user)
        frequency = parse_frequency(request.frequency)
        limit = parse_usd(request.limit_usd, field="limit_usd")
        now = self._clock()

        def write() -> QuotaLimit:
            governance_repo.require_known_user(user, self._is_admin)
            with database.atomic():
                carry_period(user, self._limit(user).frequency, frequency, now)
                governance_repo.set_quota(user, frequency, limit, now)
            return self._limit(user)

        return quota_service_pb2.SetQuotaResponse(quota=quota_message(await self._db.run(write)))

    async def ResetQuota(
        self, request: quota_service_pb2.ResetQuotaRequest, context: Context
    ) -> quota_service_pb2.ResetQuotaResponse:
        """Remove the user's own quota (admins only); returns the default now in effect."""
        user = admin_target(current_principal(), request.user)
        now = self._clock()

        def reset() -> QuotaLimit:
            with database.atomic():
                carry_period(user, self._limit(user).frequency, self._default_frequency, now)
                governance_repo.reset_quota(user)
            return self._limit(user)

        return quota_service_pb2.ResetQuotaResponse(quota=quota_message(await self._db.run(reset)))

    async def GetQuotaStatus(
        self, request: quota_service_pb2.GetQuotaStatusRequest, context: Context
    ) -> quota_service_pb2.GetQuotaStatusResponse:
        """Spend in the current period against the limit; for admins, or the user (`me`)."""
        user = target_user(current_principal(), request.user)
        now = self._clock()

        def read() -> quota_pb2.QuotaStatus:
            limit = self._limit(user)
            start, end = period_bounds(limit.frequency, now)
            entry = ledger_entry(user, start)
            spent, cap = entry.spent_picodollars, limit.limit_picodollars
            return quota_pb2.QuotaStatus(
                user=user,
                frequency=FREQUENCY_TO_PROTO[limit.frequency],
                limit_usd=usd(cap),
                spent_usd=usd(spent),
                remaining_usd=usd(max(cap - spent - entry.reserved_picodollars, 0)),
                period_start=timestamp(start),
                period_end=timestamp(end),
                exceeded=spent + entry.reserved_picodollars >= cap,
                reserved_usd=usd(entry.reserved_picodollars),
            )

        return quota_service_pb2.GetQuotaStatusResponse(status=await self._db.run(read))

    async def ListReservations(
        self, request: quota_service_pb2.ListReservationsRequest, context: Context
    ) -> quota_service_pb2.ListReservationsResponse:
        """The user's reservations still held, oldest first (admins only)."""
        user = admin_target(current_principal(), request.user)
        size = request.page_size if 0 < request.page_size <= MAX_RESERVATIONS else DEFAULT_RESERVATIONS
        held = await self._db.run(lambda: open_reservations(user, size))
        return quota_service_pb2.ListReservationsResponse(reservations=[reservation_message(row) for row in held])

    async def ReleaseReservation(
        self, request: quota_service_pb2.ReleaseReservationRequest, context: Context
    ) -> quota_service_pb2.ReleaseReservationResponse:
        """Release one of the user's reservations now (admins only); the release is logged."""
        principal = current_principal()
        user = admin_target(principal, request.user)
        if self._release is None:
            raise NotFound("This gateway keeps no reservations.")
        held = await self._release(user, request.reservation_id)
        if held is None:
            raise NotFound(f"{user} holds no reservation {bounded(request.reservation_id)!r}.")
        logger.warning(
            "quota ledger: %s released the reservation %s of %s (%s USD, held by %s)",
            principal.user,
            held.id,
            held.user,
            usd(held.bound_picodollars),
            held.owner,
        )
        return quota_service_pb2.ReleaseReservationResponse(reservation=reservation_message(held))

    def _rate(self, user: str) -> UserRate:
        return rate_limits([user], self._default_rpm, self._default_tpm)[user]

    async def GetRateLimit(
        self, request: quota_service_pb2.GetRateLimitRequest, context: Context
    ) -> quota_service_pb2.GetRateLimitResponse:
        """The user's rate limit in effect (admins only)."""
        user = admin_target(current_principal(), request.user)
        rate = await self._db.run(lambda: self._rate(user))
        return quota_service_pb2.GetRateLimitResponse(rate_limit=rate_limit_message(rate))

    async def SetRateLimit(
        self, request: quota_service_pb2.SetRateLimitRequest, context: Context
    ) -> quota_service_pb2.SetRateLimitResponse:
        """Give a known user their own rate limit (admins only); the next admission on any replica uses it."""
        user = admin_target(current_principal(), request.user)
        rpm = _check_rate(request.requests_per_minute, MAX_RPM, "requests_per_minute")
        tpm = _check_rate(request.tokens_per_minute, MAX_TPM, "tokens_per_minute")
        now = self._clock()

        def write() -> UserRate:
            governance_repo.require_known_user(user, self._is_admin)
            set_rate_limit(user, rpm, tpm, now)
            return self._rate(user)

        return quota_service_pb2.SetRateLimitResponse(rate_limit=rate_limit_message(await self._db.run(write)))

    async def ResetRateLimit(
        self, request: quota_service_pb2.ResetRateLimitRequest, context: Context
    ) -> quota_service_pb2.ResetRateLimitResponse:
        """Remove the user's own rate limit (admins only); returns the default now in effect."""
        user = admin_target(current_principal(), request.user)

        def reset() -> UserRate:
            reset_rate_limit(user)
            return self._rate(user)

        return quota_service_pb2.ResetRateLimitResponse(rate_limit=rate_limit_message(await self._db.run(reset)))
