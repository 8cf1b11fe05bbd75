"""Admin: the request log with filters and pages, one request's detail, CSV export, and spend charts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable, Input, Select, Static, TabbedContent, TabPane

from llmgw.tui.client import GatewayFailure
from llmgw.tui.export import export_requests
from llmgw.tui.format import OUTCOME_NAMES, ago, day_after, midnight, moment, parse_day, usd
from llmgw.tui.inputs import FromLive, ModelPart
from llmgw.tui.screens.request_detail import RequestDetailModal
from llmgw.tui.screens.user_base import UserScreen
from llmgw.tui.state import ConsoleState
from llmgw.tui.widgets.spend_chart import SpendChart
from llmgw.v1 import request_record_pb2, usage_service_pb2

PAGE_SIZE = 50
# Cost, latency and outcome come before the long model id, so they stay in view at 80 columns.
COLUMNS = ("When", "User", "Outcome", "Cost", "ms", "Model", "Key", "In", "Out")


@dataclass(frozen=True, slots=True)
class Filters:
    """The filters as typed, turned into the two requests they make."""

    records: usage_service_pb2.ListRequestsRequest
    summary: usage_service_pb2.GetUsageSummaryRequest


class UsageScreen(UserScreen):
    """Everyone's requests (filterable by user, key, model, outcome and dates) and where the money went."""

    CSS_PATH = "usage.tcss"
    TITLE = "Request log"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right_square_bracket", "page(1)", "Next page"),
        Binding("left_square_bracket", "page(-1)", "Prev page"),
        Binding("t", "toggle_times", "Times"),
        Binding("e", "export", "Export CSV"),
    ]
    FIELD_LABELS: ClassVar[Mapping[str, str]] = {
        "user": "User",
        "start_time": "From",
        "end_time": "To",
        "page_token": "Page",
    }

    def __init__(self, console: ConsoleState) -> None:
        super().__init__(console)
        self._records: list[request_record_pb2.RequestRecord] = []
        self._tokens: list[str] = [""]
        self._next = ""
        self._filters: Filters | None = None
        self._absolute = False

    def compose_admin(self) -> Iterable[Widget]:
        """Filters, a summary line and three tabs."""
        with Horizontal(id="filters"):
            yield Input(placeholder="user", id="user", suggester=FromLive(lambda: self.console.known_users))
            yield Input(placeholder="key", id="key")
            yield Input(
                placeholder="model (part)",
                id="model",
                suggester=FromLive(lambda: self.console.model_ids),
                validators=[ModelPart(lambda: self.console.model_ids)],
                validate_on=["submitted"],
            )
            yield Select[int](
                [(name, value) for value, name in OUTCOME_NAMES.items()], prompt="any outcome", id="outcome"
            )
            yield Input(placeholder="from Y-M-D", id="start")
            yield Input(placeholder="to Y-M-D", id="end")
        yield Static("", id="totals")
        with TabbedContent(id="tabs"):
            with TabPane("Requests", id="requests-tab"):
                yield DataTable[str](cursor_type="row", zebra_stripes=True, id="requests")
            with TabPane("By model", id="models-tab"), VerticalScroll():
                yield SpendChart(id="by-model")
            with TabPane("By day", id="days-tab"), VerticalScroll(id="days-scroll"):
                yield SpendChart(id="by-day")

    def start(self) -> None:
        """Load the newest requests of everyone."""
        self.action_refresh()

    def load(self, user: str) -> None:
        """Show the requests of `user` (picked on the Users screen)."""
        self.action_refresh()

    def on_screen_resume(self) -> None:
        """Follow the user picked on the Users screen."""
        picked = self.console.selected_user
        if self.identity.is_admin and picked and picked != self.loaded_user:
            self.query_one("#user", Input).value = picked
            self.action_refresh()

    @on(Input.Submitted)
    @on(Select.Changed, "#outcome")
    def action_refresh(self) -> None:
        """Apply the filters, from the first page."""
        filters = self._read_filters()
        if filters is None:
            return
        self.loaded_user = filters.records.user
        self._filters = filters
        self._tokens = [""]
        self._load(filters, "")

    def _read_filters(self) -> Filters | None:
        try:
            start = parse_day(self.query_one("#start", Input).value)
            end = parse_day(self.query_one("#end", Input).value)
        except ValueError as error:
            self.notify(str(error), title="Invalid input", severity="error")
            return None
        model_field = self.query_one("#model", Input)
        checked = model_field.validate(model_field.value)
        if checked is not None and not checked.is_valid:
            self.notify(" ".join(checked.failure_descriptions) + " Filtering anyway.", severity="warning")
        outcome = self.query_one("#outcome", Select).value
        records = usage_service_pb2.ListRequestsRequest(
            user=self.query_one("#user", Input).value.strip(),
            key_name=self.query_one("#key", Input).value.strip(),
            model=model_field.value.strip(),
            outcome=request_record_pb2.Outcome.ValueType(outcome if isinstance(outcome, int) else 0),
            page_size=PAGE_SIZE,
        )
        summary = usage_service_pb2.GetUsageSummaryRequest(
            user=records.user, key_name=records.key_name, model=records.model, outcome=records.outcome
        )
        if start is not None:
            records.start_time.FromDatetime(midnight(start))
            summary.start_time.FromDatetime(midnight(start))
        if end is not None:
            records.end_time.FromDatetime(day_after(end))
            summary.end_time.FromDatetime(day_after(end))
        return Filters(records, summary)

    def action_page(self, step: int) -> None:
        """Show the next (1) or previous (-1) page of the same filters."""
        if self._filters is None:
            return
        if step > 0 and self._next:
            self._tokens.append(self._next)
        elif step < 0 and len(self._tokens) > 1:
            self._tokens.pop()
        else:
            self.notify("No more pages that way.", severity="information")
            return
        self._load(self._filters, self._tokens[-1])

    @work(exclusive=True, group="usage")
    async def _load(self, filters: Filters, token: str) -> None:
        records = usage_service_pb2.ListRequestsRequest()
        records.CopyFrom(filters.records)
        records.page_token = token
        try:
            page = await self.client.list_requests(records)
            spend = await self.client.usage_summary(filters.summary)
        except GatewayFailure as failure:
            self.refused(failure)
            # Rows that do not match the filters on screen would mislead: show none.
            self._records, self._next = [], ""
            self._show_requests()
            self.query_one("#totals", Static).update(f"Not loaded: {failure}")
            return
        self._records, self._next = page.records, page.next_page_token
        self.console.remember_users([record.user for record in page.records])
        self._show_requests()
        self.query_one("#by-model", SpendChart).plot([(row.model, row.cost_usd) for row in spend.by_model])
        self.query_one("#by-day", SpendChart).plot([(row.day, row.cost_usd) for row in spend.by_day])
        self.query_one("#days-scroll", VerticalScroll).scroll_end(animate=False)  # the latest days in view
        number = len(self._tokens)
        first = (number - 1) * PAGE_SIZE + 1
        rows = f"rows {first}-{first + len(page.records) - 1}" if page.records else "no rows"
        more = ", ] for more" if page.next_page_token else ""
        self.query_one("#totals", Static).update(
            f"{spend.requests} requests, {usd(spend.total_usd)} match; page {number}, {rows}{more}"
        )

    def _show_requests(self) -> None:
        table = self.query_one("#requests", DataTable)
        # Columns too: their widths only grow, and should fit what is shown now.
        table.clear(columns=True)
        table.add_columns(*COLUMNS)
        now = self.console.now()
        for record in self._records:
            table.add_row(
                moment(record.created_at) if self._absolute else ago(record.created_at, now),
                record.user,
                OUTCOME_NAMES.get(record.outcome, "unknown"),
                usd(record.cost_usd),
                str(record.latency_ms),
                record.model,
                record.key_name,
                str(record.input_tokens),
                str(record.output_tokens),
                key=record.id,
            )

    def action_toggle_times(self) -> None:
        """Switch the When column between `5 min ago` and the absolute UTC time."""
        self._absolute = not self._absolute
        self._show_requests()

    @on(DataTable.RowSelected, "#requests")
    def _detail(self, event: DataTable.RowSelected) -> None:
        record = next((record for record in self._records if record.id == event.row_key.value), None)
        if record is not None:
            self.app.push_screen(RequestDetailModal(record))

    def action_export(self) -> None:
        """Write every request matching the filters (all pages) to a CSV file."""
        if self._filters is not None:
            self._export(self._filters)

    @work(exclusive=True, group="export")
    async def _export(self, filters: Filters) -> None:
        try:
            path, count = await export_requests(
                self.client, filters.records, self.console.export_dir, self.console.now()
            )
        except GatewayFailure as failure:
            self.refused(failure)
            return
        except OSError as error:
            self.notify(f"Could not write the file: {error}", title="Export failed", severity="error")
            return
        self.notify(f"Wrote {count} requests to {path}", title="Exported")
