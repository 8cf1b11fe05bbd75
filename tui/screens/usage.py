"""Admin: the request log with filters, and spend by model and by day as bar charts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import ClassVar

from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import DataTable, Input, Select, Static, TabbedContent, TabPane

from llmgw.tui.client import GatewayClient, GatewayFailure, Identity
from llmgw.tui.feedback import report_failure
from llmgw.tui.format import OUTCOME_NAMES, ago, day_after, midnight, parse_day, usd
from llmgw.tui.screens.admin_base import AdminScreen
from llmgw.tui.widgets.spend_chart import SpendChart
from llmgw.v1 import request_record_pb2, usage_service_pb2

PAGE_SIZE = 200
# "Via": the region that answered (or was tried last), with the calls to Bedrock it took in brackets.
COLUMNS = ("When", "User", "Key", "Model", "In", "Out", "Cost", "ms", "Outcome", "Via")


class UsageScreen(AdminScreen):
    """Everyone's requests (filterable by user, model, outcome and dates) and where the money went."""

    CSS_PATH = "usage.tcss"
    TITLE = "Usage"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+r", "refresh", "Refresh")]

    def __init__(
        self, client: GatewayClient, identity: Identity, now: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        super().__init__(client, identity)
        self._now = now

    def compose_admin(self) -> Iterable[Widget]:
        """Filters, a summary line and three tabs."""
        with Horizontal(id="filters"):
            yield Input(placeholder="user", id="user")
            yield Input(placeholder="model", id="model")
            yield Select[int](
                [(name, value) for value, name in OUTCOME_NAMES.items()], prompt="any outcome", id="outcome"
            )
            yield Input(placeholder="from Y-M-D", id="start")
            yield Input(placeholder="to Y-M-D", id="end")
        yield Static("", id="totals")
        with TabbedContent(id="tabs"):
            with TabPane("Requests", id="requests-tab"):
                yield DataTable[str](cursor_type="row", zebra_stripes=True, id="requests")
            with TabPane("By model", id="models-tab"):
                yield SpendChart(id="by-model")
            with TabPane("By day", id="days-tab"):
                yield SpendChart(id="by-day")

    def start(self) -> None:
        """Load the last 30 days of everyone's requests."""
        self.action_refresh()

    @on(Input.Submitted)
    @on(Select.Changed, "#outcome")
    def action_refresh(self) -> None:
        """Apply the filters."""
        try:
            start = parse_day(self.query_one("#start", Input).value)
            end = parse_day(self.query_one("#end", Input).value)
        except ValueError as error:
            self.notify(str(error), title="Invalid input", severity="error")
            return
        outcome = self.query_one("#outcome", Select).value
        records = usage_service_pb2.ListRequestsRequest(
            user=self.query_one("#user", Input).value.strip(),
            model=self.query_one("#model", Input).value.strip(),
            outcome=request_record_pb2.Outcome.ValueType(outcome if isinstance(outcome, int) else 0),
            page_size=PAGE_SIZE,
        )
        summary = usage_service_pb2.GetUsageSummaryRequest(user=records.user)
        if start is not None:
            records.start_time.FromDatetime(midnight(start))
            summary.start_time.FromDatetime(midnight(start))
        if end is not None:
            records.end_time.FromDatetime(day_after(end))
            summary.end_time.FromDatetime(day_after(end))
        self._load(records, summary)

    @work(exclusive=True, group="usage")
    async def _load(
        self, records: usage_service_pb2.ListRequestsRequest, summary: usage_service_pb2.GetUsageSummaryRequest
    ) -> None:
        try:
            requests = await self.client.list_requests(records)
            spend = await self.client.usage_summary(summary)
        except GatewayFailure as failure:
            report_failure(self, failure)
            return
        self._show_requests(requests)
        self.query_one("#by-model", SpendChart).plot([(row.model, row.cost_usd) for row in spend.by_model])
        self.query_one("#by-day", SpendChart).plot([(row.day, row.cost_usd) for row in spend.by_day])
        shown = f"{len(requests)} shown" + (" (newest first, limit reached)" if len(requests) == PAGE_SIZE else "")
        self.query_one("#totals", Static).update(
            f"{spend.requests} requests, {usd(spend.total_usd)} in the range; {shown}"
        )

    def _show_requests(self, requests: list[request_record_pb2.RequestRecord]) -> None:
        table = self.query_one("#requests", DataTable)
        # Columns too: their widths only grow, and should fit what is shown now.
        table.clear(columns=True)
        table.add_columns(*COLUMNS)
        now = self._now()
        for record in requests:
            table.add_row(
                ago(record.created_at, now),
                record.user,
                record.key_name,
                record.model,
                str(record.input_tokens),
                str(record.output_tokens),
                usd(record.cost_usd),
                str(record.latency_ms),
                OUTCOME_NAMES.get(record.outcome, "?"),
                f"{record.region} ({record.attempts})" if record.attempts else "",
            )
