"""My keys: list them with status and last use, create one (secret shown once), delete one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from llmgw.tui.client import GatewayClient, GatewayFailure
from llmgw.tui.feedback import report_failure
from llmgw.tui.format import ago, day
from llmgw.tui.messages import KeyCreated, KeyDeleted
from llmgw.tui.screens.confirm import ConfirmModal
from llmgw.tui.screens.create_key import CreateKeyModal, NewKey
from llmgw.tui.screens.secret import SecretModal
from llmgw.v1 import key_pb2


class KeysScreen(Screen[None]):
    """The caller's own API keys; every change goes through KeyService."""

    CSS_PATH = "keys.tcss"
    TITLE = "My keys"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "create", "New key"),
        Binding("d,delete", "delete", "Delete"),
        Binding("r", "refresh", "Refresh"),
    ]

    def __init__(self, client: GatewayClient, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        super().__init__()
        self._client = client
        self._now = now

    def compose(self) -> ComposeResult:
        """The screen's widgets."""
        yield Header()
        yield Static("Keys act as you, with your quota and model access. Secrets are shown only once.", id="hint")
        table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True, id="keys")
        table.add_columns("Name", "Status", "Expires", "Last used", "Created")
        yield table
        yield Footer(compact=True)

    def on_mount(self) -> None:
        """Load the keys."""
        self.action_refresh()

    def action_refresh(self) -> None:
        """Reload the list from the gateway."""
        self._load()

    @work(exclusive=True, group="load")
    async def _load(self) -> None:
        try:
            keys = await self._client.list_keys()
        except GatewayFailure as failure:
            report_failure(self, failure)
            return
        self._show(keys)

    def _show(self, keys: list[key_pb2.Key]) -> None:
        table = self.query_one("#keys", DataTable)
        table.clear()
        now = self._now()
        for key in keys:
            status = "valid" if key.status == key_pb2.KEY_STATUS_VALID else "expired"
            table.add_row(
                key.name,
                status,
                day(key.expires_at if key.HasField("expires_at") else None),
                ago(key.last_used_at if key.HasField("last_used_at") else None, now),
                ago(key.created_at, now),
                key=key.name,
            )
        table.focus()

    def action_create(self) -> None:
        """Ask for a name and expiry, then create the key."""
        self.app.push_screen(CreateKeyModal(self._now().date()), self._created)

    def _created(self, new_key: NewKey | None) -> None:
        if new_key is not None:
            self._create(new_key)

    @work(exclusive=True, group="change")
    async def _create(self, new_key: NewKey) -> None:
        try:
            response = await self._client.create_key(new_key.name, new_key.expires_at)
        except GatewayFailure as failure:
            report_failure(self, failure)
            return
        self.post_message(KeyCreated(response.key.name))
        self.app.push_screen(SecretModal(response.key.name, response.secret))
        self._load()

    def action_delete(self) -> None:
        """Delete the selected key after a confirmation."""
        table = self.query_one("#keys", DataTable)
        if table.row_count == 0:
            return
        name = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._delete(name)

        self.app.push_screen(
            ConfirmModal(f"Delete the key {name!r}? Programs using it stop working at once.", "Delete"), confirmed
        )

    @work(exclusive=True, group="change")
    async def _delete(self, name: str) -> None:
        try:
            await self._client.delete_key(name)
        except GatewayFailure as failure:
            report_failure(self, failure)
            return
        self.post_message(KeyDeleted(name))
        self.notify(f"Deleted the key {name!r}.")
        self._load()
