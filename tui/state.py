"""App-level state: who is signed in, the catalog, the users the gateway knows, and the selected user.

Every screen gets the one ConsoleState the app builds after sign-in, so the catalog and
user list are loaded once and an admin's pick on the Users screen reaches every
per-user screen (access, quota, rate limit, keys, log): each looks at
`selected_user` when it is shown and loads that user if it shows another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from llmgw.tui.client import GatewayClient, Identity
from llmgw.v1 import model_pb2


@dataclass(eq=False)
class ConsoleState:
    """The shared state of one signed-in session."""

    client: GatewayClient
    identity: Identity
    catalog: list[model_pb2.Model] = field(default_factory=list)
    known_users: list[str] = field(default_factory=list)
    selected_user: str = ""
    # The clock screens write times with; tests fix it so pictures do not depend on when they run.
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    # Where CSV exports are written.
    export_dir: Path = field(default_factory=Path.cwd)

    def select_user(self, user: str) -> None:
        """Make `user` the one the per-user screens show when next opened."""
        self.selected_user = user
        self.remember_users([user])

    def remember_users(self, users: list[str]) -> None:
        """Add users seen in a listing to the ones offered for completion."""
        for user in users:
            if user not in self.known_users:
                self.known_users.append(user)

    @property
    def model_ids(self) -> list[str]:
        """Every catalog model id, sorted."""
        return sorted(model.id for model in self.catalog)
