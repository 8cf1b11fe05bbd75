"""Admin: a user's cost quota (period and limit); save it or reset to the default."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static

from llmgw.tui.client import GatewayFailure
from llmgw.tui.feedback import report_failure
from llmgw.tui.format import FREQUENCY_NAMES, usd
from llmgw.tui.messages import QuotaSaved
from llmgw.tui.screens.admin_base import AdminScreen
from llmgw.v1 import quota_pb2


class QuotasScreen(AdminScreen):
    """Reads and changes one user's quota through QuotaService."""

    CSS_PATH = "quotas.tcss"
    TITLE = "Quotas"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save"),
        Binding("ctrl+r", "reset", "Reset", show=False),
    ]

    def compose_admin(self) -> Iterable[Widget]:
        """User field, then the quota form."""
        with Horizontal(id="who"):
            yield Input(placeholder="user name, Enter to load", id="user")
            yield Button("Load", id="load")
            yield Button("Save", variant="primary", id="save")
            yield Button("Reset (^r)", variant="warning", id="reset")
        yield Static("Load a user to see their quota.", id="origin")
        with Vertical(id="form"):
            yield Label("Period")
            yield Select[int](
                [(name, value) for value, name in FREQUENCY_NAMES.items()],
                value=quota_pb2.QUOTA_FREQUENCY_WEEKLY,
                allow_blank=False,
                id="frequency",
            )
            yield Label("Limit per period (USD)")
            yield Input(placeholder="25", id="limit", restrict=r"[0-9.]*")

    def start(self) -> None:
        """Focus the user field."""
        self.query_one("#user", Input).focus()

    @on(Input.Submitted, "#user")
    @on(Button.Pressed, "#load")
    def _load_pressed(self) -> None:
        user = self._user()
        if user:
            self._load(user)

    @on(Input.Submitted, "#limit")
    def _limit_submitted(self) -> None:
        self.action_save()

    def _user(self) -> str:
        user = self.query_one("#user", Input).value.strip()
        if not user:
            self.notify("Enter a user name first.", severity="warning")
        return user

    @work(exclusive=True, group="quota")
    async def _load(self, user: str) -> None:
        try:
            quota = await self.client.get_quota(user)
        except GatewayFailure as failure:
            report_failure(self, failure)
            return
        self._show(quota)

    def _show(self, quota: quota_pb2.Quota) -> None:
        origin = "the default quota" if quota.is_default else "their own quota"
        self.query_one("#origin", Static).update(
            f"{quota.user}: {origin}, {usd(quota.limit_usd)} {FREQUENCY_NAMES.get(quota.frequency, '')}"
        )
        self.query_one("#frequency", Select).value = quota.frequency
        self.query_one("#limit", Input).value = quota.limit_usd

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        """Give the user the period and limit in the form."""
        user = self._user()
        limit = self.query_one("#limit", Input).value.strip()
        frequency = self.query_one("#frequency", Select).value
        if not user:
            return
        if not limit or not isinstance(frequency, int):
            self.notify("Enter a limit in USD.", severity="warning")
            return
        self._save(user, quota_pb2.QuotaFrequency.ValueType(frequency), limit)

    @work(exclusive=True, group="quota")
    async def _save(self, user: str, frequency: quota_pb2.QuotaFrequency.ValueType, limit: str) -> None:
        try:
            quota = await self.client.set_quota(user, frequency, limit)
        except GatewayFailure as failure:
            report_failure(self, failure)
            return
        self._saved(quota, "Saved")

    @on(Button.Pressed, "#reset")
    def action_reset(self) -> None:
        """Put the user back on the default quota."""
        user = self._user()
        if user:
            self._reset(user)

    @work(exclusive=True, group="quota")
    async def _reset(self, user: str) -> None:
        try:
            quota = await self.client.reset_quota(user)
        except GatewayFailure as failure:
            report_failure(self, failure)
            return
        self._saved(quota, "Reset")

    def _saved(self, quota: quota_pb2.Quota, verb: str) -> None:
        self._show(quota)
        self.notify(f"{verb} the quota of {quota.user}.")
        self.post_message(
            QuotaSaved(quota.user, FREQUENCY_NAMES.get(quota.frequency, ""), quota.limit_usd, quota.is_default)
        )
