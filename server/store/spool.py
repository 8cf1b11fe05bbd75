"""The durable record of usage the database could not take: written locally, replayed on recovery.

When a group commit fails because the database is unreachable (an outage, a failover), the
request rows and settlements of that batch must not be dropped: the requests went to Bedrock
and cost money. The writer appends each one to this spool, a JSON-lines file in DATA_DIR that
is fsynced before the caller hears of the failure, and replays the file at its next
maintenance (group_commit.py) once the database answers again, in one transaction, then
empties it. A replay is idempotent: a row is inserted only if its id is not there yet (its
settlement's spend is added only then), and a reservation is released only by deleting its
row, so a record replayed twice, or one whose commit had in fact succeeded, is charged once.

The file is locked (`flock`) while it is appended to or replayed, so replicas that share a
DATA_DIR on one host never interleave or lose each other's records.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

SPOOL_FILE_NAME = "usage-spool.jsonl"


class Spool:
    """The spool file of one DATA_DIR."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def pending(self) -> bool:
        """Whether the spool holds records to replay."""
        try:
            return self.path.stat().st_size > 0
        except FileNotFoundError:
            return False

    def append(self, records: list[dict[str, Any]]) -> None:
        """Write records (JSON objects) durably (fsync) before returning."""
        if not records:
            return
        with self._locked("a") as file:
            file.write("".join(json.dumps(record, separators=(",", ":")) + "\n" for record in records))
            file.flush()
            os.fsync(file.fileno())

    @contextlib.contextmanager
    def replaying(self) -> Iterator[list[dict[str, Any]]]:
        """The records, locked against appends; the file is emptied if the block ends without error."""
        with self._locked("a+") as file:
            file.seek(0)
            records = [json.loads(line) for line in file.read().splitlines() if line.strip()]
            yield records
            file.truncate(0)
            file.flush()
            os.fsync(file.fileno())

    @contextlib.contextmanager
    def _locked(self, mode: str) -> Iterator[IO[str]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open(mode, encoding="utf-8") as file:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX)
            try:
                yield file
            finally:
                fcntl.flock(file.fileno(), fcntl.LOCK_UN)
