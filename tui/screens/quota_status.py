"""Admin: where a user stands against their quota this period, exceeded highlighted."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Button, Input, Static

from llmgw.tui.client import GatewayFailure
from llmgw.tui.feedback import report_failure
from llmgw.tui.format import period, usd
from llmgw.tui.screens.admin_base import AdminScreen
from llmgw.tui.widgets.quota_bar import QuotaBar
from llmgw.v1 import quota_pb2


class QuotaStatusScreen(AdminScreen):
    """Spent, limit, remaining and period of one user, from QuotaService.GetQuotaStatus."""

    CSS_PATH = "quota_status.tcss"
    TITLE = "Quota status"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+r", "refresh", "Refresh")]

    def compose_admin(self) -> Iterable[Widget]:
        """User field, then the status panel."""
        with Horizontal(id="who"):
            yield Input(placeholder="user name, Enter to load", id="user")
            yield Button("Load", id="load")
        with Vertical(id="status"):
            yield Static("Load a user to see their quota status.", id="summary")
            yield QuotaBar(id="bar")

    def start(self) -> None:
        """Focus the user field."""
        self.query_one("#user", Input).focus()

    @on(Input.Submitted, "#user")
    @on(Button.Pressed, "#load")
    def action_refresh(self) -> None:
        """Load (again) the status of the user in the field."""
        user = self.query_one("#user", Input).value.strip()
        if not user:
            self.notify("Enter a user name first.", severity="warning")
            return
        self._load(user)

    @work(exclusive=True, group="status")
    async def _load(self, user: str) -> None:
        try:
            status = await self.client.quota_status(user)
        except GatewayFailure as failure:
            report_failure(self, failure)
            return
        self._show(status)

    def _show(self, status: quota_pb2.QuotaStatus) -> None:
        state = "EXCEEDED: new requests are refused until the period ends" if status.exceeded else "within quota"
        self.query_one("#summary", Static).update(
            f"User       {status.user}\n"
            f"Period     {period(status.frequency)}\n"
            f"Limit      {usd(status.limit_usd)}\n"
            f"Spent      {usd(status.spent_usd)}\n"
            f"Remaining  {usd(status.remaining_usd)}\n"
            f"Status     {state}"
        )
        self.query_one("#status", Vertical).set_class(status.exceeded, "-exceeded")
        self.query_one(QuotaBar).show(status)
