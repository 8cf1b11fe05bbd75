"""The form for a new key: a name and an expiry date, or never; it stays open until the gateway agrees."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from llmgw.tui.client import GatewayFailure
from llmgw.tui.format import midnight, parse_day
from llmgw.tui.inputs import KeyName
from llmgw.v1 import key_service_pb2

FIELD_LABELS = {"name": "Name", "expires_at": "Expires on"}


@dataclass(frozen=True, slots=True)
class NewKey:
    """What the user asked for: a name, and when the key stops working (None: never)."""

    name: str
    expires_at: datetime | None


Create = Callable[[NewKey], Awaitable[key_service_pb2.CreateKeyResponse]]


class CreateKeyModal(ModalScreen[key_service_pb2.CreateKeyResponse | None]):
    """Collects and checks a new key's name and expiry, then creates it.

    It closes only once the gateway has created the key (with the response, secret
    included) or when cancelled (None). A refusal shows under the fields and keeps
    what was typed.
    """

    CSS_PATH = "create_key.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, today: date, create: Create, owner: str = "") -> None:
        super().__init__()
        self._today = today
        self._create = create
        self._owner = owner

    def compose(self) -> ComposeResult:
        """The screen's widgets."""
        with Vertical(id="dialog"):
            yield Static(f"New API key for {self._owner}" if self._owner else "New API key", id="title")
            yield Label("Name (letters, digits, . _ -; at most 64)")
            yield Input(placeholder="laptop", id="name", validators=[KeyName()], validate_on=["changed", "submitted"])
            yield Label("Expires on (YYYY-MM-DD, UTC), or never")
            yield Input("never", id="expires")
            yield Static("", id="problem")
            with Horizontal(id="buttons"):
                yield Button("Create", variant="primary", id="create")
                yield Button("Cancel", id="cancel")

    @on(Input.Changed, "#name")
    def _name_checked(self, event: Input.Changed) -> None:
        if event.validation_result is not None and event.value:
            self._problem(" ".join(event.validation_result.failure_descriptions))

    @on(Input.Submitted)
    @on(Button.Pressed, "#create")
    def _submit(self) -> None:
        field = self.query_one("#name", Input)
        checked = field.validate(field.value)
        if checked is not None and not checked.is_valid:
            self._problem(" ".join(checked.failure_descriptions))
            field.focus()
            return
        expires = self.query_one("#expires", Input).value.strip()
        if expires.lower() in ("", "never"):
            self._send(NewKey(field.value.strip(), None))
            return
        try:
            on_day = parse_day(expires)
        except ValueError as error:
            self._problem(str(error))
            return
        if on_day is None or on_day <= self._today:
            self._problem("The expiry date must be after today.")
            return
        self._send(NewKey(field.value.strip(), midnight(on_day)))

    @work(exclusive=True, group="create")
    async def _send(self, new_key: NewKey) -> None:
        self._problem("Creating…")
        self.query_one("#create", Button).disabled = True
        try:
            response = await self._create(new_key)
        except GatewayFailure as failure:
            self._problem(f"{failure.title}: {failure.labelled(FIELD_LABELS)}")
            return
        finally:
            self.query_one("#create", Button).disabled = False
        self.dismiss(response)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Close without creating anything."""
        self.dismiss(None)

    def _problem(self, text: str) -> None:
        self.query_one("#problem", Static).update(text)
