"""Admin: spend over a date range, the top users, models and keys, quota burn-down and who is near their limit."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import ClassVar

from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable, Input, Select, Static, TabbedContent, TabPane

from llmgw.tui.client import GatewayFailure
from llmgw.tui.feedback import report_failure
from llmgw.tui.format import day_after, midnight, parse_day, usd
from llmgw.tui.screens.admin_base import AdminScreen
from llmgw.tui.spend_math import BurnDown, burn_down
from llmgw.tui.widgets.spend_chart import SpendChart
from llmgw.v1 import usage_service_pb2, user_pb2

RANGES = [("Last 7 days", 7), ("Last 30 days", 30), ("Last 90 days", 90), ("Dates below", 0)]
BAR_CELLS = 10


def meter(fraction: float) -> str:
    """A ten-cell text bar of a fraction (clamped to 0..1)."""
    filled = round(max(0.0, min(fraction, 1.0)) * BAR_CELLS)
    return "█" * filled + "░" * (BAR_CELLS - filled)


class SpendScreen(AdminScreen):
    """Where the money goes: charts over a chosen range, and each user's burn-down this quota period."""

    CSS_PATH = "spend.tcss"
    TITLE = "Spend"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+r", "refresh", "Refresh")]

    def compose_admin(self) -> Iterable[Widget]:
        """Range picker, totals and four tabs."""
        with Horizontal(id="range"):
            yield Select[int](RANGES, value=30, allow_blank=False, id="preset")
            yield Input(placeholder="from Y-M-D", id="start")
            yield Input(placeholder="to Y-M-D", id="end")
        yield Static("", id="totals")
        with TabbedContent(id="tabs"):
            with TabPane("Over time", id="time-tab"), VerticalScroll(id="time-scroll"):
                yield SpendChart(id="by-day")
            with TabPane("Top", id="top-tab"), VerticalScroll():
                yield Static("Users", classes="heading")
                yield SpendChart(id="top-users")
                yield Static("Models", classes="heading")
                yield SpendChart(id="top-models")
                yield Static("Keys", classes="heading")
                yield SpendChart(id="top-keys")
            with TabPane("Burn-down", id="burn-tab"):
                yield DataTable[str](cursor_type="row", zebra_stripes=True, id="burn")
            with TabPane("Near limit", id="near-tab"):
                yield DataTable[str](cursor_type="row", zebra_stripes=True, id="near")

    def start(self) -> None:
        """Load the last 30 days."""
        self.action_refresh()

    @on(Select.Changed, "#preset")
    @on(Input.Submitted)
    def action_refresh(self) -> None:
        """Load the spend of the chosen range and every user's standing."""
        summary = usage_service_pb2.GetUsageSummaryRequest()
        preset = self.query_one("#preset", Select).value
        now = self.console.now()
        if isinstance(preset, int) and preset > 0:
            summary.start_time.FromDatetime(midnight(now.date() - timedelta(days=preset - 1)))
            summary.end_time.FromDatetime(day_after(now.date()))
        else:
            try:
                start = parse_day(self.query_one("#start", Input).value)
                end = parse_day(self.query_one("#end", Input).value)
            except ValueError as error:
                self.notify(str(error), title="Invalid input", severity="error")
                return
            if start is None or end is None:
                self.notify("Type both dates (YYYY-MM-DD), or pick a preset.", severity="warning")
                return
            if end < start:
                self.notify("The end date is before the start date.", title="Invalid input", severity="error")
                return
            summary.start_time.FromDatetime(midnight(start))
            summary.end_time.FromDatetime(day_after(end))
        self._load(summary)

    @work(exclusive=True, group="spend")
    async def _load(self, summary: usage_service_pb2.GetUsageSummaryRequest) -> None:
        try:
            spend = await self.client.usage_summary(summary)
            users = await self.client.list_users()
        except GatewayFailure as failure:
            report_failure(self, failure)
            self.query_one("#totals", Static).update(f"Not loaded: {failure}")
            return
        first = summary.start_time.ToDatetime().date()
        last = summary.end_time.ToDatetime().date() - timedelta(days=1)
        self.query_one("#totals", Static).update(
            f"{spend.requests} requests, {usd(spend.total_usd)} from {first} to {last} (UTC)"
        )
        self.query_one("#by-day", SpendChart).plot([(row.day, row.cost_usd) for row in spend.by_day])
        # Oldest day first, as people read time; the latest days are the ones they look for.
        self.query_one("#time-scroll", VerticalScroll).scroll_end(animate=False)
        self.query_one("#top-users", SpendChart).plot([(row.user, row.cost_usd) for row in spend.top_users[:10]])
        self.query_one("#top-models", SpendChart).plot([(row.model, row.cost_usd) for row in spend.by_model[:10]])
        self.query_one("#top-keys", SpendChart).plot(
            [(f"{row.user}/{row.key_name}", row.cost_usd) for row in spend.top_keys[:10]]
        )
        self._show_burn(users)

    def _show_burn(self, users: list[user_pb2.User]) -> None:
        now = self.console.now()
        burns = sorted((burn_down(user, now) for user in users), key=lambda burn: -burn.used)
        self._fill(self.query_one("#burn", DataTable), burns)
        self._fill(self.query_one("#near", DataTable), [burn for burn in burns if burn.near_limit])

    def _fill(self, table: DataTable[str], burns: list[BurnDown]) -> None:
        table.clear(columns=True)
        table.add_columns("User", "Used", "", "Spent", "Limit", "Runs out", "Period ends")
        for burn in burns:
            run_out = "-" if burn.run_out is None else burn.run_out.strftime("%Y-%m-%d %H:%M")
            if burn.run_out is not None and burn.spent >= burn.limit:
                run_out = "now"
            table.add_row(
                burn.user,
                f"{burn.used * 100:.0f}%",
                meter(float(burn.used)),
                usd(str(burn.spent)),
                usd(str(burn.limit)),
                run_out,
                burn.period_end.strftime("%Y-%m-%d"),
                key=burn.user,
            )
