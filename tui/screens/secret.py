"""The one time a new key's secret is shown, with a copy button and a warning."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from llmgw.tui.clipboard import copy_text


class SecretModal(ModalScreen[None]):
    """Shows a secret until dismissed; the gateway keeps only a hash, so it cannot be shown again."""

    CSS_PATH = "secret.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "copy", "Copy"),
        Binding("escape", "close", "Done"),
    ]

    def __init__(self, name: str, secret: str) -> None:
        super().__init__()
        self._name = name
        self._secret = secret

    def compose(self) -> ComposeResult:
        """The screen's widgets."""
        with Vertical(id="dialog"):
            yield Static(f"Key {self._name!r} created", id="title")
            yield Static(self._secret, id="secret", markup=False)
            yield Static("Copy it now: it will not be shown again.", id="warning")
            with Horizontal(id="buttons"):
                yield Button("Copy (c)", variant="primary", id="copy")
                yield Button("Done", id="done")

    @on(Button.Pressed, "#copy")
    def action_copy(self) -> None:
        """Put the secret on the clipboard (through the terminal), saying where it went."""
        copy_text(self.app, self._secret, "Key")

    @on(Button.Pressed, "#done")
    def action_close(self) -> None:
        """Close; the secret is gone from the UI."""
        self.dismiss(None)
