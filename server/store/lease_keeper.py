"""Every replica's upkeep of the quota ledger: renew own leases, sweep expired ones, replay the spool.

Runs `GroupCommitWriter.maintain` every quarter lease (so a live replica's leases never lapse,
and a dead one's are released at most a lease and a quarter after its last renewal). Each
release of an expired lease is logged with its user, amount and owner. A database that is down
is reported once when it first fails and once when it answers again (outage.py), not on every round;
its success is also what tells the outage log that the database is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket

from llmgw.server.core.money import format_usd
from llmgw.server.store.group_commit import GroupCommitWriter
from llmgw.server.store.outage import OutageLog, is_outage

logger = logging.getLogger(__name__)
MIN_INTERVAL_S = 0.1


def replica_id() -> str:
    """A name for this process that no other replica (or a restart of this one) shares."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{secrets.token_hex(4)}"


class LeaseKeeper:
    """The periodic upkeep task of one gateway process."""

    def __init__(self, writer: GroupCommitWriter, lease_seconds: float, outages: OutageLog | None = None) -> None:
        self._writer = writer
        self.interval_s = max(lease_seconds / 4, MIN_INTERVAL_S)
        self._task: asyncio.Task[None] | None = None
        self._outages = outages or OutageLog()

    def start(self) -> None:
        """Start the upkeep loop on the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="llmgw-lease-keeper")

    async def stop(self) -> None:
        """Stop the loop (before the writer closes)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self) -> int:
        """One round of upkeep; the number of expired reservations released (0 when it failed)."""
        try:
            released = await self._writer.maintain()
        except Exception as exc:  # the database is down: try again next round; the outage is logged once
            if is_outage(exc):
                self._outages.failed(exc)
            else:
                logger.exception("quota ledger upkeep failed")
            return 0
        self._outages.answered()
        for held in released:
            logger.warning(
                "quota ledger: released the expired reservation %s of %s (%s USD, held by %s since %s)",
                held.id,
                held.user,
                format_usd(held.bound_picodollars),
                held.owner,
                held.created_at.isoformat(),
            )
        return len(released)

    async def _run(self) -> None:
        while True:
            await self.run_once()
            await asyncio.sleep(self.interval_s)
