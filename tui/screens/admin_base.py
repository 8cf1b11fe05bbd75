"""What every admin screen shares: the gate that keeps non-admins out."""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Static

from llmgw.tui.messages import AdminRefused
from llmgw.tui.state import ConsoleState
from llmgw.tui.widgets.console_header import ConsoleHeader


class AdminScreen(Screen[None]):
    """A screen only admins may use; for anyone else it shows a refusal and calls nothing.

    The gateway refuses the admin calls anyway (PERMISSION_DENIED); the gate keeps a
    non-admin from even seeing the forms.
    """

    def __init__(self, console: ConsoleState) -> None:
        super().__init__()
        self.console = console
        self.client = console.client
        self.identity = console.identity

    def compose(self) -> ComposeResult:
        """The screen's widgets."""
        yield ConsoleHeader()
        if self.identity.is_admin:
            yield from self.compose_admin()
        else:
            yield Static("This screen is for admins only.", classes="admin-refused")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        """Start the admin screen, or report the refusal."""
        if self.identity.is_admin:
            self.start()
        else:
            self.post_message(AdminRefused(type(self).__name__))
            self.notify("This screen is for admins only.", title="Not allowed", severity="error")

    def compose_admin(self) -> Iterable[Widget]:
        """The screen's widgets, for admins."""
        raise NotImplementedError

    def start(self) -> None:
        """Load what the screen shows first (admins only)."""
