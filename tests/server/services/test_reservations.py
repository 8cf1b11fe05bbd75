"""Reservations through the API: admins list and release them; an outage during settlement loses nothing."""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import grpc
import pytest

from llmgw.server.store.ledger import open_reservations
from llmgw.v1 import quota_service_pb2
from tests.server.services.conftest import Gov, ask, ledger, md, reason, rows

SETTLE_WAIT_S = 20.0
OUTAGE_WAIT_S = 90.0  # each batch waits out SQLite's busy timeout twice before it is spooled


def _wait(condition: str, check: object) -> None:
    deadline = time.monotonic() + SETTLE_WAIT_S
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not {condition} after {SETTLE_WAIT_S} s")
        time.sleep(0.05)


def test_admin_lists_and_releases_a_reservation(gov: Gov) -> None:
    """A request in flight shows as a reservation; an admin releases it; its settlement still charges it."""
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(
            gov.stubs.chat.CreateChatCompletion, ask("[[ttft_ms:1500]] hello", max_tokens=20), metadata=md(gov.alice)
        )
        _wait("reserved", lambda: open_reservations("alice", 10))
        listed = gov.stubs.quotas.ListReservations(
            quota_service_pb2.ListReservationsRequest(user="alice"), metadata=md(gov.root)
        ).reservations
        assert len(listed) == 1
        assert listed[0].user == "alice"
        assert Decimal(listed[0].reserved_usd) > 0
        assert listed[0].expires_at.ToDatetime() > listed[0].created_at.ToDatetime()
        status = gov.stubs.quotas.GetQuotaStatus(
            quota_service_pb2.GetQuotaStatusRequest(user="alice"), metadata=md(gov.root)
        ).status
        assert Decimal(status.remaining_usd) == Decimal(status.limit_usd) - Decimal(listed[0].reserved_usd)
        released = gov.stubs.quotas.ReleaseReservation(
            quota_service_pb2.ReleaseReservationRequest(user="alice", reservation_id=listed[0].id),
            metadata=md(gov.root),
        ).reservation
        assert released.id == listed[0].id
        assert ledger("alice").reserved_picodollars == 0
        with pytest.raises(grpc.RpcError) as missing:
            gov.stubs.quotas.ReleaseReservation(
                quota_service_pb2.ReleaseReservationRequest(user="alice", reservation_id=listed[0].id),
                metadata=md(gov.root),
            )
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        running.result(timeout=SETTLE_WAIT_S)
    _wait("settled", lambda: len(rows("alice")) == 1)
    [row] = rows("alice")
    assert ledger("alice").spent_picodollars == row.cost_picodollars > 0
    assert ledger("alice").reserved_picodollars == 0


def test_reservation_rpcs_are_for_admins(gov: Gov) -> None:
    """A user may not list or release reservations, even their own."""
    with pytest.raises(grpc.RpcError) as denied:
        gov.stubs.quotas.ListReservations(quota_service_pb2.ListReservationsRequest(user="me"), metadata=md(gov.alice))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as denied:
        gov.stubs.quotas.ReleaseReservation(
            quota_service_pb2.ReleaseReservationRequest(user="alice", reservation_id="x"), metadata=md(gov.alice)
        )
    assert reason(denied.value) == "PERMISSION_DENIED"


def _hold_sqlite_write_lock(path: Path, locked: threading.Event, release: threading.Event) -> None:
    """Keep the database's write lock (an outage as the gateway sees it) until told to let go."""
    connection = sqlite3.connect(path, isolation_level=None, timeout=10)
    try:
        connection.execute("BEGIN EXCLUSIVE")
        locked.set()
        release.wait(60)
        connection.execute("ROLLBACK")
    finally:
        connection.close()


# The outage is simulated with SQLite's write lock, so this runs on SQLite only.
@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_outage_during_settlement_then_recovery(gov: Gov, store_url: str) -> None:
    """Settlements that fail while the database is out are spooled and replayed: spend equals the rows' sum."""
    path = Path(store_url.removeprefix("sqlite:///"))
    calls = 4
    with ThreadPoolExecutor(calls) as pool:
        running = [
            pool.submit(
                gov.stubs.chat.CreateChatCompletion,
                ask(f"[[ttft_ms:700]] story {n}", max_tokens=30),
                metadata=md(gov.alice),
            )
            for n in range(calls)
        ]
        _wait("all admitted", lambda: len(open_reservations("alice", 10)) == calls)
        locked, release = threading.Event(), threading.Event()
        holder = threading.Thread(target=_hold_sqlite_write_lock, args=(path, locked, release))
        holder.start()
        try:
            assert locked.wait(10)
            failures = [future.exception(timeout=OUTAGE_WAIT_S) for future in running]
        finally:
            release.set()
            holder.join(30)
    assert all(isinstance(failure, grpc.RpcError) for failure in failures), "answers whose usage was not committed"
    spool = gov.gateway.settings.data_dir / "usage-spool.jsonl"
    assert spool.stat().st_size > 0
    assert gov.gateway.gateway is not None
    gov.gateway.run(gov.gateway.gateway.lease_keeper.run_once())
    assert spool.stat().st_size == 0
    found = rows("alice")
    assert len(found) == calls
    assert all(row.output_tokens > 0 for row in found)
    entry = ledger("alice")
    assert entry.spent_picodollars == sum(row.cost_picodollars for row in found)
    assert entry.reserved_picodollars == 0
