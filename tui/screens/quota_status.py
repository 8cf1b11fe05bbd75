"""Admin: where a user stands against their quota this period, exceeded highlighted."""

from __future__ import annotations

from collections.abc import Iterable

from textual import work
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Static

from llmgw.tui.client import GatewayFailure
from llmgw.tui.format import clock, moment, period, usd
from llmgw.tui.screens.user_base import UserScreen
from llmgw.tui.widgets.quota_bar import QuotaBar
from llmgw.v1 import quota_pb2


class QuotaStatusScreen(UserScreen):
    """Spent, limit, remaining and period of one user, from QuotaService.GetQuotaStatus; Ctrl+R reloads."""

    CSS_PATH = "quota_status.tcss"
    TITLE = "Quota status"

    def compose_admin(self) -> Iterable[Widget]:
        """User field, then the status panel."""
        yield from self.compose_user()
        with Vertical(id="status"):
            yield Static("Load a user to see their quota status.", id="summary")
            yield QuotaBar(id="bar")

    def load(self, user: str) -> None:
        """Load the user's status."""
        self._load(user)

    @work(exclusive=True, group="status")
    async def _load(self, user: str) -> None:
        try:
            status = await self.client.quota_status(user)
        except GatewayFailure as failure:
            self.refused(failure)
            self.query_one(QuotaBar).unknown(failure.title.lower())
            return
        self._show(status)

    def _show(self, status: quota_pb2.QuotaStatus) -> None:
        self.shown(status.user)
        state = "EXCEEDED: new requests are refused until the period ends" if status.exceeded else "within quota"
        self.query_one("#summary", Static).update(
            f"User       {status.user}\n"
            f"Period     {period(status.frequency)}\n"
            f"Limit      {usd(status.limit_usd)}\n"
            f"Spent      {usd(status.spent_usd)}\n"
            f"Remaining  {usd(status.remaining_usd)}\n"
            f"Resets     {moment(status.period_end)} UTC\n"
            f"Status     {state}\n"
            f"As of      {clock(self.console.now())} (Ctrl+R refreshes)"
        )
        self.query_one("#status", Vertical).set_class(status.exceeded, "-exceeded")
        self.query_one(QuotaBar).show(status)
