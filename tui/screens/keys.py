"""Keys: list them with status and last use, create one (secret shown once), delete one.

Everyone manages their own keys here; an admin may name any user in the field at
the top (or pick one on the Users screen) and manage theirs the same way.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from llmgw.tui.client import GatewayFailure
from llmgw.tui.feedback import report_failure
from llmgw.tui.format import ago, day
from llmgw.tui.inputs import FromLive, UserName
from llmgw.tui.messages import KeyCreated, KeyDeleted
from llmgw.tui.screens.confirm import ConfirmModal
from llmgw.tui.screens.create_key import CreateKeyModal, NewKey
from llmgw.tui.screens.secret import SecretModal
from llmgw.tui.state import ConsoleState
from llmgw.tui.widgets.console_header import ConsoleHeader
from llmgw.v1 import key_pb2, key_service_pb2

COLUMNS = ("Name", "Status", "Expires", "Last used", "Created")


class KeysScreen(Screen[None]):
    """A user's API keys (the caller's, or for admins anyone's); every change goes through KeyService."""

    CSS_PATH = "keys.tcss"
    TITLE = "Keys"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "create", "New key"),
        Binding("d,delete", "delete", "Delete"),
        Binding("ctrl+r", "refresh", "Refresh"),
    ]

    def __init__(self, console: ConsoleState) -> None:
        super().__init__()
        self.console = console
        self._client = console.client
        self.owner = ""

    def compose(self) -> ComposeResult:
        """The screen's widgets."""
        yield ConsoleHeader()
        if self.console.identity.is_admin:
            yield Input(
                placeholder="whose keys: a user name, Enter to load (blank: yours)",
                id="user",
                suggester=FromLive(lambda: self.console.known_users),
                validators=[UserName()],
                valid_empty=True,
            )
        yield Static("Keys act as their owner, with their quota and model access. Secrets are shown once.", id="hint")
        yield DataTable[str](cursor_type="row", zebra_stripes=True, id="keys")
        yield Footer(compact=True)

    def on_screen_resume(self) -> None:
        """Load the keys: the caller's, or for an admin those of the user picked on the Users screen."""
        picked = self.console.selected_user if self.console.identity.is_admin else ""
        if picked and picked != self.owner:
            self.query_one("#user", Input).value = picked
            self.owner = picked
        self._load()

    @on(Input.Submitted, "#user")
    def _owner_typed(self, event: Input.Submitted) -> None:
        if event.validation_result is not None and not event.validation_result.is_valid:
            self.notify(" ".join(event.validation_result.failure_descriptions), severity="warning")
            return
        self.owner = event.value.strip()
        if self.owner:
            self.console.select_user(self.owner)
        self._load()

    def action_refresh(self) -> None:
        """Reload the list from the gateway."""
        self._load()

    @property
    def _whose(self) -> str:
        return f"{self.owner}'s" if self.owner else "your"

    @work(exclusive=True, group="load")
    async def _load(self) -> None:
        try:
            keys = await self._client.list_keys(self.owner)
        except GatewayFailure as failure:
            report_failure(self, failure)
            self.query_one("#keys", DataTable).clear()
            self.query_one("#hint", Static).update(f"Could not list {self._whose} keys: {failure}")
            return
        self._show(keys)

    def _show(self, keys: list[key_pb2.Key]) -> None:
        table = self.query_one("#keys", DataTable)
        # Columns too: their widths only grow, and should fit what is shown now.
        table.clear(columns=True)
        table.add_columns(*COLUMNS)
        now = self.console.now()
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
        whose = f"{self.owner}'s keys" if self.owner else "Your keys"
        self.query_one("#hint", Static).update(
            f"{whose}: {len(keys)}. Keys act as their owner, with their quota and model access. Secrets are shown once."
        )
        table.focus()

    def action_create(self) -> None:
        """Ask for a name and expiry, and create the key (for the user shown)."""
        owner = self.owner

        async def create(new_key: NewKey) -> key_service_pb2.CreateKeyResponse:
            return await self._client.create_key(new_key.name, new_key.expires_at, owner)

        self.app.push_screen(CreateKeyModal(self.console.now().date(), create, owner), self._created)

    def _created(self, response: key_service_pb2.CreateKeyResponse | None) -> None:
        if response is None:
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
        owner = self.owner

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._delete(name, owner)

        whose = f"{owner}'s key" if owner else "the key"
        self.app.push_screen(
            ConfirmModal(f"Delete {whose} {name!r}? Programs using it stop working at once.", "Delete"), confirmed
        )

    @work(exclusive=True, group="change")
    async def _delete(self, name: str, owner: str) -> None:
        try:
            await self._client.delete_key(name, owner)
        except GatewayFailure as failure:
            report_failure(self, failure)
            return
        self.post_message(KeyDeleted(name))
        self.notify(f"Deleted the key {name!r}.")
        self._load()
