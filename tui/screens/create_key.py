"""The form for a new key: a name and an expiry date, or never."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from llmgw.tui.format import midnight, parse_day


@dataclass(frozen=True, slots=True)
class NewKey:
    """What the user asked for: a name, and when the key stops working (None: never)."""

    name: str
    expires_at: datetime | None


class CreateKeyModal(ModalScreen[NewKey | None]):
    """Collects and checks a new key's name and expiry; dismisses with None when cancelled."""

    CSS_PATH = "create_key.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, today: date) -> None:
        super().__init__()
        self._today = today

    def compose(self) -> ComposeResult:
        """The screen's widgets."""
        with Vertical(id="dialog"):
            yield Static("New API key", id="title")
            yield Label("Name (letters, digits, . _ -)")
            yield Input(placeholder="laptop", id="name", max_length=64)
            yield Label("Expires on (YYYY-MM-DD, UTC), or never")
            yield Input("never", id="expires")
            yield Static("", id="problem")
            with Horizontal(id="buttons"):
                yield Button("Create", variant="primary", id="create")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#create")
    def _submit(self) -> None:
        name = self.query_one("#name", Input).value.strip()
        expires = self.query_one("#expires", Input).value.strip()
        if not name:
            self._problem("Give the key a name.")
            return
        if expires.lower() in ("", "never"):
            self.dismiss(NewKey(name, None))
            return
        try:
            on_day = parse_day(expires)
        except ValueError as error:
            self._problem(str(error))
            return
        if on_day is None or on_day <= self._today:
            self._problem("The expiry date must be after today.")
            return
        self.dismiss(NewKey(name, midnight(on_day)))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Close without creating anything."""
        self.dismiss(None)

    def _problem(self, text: str) -> None:
        self.query_one("#problem", Static).update(text)
