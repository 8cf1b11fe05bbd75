"""The request log's only writer: group commits on one background thread.

Every request ends with a row in `request_record`, and DESIGN.md promises the
row is committed before the client sees the last byte. Committing each row in
its own transaction would put a disk flush on every request's path; instead
callers enqueue rows and one thread drains whatever has accumulated (up to
`max_batch` rows) into a single transaction, so concurrent requests share one
commit and the event loop never waits on disk. Each caller still learns whether
its own row was committed.

A batch that fails is retried row by row, so one bad row (say, a duplicate id)
fails only its own caller. Failures are logged by row id and error type; rows
hold no secrets. Key `last_used_at` updates are not batched here; they go through
keys_repo.touch_last_used.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import queue
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import peewee

from llmgw.server.store.models import RequestRecord

logger = logging.getLogger(__name__)

DEFAULT_MAX_BATCH: Final = 500


@dataclass(frozen=True, slots=True)
class RequestRow:
    """One request record as the services produce it.

    `api` is "chat", "chat_stream" or "embeddings"; `outcome` is "success",
    "quota_exceeded", "model_access_denied", "error" or "cancelled", with
    `error_reason` the error's reason code (empty on success); `created_at` is
    aware UTC; `cost_picodollars` is exact (llmgw.server.core.money).
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


_Item = tuple[RequestRow, "concurrent.futures.Future[None]"]


class RequestLogWriter:
    """Commits request rows in shared transactions on one thread; see the module docstring."""

    def __init__(self, db: peewee.Database, *, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._db = db
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
                raise RuntimeError("the request log writer is already started")
            self._started = True
        self._thread.start()

    def record_nowait(self, row: RequestRow) -> concurrent.futures.Future[None]:
        """Queue a row; the future completes when its transaction commits, or fails with the error."""
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._state_lock:
            if self._closed:
                raise RuntimeError("the request log writer is closed")
            self._queue.put((row, future))
        return future

    async def record(self, row: RequestRow) -> None:
        """Queue a row and wait until it is committed; raises what the commit raised.

        Cancelling the caller does not withdraw the row: it is still written.
        """
        await asyncio.shield(asyncio.wrap_future(self.record_nowait(row)))

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
        for _, future in batch:
            # From here on the caller can no longer cancel: the row is being written.
            future.set_running_or_notify_cancel()
        try:
            self._insert([row for row, _ in batch])
        except Exception as error:  # any failure must reach the waiters, or they hang
            if len(batch) == 1:
                row, future = batch[0]
                logger.error("request log: could not commit row %s: %s", row.id, type(error).__name__)
                _settle(future, error)
                return
            for row, future in batch:
                try:
                    self._insert([row])
                except Exception as row_error:
                    logger.error("request log: could not commit row %s: %s", row.id, type(row_error).__name__)
                    _settle(future, row_error)
                else:
                    _settle(future, None)
            return
        for _, future in batch:
            _settle(future, None)

    def _insert(self, rows: list[RequestRow]) -> None:
        with self._db.atomic():
            RequestRecord.insert_many([dataclasses.asdict(row) for row in rows]).execute(self._db)
        self.batches_committed += 1


def _settle(future: concurrent.futures.Future[None], error: BaseException | None) -> None:
    """Complete a future unless its caller cancelled it before the write began."""
    if future.cancelled():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
