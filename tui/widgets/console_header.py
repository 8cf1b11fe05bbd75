"""The header of every signed-in screen: Textual's title line, with the link indicator at the right."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Header, Static
from textual.widgets._header import HeaderIcon, HeaderTitle

from llmgw.tui.link import LinkState

MARKS: dict[str, str] = {
    "connected": "● connected",
    "reconnecting": "◌ reconnecting…",
    "down": "✕ gateway down",
}


class ConnectionIndicator(Static):
    """The app's link state (`GatewayApp.connection`), as a mark and a word."""

    DEFAULT_CSS = """
    ConnectionIndicator {
        dock: right;
        width: auto;
        padding: 0 1;
        color: $text-muted;
    }
    ConnectionIndicator.-connected { color: $text-success; }
    ConnectionIndicator.-reconnecting { color: $text-warning; }
    ConnectionIndicator.-down { color: $text-error; text-style: bold; }
    """

    def on_mount(self) -> None:
        """Follow the app's link state."""
        self.watch(self.app, "connection", self._show, init=True)

    def _show(self, state: LinkState | None) -> None:
        self.update(MARKS.get(state or "", ""))
        for known in MARKS:
            self.set_class(state == known, f"-{known}")


class ConsoleHeader(Header):
    """Textual's header with the connection indicator where its clock would be."""

    def compose(self) -> ComposeResult:
        """The icon, the title and the indicator."""
        yield HeaderIcon().data_bind(Header.icon)
        yield HeaderTitle()
        yield ConnectionIndicator(id="connection")
