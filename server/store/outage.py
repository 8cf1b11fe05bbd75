"""Database outages: recognised once, logged once per outage, not once per request.

During an outage every request fails the same way; logging each with its traceback (about 600
of them in the probe) buries the one line that matters. `OutageLog` logs the first failure
and the recovery, and counts what happened in between.
"""

from __future__ import annotations

import logging
import threading

import peewee

logger = logging.getLogger(__name__)


def is_outage(error: BaseException) -> bool:
    """Whether an error means the database is unreachable or refusing work (not a bug in a query)."""
    return isinstance(error, peewee.OperationalError | peewee.InterfaceError)


class OutageLog:
    """Logs a database outage when it starts and when it ends; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures = 0

    @property
    def down(self) -> bool:
        """Whether the last thing reported was a failure."""
        return self._failures > 0

    def failed(self, error: BaseException) -> None:
        """Note a failure; only the first of an outage is logged."""
        with self._lock:
            self._failures += 1
            first = self._failures == 1
        if first:
            logger.error("database unavailable (%s); requests get 503 until it answers again", type(error).__name__)

    def answered(self) -> None:
        """Note a success; ends (and logs the end of) an outage."""
        with self._lock:
            failures, self._failures = self._failures, 0
        if failures:
            logger.warning("database answers again after %d failed request(s)", failures)
