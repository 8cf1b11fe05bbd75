"""The request log screen against a real gateway: outcomes, pages, filtered totals, detail and CSV export."""

from __future__ import annotations

import csv
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Select, Static

from llmgw.server.store.models import RequestRecord
from llmgw.tui.app import GatewayApp
from llmgw.tui.messages import ServerRefused
from llmgw.tui.screens.request_detail import RequestDetailModal, describe
from llmgw.tui.screens.usage import PAGE_SIZE, UsageScreen
from llmgw.v1 import request_record_pb2
from tests.model_ids import HAIKU, SONNET
from tests.support import GatewayThread
from tests.tui.conftest import UserFactory, of_type, until

PICO_PER_MICRO = 10**6
BASE = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def write_requests(
    user: str, count: int, *, outcome: str = "success", model: str = HAIKU, key: str = "laptop", after: int = 0
) -> None:
    """`count` records a minute apart from BASE + `after` minutes, costing 1, 2, 3… micro-dollars, into the log."""
    for index in range(count):
        RequestRecord.create(
            id=f"chatcmpl-{user}-{outcome}-{model[-8:]}-{key}-{index}",
            user=user,
            key_name=key,
            model=model,
            api="chat_stream",
            input_tokens=10,
            output_tokens=5,
            cost_picodollars=(index + 1) * PICO_PER_MICRO,
            latency_ms=300,
            ttft_ms=40 if outcome == "success" else None,
            outcome=outcome,
            error_reason="RATE_LIMIT_EXCEEDED" if outcome == "rate_limited" else "",
            created_at=BASE + timedelta(minutes=after + index),
        )


async def open_log(app: GatewayApp, pilot: Pilot[None], user: str) -> UsageScreen:
    """Sign in as admin, open the log and filter on `user` (all of 2025-06)."""
    await until(pilot, lambda: app.session is not None, "the sign-in")
    await pilot.press("f6")
    await until(pilot, lambda: isinstance(app.screen, UsageScreen), "the request log")
    screen = app.screen
    assert isinstance(screen, UsageScreen)
    screen.query_one("#user", Input).value = user
    screen.query_one("#start", Input).value = "2025-06-01"
    screen.query_one("#end", Input).value = "2025-06-30"
    screen.query_one("#user", Input).focus()
    await pilot.press("enter")
    return screen


def rows(screen: UsageScreen) -> list[list[str]]:
    """The table's rows, top to bottom."""
    table = screen.query_one("#requests", DataTable)
    return [[str(cell) for cell in table.get_row_at(row)] for row in range(table.row_count)]


def totals(screen: UsageScreen) -> str:
    """The totals line."""
    return str(screen.query_one("#totals", Static).content)


async def test_rate_limited_rows_pages_and_filtered_totals(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """Rate-limited rows are named and filterable; pages go past the first; totals follow every filter."""
    user = fresh_user("paged")
    write_requests(user, PAGE_SIZE + 20)
    write_requests(user, 3, outcome="rate_limited", model=SONNET, key="ci", after=PAGE_SIZE + 20)
    app = GatewayApp(gateway.grpc_target, gateway.create_key("root", fresh_user("admin-key")))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_log(app, pilot, user)
        await until(pilot, lambda: totals(screen).startswith(f"{PAGE_SIZE + 23} requests"), "the first page")
        assert len(rows(screen)) == PAGE_SIZE
        assert "page 1, rows 1-50, ] for more" in totals(screen)
        assert [row[2] for row in rows(screen)[:3]] == ["rate limited"] * 3
        assert "?" not in {row[2] for row in rows(screen)}

        screen.query_one("#requests", DataTable).focus()
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: "page 2, rows 51-73" in totals(screen), "the second page")
        assert len(rows(screen)) == 23
        await pilot.press("left_square_bracket")
        await until(pilot, lambda: "page 1, rows 1-50" in totals(screen), "the first page again")

        screen.query_one("#outcome", Select).value = request_record_pb2.OUTCOME_RATE_LIMITED
        await until(pilot, lambda: totals(screen).startswith("3 requests, $0.000006 match"), "the outcome filter")
        assert {row[2] for row in rows(screen)} == {"rate limited"}

        screen.query_one("#outcome", Select).clear()
        screen.query_one("#key", Input).value = "laptop"
        screen.query_one("#model", Input).value = HAIKU
        screen.query_one("#model", Input).focus()
        await pilot.press("enter")
        await until(pilot, lambda: totals(screen).startswith(f"{PAGE_SIZE + 20} requests"), "the key and model filter")
        assert {row[5] for row in rows(screen)} == {HAIKU}
        assert {row[6] for row in rows(screen)} == {"laptop"}


async def test_model_filter_matches_part_of_the_id(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """`SONNET` finds the Sonnet rows (case ignored, no full id typed) without a warning; totals are those rows'."""
    user = fresh_user("partial")
    write_requests(user, 4)
    write_requests(user, 2, model=SONNET, after=10)
    app = GatewayApp(gateway.grpc_target, gateway.create_key("root", fresh_user("admin-key")))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_log(app, pilot, user)
        await until(pilot, lambda: totals(screen).startswith("6 requests"), "every row")
        await until(pilot, lambda: bool(app.console_state and app.console_state.catalog), "the catalog")
        screen.query_one("#model", Input).value = "SONNET"
        screen.query_one("#model", Input).focus()
        await pilot.press("enter")
        await until(pilot, lambda: totals(screen).startswith("2 requests, $0.000003 match"), "the model filter")
        assert {row[5] for row in rows(screen)} == {SONNET}
        assert not [note for note in app._notifications if note.severity == "warning"]


async def test_failed_filter_shows_no_stale_rows(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """A filter the gateway refuses empties the table and says why, instead of keeping the old rows."""
    user = fresh_user("stale")
    write_requests(user, 2)
    messages: list[Message] = []
    app = GatewayApp(gateway.grpc_target, gateway.create_key("root", fresh_user("admin-key")))
    async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
        screen = await open_log(app, pilot, user)
        await until(pilot, lambda: len(rows(screen)) == 2, "the rows")
        screen.query_one("#user", Input).value = "not a user name"
        screen.query_one("#user", Input).focus()
        await pilot.press("enter")
        await until(pilot, lambda: bool(of_type(messages, ServerRefused)), "the refusal")
        await until(pilot, lambda: totals(screen).startswith("Not loaded:"), "the failure line")
        assert rows(screen) == []


async def test_detail_absolute_times_and_csv_export(
    gateway: GatewayThread, fresh_user: UserFactory, tmp_path: Path
) -> None:
    """Enter opens one request in full; `t` shows absolute times; `e` writes every matching row to a CSV file."""
    user = fresh_user("detail")
    write_requests(user, PAGE_SIZE + 5, outcome="rate_limited")
    clock = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)
    app = GatewayApp(
        gateway.grpc_target,
        gateway.create_key("root", fresh_user("admin-key")),
        clock=lambda: clock,
        export_dir=tmp_path,
    )
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_log(app, pilot, user)
        await until(pilot, lambda: len(rows(screen)) == PAGE_SIZE, "the rows")
        assert rows(screen)[0][0] == "2025-06-01"
        table = screen.query_one("#requests", DataTable)
        table.focus()
        await pilot.press("t")
        newest = BASE + timedelta(minutes=PAGE_SIZE + 4)
        assert rows(screen)[0][0] == newest.strftime("%Y-%m-%d %H:%M:%S")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RequestDetailModal), "the detail")
        detail = str(app.screen.query_one("#detail", Static).content)
        assert f"chatcmpl-{user}-rate_limited" in detail
        assert "Error reason RATE_LIMIT_EXCEEDED" in detail
        assert "First token  no token came" in detail
        assert "API          chat_stream" in detail
        assert "Cache        0 read, 0 written" in detail
        assert f"Sent as      {HAIKU}" in detail
        assert "Sent to      Bedrock not called" in detail
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen, "the log again")
        await pilot.press("e")
        target = tmp_path / "llmgw-requests-20250701-080000.csv"
        await until(pilot, target.exists, "the CSV file")
        with target.open(newline="", encoding="utf-8") as handle:
            written = list(csv.DictReader(handle))
        assert len(written) == PAGE_SIZE + 5
        assert written[0]["created_at"] == newest.strftime("%Y-%m-%d %H:%M:%S")
        assert written[0]["cost_usd"] == "0.000055"
        assert {row["outcome"] for row in written} == {"rate limited"}
        assert written[0]["cache_read_tokens"] == "0"
        assert os.listdir(tmp_path) == [target.name]


def test_detail_says_where_a_routed_request_went() -> None:
    """A routed request's detail names the region and how many calls it took."""
    record = request_record_pb2.RequestRecord(
        id="chatcmpl-routed", model=HAIKU, upstream_model=f"us.{HAIKU}", region="us-west-2", attempts=2
    )
    detail = describe(record)
    assert f"Sent as      us.{HAIKU}" in detail
    assert "Sent to      us-west-2, 2 call(s) to Bedrock" in detail
