"""Live: requests as the gateway records them (WatchRequests), newest on top, with the stream's state.

Admins see everyone's requests (or one user's, typed at the top); everyone else
sees their own. The status line says whether the stream is live (the header's
indicator, as on every screen, says whether the gateway answers); a broken stream
is retried with growing pauses until it comes back.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from llmgw.tui.client import GatewayFailure
from llmgw.tui.format import OUTCOME_NAMES, usd
from llmgw.tui.inputs import FromLive
from llmgw.tui.messages import LiveState
from llmgw.tui.state import ConsoleState
from llmgw.tui.widgets.console_header import ConsoleHeader
from llmgw.v1 import request_record_pb2

KEEP_ROWS = 500
RETRY_FIRST_S = 1.0
RETRY_MOST_S = 15.0
STATE_MARKS = {"live": "● live", "connecting": "◌ connecting…", "reconnecting": "○ disconnected"}
COLUMNS = ("Time", "User", "Outcome", "Cost", "ms", "Model", "Key")


class LiveScreen(Screen[None]):
    """A tail of the request log that follows new requests as they happen."""

    CSS_PATH = "live.tcss"
    TITLE = "Live"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+l", "clear", "Clear"),
        Binding("ctrl+r", "refresh", "Reconnect"),
    ]

    def __init__(self, console: ConsoleState) -> None:
        super().__init__()
        self.console = console
        self.state = ""
        self.seen = 0
        self._records: deque[request_record_pb2.RequestRecord] = deque(maxlen=KEEP_ROWS)
        self._user = ""
        self._why = ""

    def compose(self) -> ComposeResult:
        """The screen's widgets."""
        yield ConsoleHeader()
        if self.console.identity.is_admin:
            yield Input(
                placeholder="only this user (Enter; blank: everyone)",
                id="user",
                suggester=FromLive(lambda: self.console.known_users),
            )
        yield Static("", id="status")
        table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True, id="requests")
        table.add_columns(*COLUMNS)
        yield table
        yield Footer(compact=True)

    def on_mount(self) -> None:
        """Start following."""
        self._show_state("connecting", "")
        self._watch("")

    @on(Input.Submitted, "#user")
    def _user_typed(self, event: Input.Submitted) -> None:
        self._watch(event.value.strip())

    def action_refresh(self) -> None:
        """Drop the stream and connect again."""
        user = self.query_one("#user", Input).value.strip() if self.console.identity.is_admin else ""
        self._watch(user)

    def action_clear(self) -> None:
        """Empty the table (the stream goes on)."""
        self._records.clear()
        self.query_one("#requests", DataTable).clear()

    @work(exclusive=True, group="watch")
    async def _watch(self, user: str) -> None:
        pause = RETRY_FIRST_S
        while True:
            self._show_state("connecting", user)
            try:
                async for batch in self.console.client.watch_requests(user):
                    if self.state != "live":
                        self._show_state("live", user)
                        pause = RETRY_FIRST_S
                    self._add(batch)
            except GatewayFailure as failure:
                if failure.code in ("PERMISSION_DENIED", "INVALID_ARGUMENT", "UNAUTHENTICATED"):
                    self._show_state("stopped", user, str(failure))
                    return
                self._show_state("reconnecting", user, f"{failure.title}; retrying in {pause:.0f} s")
            else:
                self._show_state("reconnecting", user, f"the stream ended; retrying in {pause:.0f} s")
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY_MOST_S)
            self.console.client.link.retrying()

    def _show_state(self, state: str, user: str, why: str = "") -> None:
        changed = state != self.state
        self.state = state
        self._user, self._why = user, why
        self._status()
        if changed:
            self.post_message(LiveState(state))

    def _status(self) -> None:
        mark = STATE_MARKS.get(self.state, "✕ stopped")
        if self._user:
            who = f"{self._user}'s requests"
        else:
            who = "everyone's requests" if self.console.identity.is_admin else "your requests"
        status = self.query_one("#status", Static)
        status.update(f"{mark} · {who} · {self.seen} seen" + (f" · {self._why}" if self._why else ""))
        status.set_class(self.state == "live", "-live")
        status.set_class(self.state in ("reconnecting", "stopped"), "-down")

    def _add(self, batch: list[request_record_pb2.RequestRecord]) -> None:
        if not batch:
            return
        self.seen += len(batch)
        self._records.extendleft(batch)
        table = self.query_one("#requests", DataTable)
        table.clear()
        for record in self._records:
            table.add_row(
                record.created_at.ToDatetime().strftime("%H:%M:%S"),
                record.user,
                OUTCOME_NAMES.get(record.outcome, "unknown"),
                usd(record.cost_usd),
                str(record.latency_ms),
                record.model,
                record.key_name,
                key=record.id,
            )
        self._status()
