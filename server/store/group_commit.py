"""The group-commit writer: every write on a request's path, batched on one background thread.

It does five jobs in the same transactions: request-log rows, quota-ledger admissions,
settlements of reservations, rate-window admissions and charges, and key `last_used_at` touches.

Every request ends with a row in `request_record`, and DESIGN.md promises the
row is committed before the client sees the last byte. Committing each row in
its own transaction would put a disk flush on every request's path; instead
callers enqueue rows and one thread drains whatever has accumulated (up to
`max_batch` rows) into a single transaction, so concurrent requests share one
commit and the event loop never waits on disk. Each caller still learns whether
its own row was committed.

The same thread admits requests against the quota ledger (`admit`), in the same
group transactions, so the admission of a request and the rows of others share
one commit and one lock. A row may carry the settlement of its request's quota reservation
(store/ledger.py): it is applied in the same transaction as the row, so the
ledger and the log never disagree. Key `last_used_at` updates ride along too
(the authenticator queues at most one per key per minute).

The batch's rows go in as one multi-row INSERT whose text is built once per row count and
placeholder style, not by peewee's query compiler per batch.

A batch that fails is retried row by row, so one bad row (say, a duplicate id)
fails only its own caller; its settlement is still applied on its own, so a
reservation is never left held. When the database itself fails (an outage), the
row and its settlement go to the durable spool (store/spool.py) instead, and are
replayed by the next `maintain` that finds the database back. Failures are logged
by row id and error type; rows hold no secrets.

`maintain`, run periodically by every replica, renews the leases of this
replica's reservations, sweeps expired ones (store/ledger.py) and replays the
spool, each in its own transaction on this thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import queue
import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import peewee

from llmgw.server.store.keys_repo import touch_last_used
from llmgw.server.store.ledger import (
    HeldReservation,
    QuotaRules,
    Reservation,
    Settlement,
    admit_batch,
    apply_settlements,
    release_reservation,
    renew_leases,
    sweep_expired,
)
from llmgw.server.store.models import RequestRecord
from llmgw.server.store.outage import is_outage
from llmgw.server.store.prepared import execute_prepared
from llmgw.server.store.ratelimit import RateLimiter
from llmgw.server.store.spool import Spool

logger = logging.getLogger(__name__)

DEFAULT_MAX_BATCH: Final = 500


@dataclass(frozen=True, slots=True)
class RequestRow:
    """One request record as the services produce it.

    `api` is "chat", "chat_stream", "embeddings", "messages", "messages_stream",
    "bedrock_invoke" or "bedrock_invoke_stream"; `outcome` is "success",
    "quota_exceeded", "model_access_denied", "error" or "cancelled", with
    `error_reason` the error's reason code (empty on success); `created_at` is
    aware UTC; `cost_picodollars` is exact (llmgw.server.core.money), cache tokens included;
    `session_id` is the Claude Code session (empty when none was sent). `input_tokens`
    are the uncached prompt tokens; cache reads and writes are counted apart.
    `service_tier` is the Bedrock tier that served the request (empty when none did),
    `upstream_model` the id sent to Bedrock (an application inference profile's ARN for
    one; the target that answered, or was tried last, when the request was routed);
    `region` where it was sent and `attempts` the calls made to Bedrock for it.
    """

    id: str
    user: str
    key_name: str
    model: str
    api: str
    input_tokens: int
    output_tokens: int
    cost_picodollars: int
    latency_ms: int
    ttft_ms: int | None
    outcome: str
    error_reason: str
    created_at: datetime
    session_id: str = ""
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    service_tier: str = ""
    upstream_model: str = ""
    region: str = ""
    attempts: int = 0


_RECORD_FIELDS: Final = tuple(RequestRecord._meta.fields[name] for name in RequestRow.__slots__)
_RECORD_COLUMNS: Final = ", ".join(f'"{field.column_name}"' for field in _RECORD_FIELDS)
_RECORD_CONVERTERS: Final = tuple(
    (name, field.db_value) for name, field in zip(RequestRow.__slots__, _RECORD_FIELDS, strict=True)
)


@functools.cache
def _insert_sql(param: str, count: int) -> str:
    """The INSERT of `count` request rows for one placeholder style."""
    row = "(" + ", ".join([param] * len(_RECORD_FIELDS)) + ")"
    # Only the model's own names and placeholders go into the text; values are parameters.
    table = RequestRecord._meta.table_name
    return f'INSERT INTO "{table}" ({_RECORD_COLUMNS}) VALUES ' + ", ".join([row] * count)  # noqa: S608


def _insert_rows(db: peewee.Database, rows: list[RequestRow]) -> None:
    """Insert request rows in one statement; values pass through the columns' `db_value` as with peewee."""
    params = [convert(getattr(row, name)) for row in rows for name, convert in _RECORD_CONVERTERS]
    execute_prepared(db, _insert_sql(db.param, len(rows)), params)


@dataclass(frozen=True, slots=True)
class KeyUse:
    """A key was used at `when`: its last_used_at moves forward."""

    key_id: int
    when: datetime


@dataclass(frozen=True, slots=True)
class Admission:
    """A request asking to reserve its worst-case cost against its user's quota."""

    user: str
    bound_picodollars: int


@dataclass(frozen=True, slots=True)
class Maintenance:
    """Renew this replica's leases, sweep expired reservations, replay the spool."""


@dataclass(frozen=True, slots=True)
class Release:
    """An admin releasing one of a user's reservations."""

    user: str
    reservation_id: str


_Work = RequestRow | KeyUse | Admission | Maintenance | Release | None  # None: a settlement alone


@dataclass(frozen=True, slots=True)
class _Item:
    work: _Work
    settlement: Settlement | None
    future: concurrent.futures.Future[Any]


class GroupCommitWriter:
    """Batches every write of a request's path into shared transactions on one thread (module docstring)."""

    def __init__(
        self,
        db: peewee.Database,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        quota_rules: QuotaRules | None = None,
        rate_limiter: RateLimiter | None = None,
        spool: Spool | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._db = db
        self._quota_rules = quota_rules
        self._rate_limiter = rate_limiter
        self._spool = spool
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()  # None: stop
        self._thread = threading.Thread(target=self._run, name="request-log-writer", daemon=True)
        self._state_lock = threading.Lock()
        self._started = False
        self._closed = False
        self.batches_committed = 0
        """Transactions committed so far (a batch retried row by row counts each row's)."""

    def start(self) -> None:
        """Start the writer thread; rows may be queued before, and wait for it."""
        with self._state_lock:
            if self._started:
                raise RuntimeError("the group-commit writer is already started")
            self._started = True
        self._thread.start()

    def record_nowait(self, row: RequestRow, settlement: Settlement | None = None) -> concurrent.futures.Future[None]:
        """Queue a row (and its settlement); the future completes when they commit, or fails with the error."""
        return self._put(row, settlement)

    async def record(self, row: RequestRow, settlement: Settlement | None = None) -> None:
        """Queue a row (and its settlement) and wait until committed; raises what the commit raised.

        Cancelling the caller does not withdraw the row: it is still written.
        """
        await asyncio.shield(asyncio.wrap_future(self.record_nowait(row, settlement)))

    def touch_key_nowait(self, key_id: int, when: datetime) -> None:
        """Queue a last_used_at update; it commits with the next batch, nobody waits for it."""
        self._put(KeyUse(key_id, when), None)

    async def admit(self, user: str, bound_picodollars: int) -> Reservation:
        """Reserve a request's worst-case cost in the ledger (store/ledger.py), or raise QuotaExceeded.

        The reservation is committed before this returns. Needs `quota_rules`.
        """
        if self._quota_rules is None:
            raise RuntimeError("this writer was built without quota rules")
        future = self._put(Admission(user, bound_picodollars), None)
        try:
            reservation: Reservation = await asyncio.shield(asyncio.wrap_future(future))
        except asyncio.CancelledError:
            # The caller is gone; a reservation made anyway must not stay held.
            future.add_done_callback(self._release_abandoned)
            raise
        return reservation

    async def maintain(self) -> list[HeldReservation]:
        """Renew this replica's leases, release expired ones (returned), replay the spool.

        Raises what the database raised; the next call tries again.
        """
        released: list[HeldReservation] = await asyncio.wrap_future(self._put(Maintenance(), None))
        return released

    async def release_reservation(self, user: str, reservation_id: str) -> HeldReservation | None:
        """Release one of the user's reservations (admins); None when it is no longer held."""
        held: HeldReservation | None = await asyncio.wrap_future(self._put(Release(user, reservation_id), None))
        return held

    def _release_abandoned(self, future: concurrent.futures.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            return
        with contextlib.suppress(RuntimeError):  # closed: the reservation lapses with its period
            self._put(None, Settlement(future.result(), 0))

    def _put(self, work: _Work, settlement: Settlement | None) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._state_lock:
            if self._closed:
                raise RuntimeError("the group-commit writer is closed")
            self._queue.put(_Item(work, settlement, future))
        return future

    def close_blocking(self) -> None:
        """Commit every row queued so far, then stop the thread; later rows are refused."""
        with self._state_lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
            start = not self._started
            self._started = True
        if start:
            self._thread.start()
        self._thread.join()

    async def close(self) -> None:
        """`close_blocking` without blocking the event loop: flush what is queued, then stop."""
        await asyncio.to_thread(self.close_blocking)

    def _run(self) -> None:
        try:
            stopping = False
            while not stopping:
                batch: list[_Item] = []
                item = self._queue.get()
                while item is not None:
                    batch.append(item)
                    if len(batch) >= self._max_batch:
                        break
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                stopping = item is None
                if batch:
                    self._commit(batch)
        finally:
            self._db.close()

    def _commit(self, batch: list[_Item]) -> None:
        for item in batch:
            # From here on the caller can no longer cancel: the row is being written.
            item.future.set_running_or_notify_cancel()
        chores = [item for item in batch if isinstance(item.work, Maintenance | Release)]
        if chores:
            for item in chores:
                self._chore(item)
            batch = [item for item in batch if not isinstance(item.work, Maintenance | Release)]
            if not batch:
                return
        try:
            results = self._insert(batch)
        except Exception as error:  # any failure must reach the waiters, or they hang
            if not isinstance(error, peewee.IntegrityError):
                # The database itself failed: a lost race (a deadlock) passes on a second try;
                # an outage does not, and retrying row by row would only wait out its timeout
                # once per row. So one more try, then every item fails and is spooled.
                try:
                    results = self._insert(batch)
                except Exception as again:
                    for item in batch:
                        self._fail(item, again)
                    return
                for item, result in zip(batch, results, strict=True):
                    _settle(item.future, result)
                return
            if len(batch) == 1:
                self._fail(batch[0], error)
                return
            for item in batch:
                try:
                    [result] = self._insert([item])
                except Exception as item_error:
                    self._fail(item, item_error)
                else:
                    _settle(item.future, result)
            return
        for item, result in zip(batch, results, strict=True):
            _settle(item.future, result)

    def _chore(self, item: _Item) -> None:
        """Run a maintenance or release in a transaction of its own."""
        try:
            if isinstance(item.work, Release):
                with self._db.atomic():
                    result: object = release_reservation(self._db, item.work.user, item.work.reservation_id)
            else:
                result = self._maintain()
        except Exception as error:  # reported to the caller, who tries again later
            result = error
        _settle(item.future, result)

    def _maintain(self) -> list[HeldReservation]:
        rules = self._quota_rules
        released: list[HeldReservation] = []
        if rules is not None:
            now = rules.clock()
            with self._db.atomic():
                renew_leases(self._db, rules.owner, now + timedelta(seconds=rules.lease_seconds))
            with self._db.atomic():
                released = sweep_expired(self._db, now)
        if self._spool is not None and self._spool.pending():
            self._replay()
        return released

    def _replay(self) -> None:
        """Commit the spooled rows and settlements in one transaction; the spool empties only if it commits."""
        assert self._spool is not None  # noqa: S101 - checked by the caller
        with self._spool.replaying() as records, self._db.atomic():
            settlements: list[Settlement] = []
            for record in records:
                row = _row_from_record(record["row"]) if record["row"] is not None else None
                settlement = _settlement_from_record(record["settlement"])
                if row is not None and not _insert_row_once(self._db, row):
                    settlement = None if settlement is None else Settlement(settlement.reservation, 0)
                if settlement is not None:
                    settlements.append(settlement)
            apply_settlements(self._db, settlements)
            logger.warning("request log: replayed %d spooled record(s) after a database failure", len(records))

    def _spool_failed(self, item: _Item, error: Exception) -> bool:
        """Keep a row and settlement the database could not take in the spool; False when there is none."""
        if self._spool is None or isinstance(error, peewee.IntegrityError):
            return False
        row = item.work if isinstance(item.work, RequestRow) else None
        if row is None and item.settlement is None:
            return False
        try:
            self._spool.append([spool_record(row, item.settlement)])
        except OSError as spool_error:
            logger.error("request log: could not spool %s: %s", type(item.work).__name__, spool_error.strerror)
            return False
        return True

    def _fail(self, item: _Item, error: Exception) -> None:
        """Report a row that could not be written, and still release its reservation (or spool both)."""
        name = item.work.id if isinstance(item.work, RequestRow) else type(item.work).__name__
        # An outage is logged once for all requests (store/outage.py); each failure only at DEBUG.
        level = logging.DEBUG if is_outage(error) else logging.ERROR
        logger.log(level, "request log: could not commit %s: %s", name, type(error).__name__)
        if self._spool_failed(item, error):
            logger.debug("request log: %s kept in the spool until the database is back", name)
            _settle(item.future, error)
            return
        if item.settlement is not None:
            try:
                with self._db.atomic():
                    apply_settlements(self._db, [item.settlement])
            except Exception as settle_error:
                logger.error("quota ledger: could not settle %s: %s", name, type(settle_error).__name__)
        _settle(item.future, error)

    def _insert(self, items: list[_Item]) -> list[object]:
        """Write the batch in one transaction; returns each item's result (None, a Reservation or a refusal)."""
        rows = [item.work for item in items if isinstance(item.work, RequestRow)]
        admissions = [
            (index, (item.work.user, item.work.bound_picodollars))
            for index, item in enumerate(items)
            if isinstance(item.work, Admission)
        ]
        results: list[object] = [None] * len(items)
        uses: dict[int, datetime] = {}
        for item in items:
            if isinstance(item.work, KeyUse):
                uses[item.work.key_id] = max(item.work.when, uses.get(item.work.key_id, item.work.when))
        with self._db.atomic():
            if self._rate_limiter is not None and (rows or admissions):
                admissions = self._rate_limit(rows, admissions, results)
            if rows:
                _insert_rows(self._db, rows)
            apply_settlements(self._db, [item.settlement for item in items if item.settlement is not None])
            for key_id, when in sorted(uses.items()):
                touch_last_used(key_id, when)
            if admissions and self._quota_rules is not None:  # admit() refuses to queue without rules
                outcomes = admit_batch(self._db, self._quota_rules, [request for _, request in admissions])
                for (index, _), outcome in zip(admissions, outcomes, strict=True):
                    results[index] = outcome
        self.batches_committed += 1
        return results

    def _rate_limit(
        self, rows: list[RequestRow], admissions: list[tuple[int, tuple[str, int]]], results: list[object]
    ) -> list[tuple[int, tuple[str, int]]]:
        """Charge the rows' tokens to their rate windows and refuse admissions over a rate limit.

        Runs first in the transaction (store/ratelimit.py); returns the admissions still to admit
        against the quota, and puts a RateLimited into `results` for each refused one.
        """
        assert self._rate_limiter is not None  # noqa: S101 - checked by the caller
        usage = ((row.user, row.created_at, row.input_tokens + row.output_tokens) for row in rows)
        refusals = self._rate_limiter.apply(self._db, usage, [user for _, (user, _) in admissions])
        for (index, _), refusal in zip(admissions, refusals, strict=True):
            if refusal is not None:
                results[index] = refusal
        return [admission for admission, refusal in zip(admissions, refusals, strict=True) if refusal is None]


def _settle(future: concurrent.futures.Future[Any], result: object) -> None:
    """Complete a future with its result (an exception fails it) unless its caller cancelled it first."""
    if future.cancelled():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def spool_record(row: RequestRow | None, settlement: Settlement | None) -> dict[str, Any]:
    """A spool record (JSON-ready) for a row and/or a settlement."""
    record: dict[str, Any] = {"row": None, "settlement": None}
    if row is not None:
        record["row"] = asdict(row) | {"created_at": row.created_at.isoformat()}
    if settlement is not None:
        reservation = settlement.reservation
        record["settlement"] = {
            "user": reservation.user,
            "period_start": reservation.period_start.isoformat(),
            "bound_picodollars": reservation.bound_picodollars,
            "id": reservation.id,
            "actual_picodollars": settlement.actual_picodollars,
        }
    return record


def _row_from_record(fields: dict[str, Any]) -> RequestRow:
    return RequestRow(**(fields | {"created_at": datetime.fromisoformat(fields["created_at"])}))


def _settlement_from_record(raw: dict[str, Any] | None) -> Settlement | None:
    if raw is None:
        return None
    period_start = datetime.fromisoformat(raw["period_start"])
    reservation = Reservation(raw["user"], period_start, int(raw["bound_picodollars"]), str(raw["id"]))
    return Settlement(reservation, int(raw["actual_picodollars"]))


def _insert_row_once(db: peewee.Database, row: RequestRow) -> bool:
    """Insert a spooled row unless its id is already there (its first commit did succeed); whether inserted."""
    if RequestRecord.select(RequestRecord.id).where(RequestRecord.id == row.id).exists():
        return False
    _insert_rows(db, [row])
    return True
