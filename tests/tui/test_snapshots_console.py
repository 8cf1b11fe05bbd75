"""Snapshots of the admin console's screens at 80x24 and 120x40: users, rate limits, keys of a user,
the live tail, spend, a request's detail, the help and the chat settings.

The gateway of this module runs on a fixed clock (Wednesday 2025-06-18 12:00 UTC), as
does the UI, and the users, keys, ledger rows and request log are written once for
the module, so every picture is the same whatever runs before it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from textual.containers import VerticalScroll
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, TabbedContent

from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.server.store.models import QuotaLedger, RequestRecord
from llmgw.tui.app import GatewayApp
from llmgw.tui.screens.chat_settings import ChatSettings, ChatSettingsModal
from llmgw.tui.screens.help import HelpModal
from llmgw.tui.screens.keys import KeysScreen
from llmgw.tui.screens.live import LiveScreen
from llmgw.tui.screens.rate_limits import RateLimitsScreen
from llmgw.tui.screens.request_detail import RequestDetailModal
from llmgw.tui.screens.spend import SpendScreen
from llmgw.tui.screens.usage import UsageScreen
from llmgw.tui.screens.users import UsersScreen
from llmgw.v1 import (
    policy_service_pb2,
    policy_service_pb2_grpc,
    quota_pb2,
    quota_service_pb2,
    quota_service_pb2_grpc,
)
from tests.model_ids import HAIKU, SONNET
from tests.support import GatewayThread, bearer, gateway_settings
from tests.tui.conftest import SnapCompare, press_in, until
from tests.tui.test_snapshots import SIZES, steady

NOW = datetime(2025, 6, 18, 12, 0, tzinfo=UTC)
PICO = 10**12
MICRO = 10**6


def _record(user: str, key: str, model: str, micro: int, when: datetime, outcome: str = "success") -> None:
    """One request record, committed at once (its own transaction) so every connection sees it."""
    with RequestRecord._meta.database.atomic():
        _insert(user, key, model, micro, when, outcome)


def _insert(user: str, key: str, model: str, micro: int, when: datetime, outcome: str) -> None:
    RequestRecord.create(
        id=f"chatcmpl-{user}-{when:%m%d%H%M%S}",
        user=user,
        key_name=key,
        model=model,
        api="chat_stream",
        input_tokens=800,
        output_tokens=300,
        cost_picodollars=micro * PICO // MICRO,
        latency_ms=640,
        ttft_ms=120 if outcome == "success" else None,
        outcome=outcome,
        error_reason="RATE_LIMIT_EXCEEDED" if outcome == "rate_limited" else "",
        created_at=when,
    )


@pytest.fixture(scope="module")
def gateway(fake_bedrock: FakeBedrockServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    """A gateway on the fixed clock with the module's users, settings, ledger and requests."""
    running = GatewayThread(
        gateway_settings(tmp_path_factory.mktemp("console"), fake_bedrock.url), clock=lambda: NOW
    ).start()
    try:
        admin = bearer(running.create_key("root", "setup"))
        for user, keys in (("ada", ("laptop", "ci")), ("ben", ("laptop",)), ("cy", ("tui",))):
            for key in keys:
                running.create_key(user, key)
        with running.channel() as channel:
            quotas = quota_service_pb2_grpc.QuotaServiceStub(channel)
            quotas.SetQuota(
                quota_service_pb2.SetQuotaRequest(user="ada", frequency=quota_pb2.QUOTA_FREQUENCY_DAILY, limit_usd="5"),
                metadata=admin,
            )
            quotas.SetRateLimit(
                quota_service_pb2.SetRateLimitRequest(user="cy", requests_per_minute=60, tokens_per_minute=100_000),
                metadata=admin,
            )
            policy_service_pb2_grpc.PolicyServiceStub(channel).SetModelAccess(
                policy_service_pb2.SetModelAccessRequest(user="cy", models=[HAIKU]), metadata=admin
            )
        QuotaLedger.create(
            user="ada", period_start=datetime(2025, 6, 18, tzinfo=UTC), spent_picodollars=42 * PICO // 10
        )
        QuotaLedger.create(user="ben", period_start=datetime(2025, 6, 16, tzinfo=UTC), spent_picodollars=6 * PICO)
        for day in range(7):
            when = datetime(2025, 6, 12, 9, 30, tzinfo=UTC) + timedelta(days=day)
            _record("ada", "laptop", SONNET, 600_000 + day * 100_000, when)
            _record("ben", "laptop", HAIKU, 250_000, when + timedelta(hours=2))
        _record("ada", "ci", HAIKU, 0, datetime(2025, 6, 18, 11, 0, tzinfo=UTC), outcome="rate_limited")
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def admin_key(gateway: GatewayThread) -> str:
    """One key for every picture, so root's key count does not depend on which tests ran."""
    return gateway.create_key("root", "console")


def console(gateway: GatewayThread, key: str) -> GatewayApp:
    """The admin's app on the fixed clock."""
    return GatewayApp(gateway.grpc_target, key, clock=lambda: NOW)


async def users_loaded(pilot: Pilot[None]) -> None:
    """Wait for the admin's home with every user listed."""
    await until(pilot, lambda: isinstance(pilot.app.screen, UsersScreen), "the users screen")
    table = pilot.app.screen.query_one("#users", DataTable)
    await until(pilot, lambda: table.row_count == 4, "the four users")


@pytest.mark.parametrize("size", SIZES)
def test_users(size: tuple[int, int], gateway: GatewayThread, admin_key: str, snap_compare: SnapCompare) -> None:
    """The admin's home: users with keys, spend against limit, last request and own settings."""
    assert snap_compare(console(gateway, admin_key), terminal_size=size, run_before=steady(users_loaded))


@pytest.mark.parametrize("size", SIZES)
def test_rate_limits(size: tuple[int, int], gateway: GatewayThread, admin_key: str, snap_compare: SnapCompare) -> None:
    """A user's own rate limits in the form."""

    async def loaded(pilot: Pilot[None]) -> None:
        await users_loaded(pilot)
        await pilot.press("f8")
        await until(pilot, lambda: isinstance(pilot.app.screen, RateLimitsScreen), "the rate limits")
        screen = pilot.app.screen
        assert isinstance(screen, RateLimitsScreen)
        screen.query_one("#user", Input).value = "cy"
        await press_in(pilot, screen.query_one("#user", Input), "enter")
        await until(pilot, lambda: screen.loaded_user == "cy", "cy's limits")

    assert snap_compare(console(gateway, admin_key), terminal_size=size, run_before=steady(loaded))


@pytest.mark.parametrize("size", SIZES)
def test_keys_of_a_user(
    size: tuple[int, int], gateway: GatewayThread, admin_key: str, snap_compare: SnapCompare
) -> None:
    """The keys screen following the user picked on the Users screen."""

    async def picked(pilot: Pilot[None]) -> None:
        await users_loaded(pilot)
        table = pilot.app.screen.query_one("#users", DataTable)
        table.move_cursor(row=table.get_row_index("ada"))
        await pilot.press("enter")
        pilot.app.clear_notifications()
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(pilot.app.screen, KeysScreen), "the keys")
        keys = pilot.app.screen.query_one("#keys", DataTable)
        await until(pilot, lambda: keys.row_count == 2, "ada's keys")

    assert snap_compare(console(gateway, admin_key), terminal_size=size, run_before=steady(picked))


@pytest.mark.parametrize("size", SIZES)
def test_live(size: tuple[int, int], gateway: GatewayThread, admin_key: str, snap_compare: SnapCompare) -> None:
    """The live tail, connected, after two requests were recorded."""

    async def following(pilot: Pilot[None]) -> None:
        await users_loaded(pilot)
        await pilot.press("f9")
        await until(pilot, lambda: isinstance(pilot.app.screen, LiveScreen), "the live tail")
        screen = pilot.app.screen
        assert isinstance(screen, LiveScreen)
        await until(pilot, lambda: screen.state == "live", "the stream")
        # A user known to no other picture (no key, no settings), on days outside every range shown elsewhere.
        later = timedelta(days=size[0])
        _record("zed", "cli", HAIKU, 31_000, datetime(2025, 6, 18, 12, 0, 5, tzinfo=UTC) + later)
        _record("zed", "cli", SONNET, 0, datetime(2025, 6, 18, 12, 0, 9, tzinfo=UTC) + later, "error")
        await until(pilot, lambda: screen.seen == 2, f"the two requests ({screen.seen})")

    assert snap_compare(console(gateway, admin_key), terminal_size=size, run_before=steady(following))


async def spend_loaded(pilot: Pilot[None], tab: str) -> None:
    """Open Spend (last 30 days on the fixed clock) on one tab."""
    await users_loaded(pilot)
    await pilot.press("f10")
    await until(pilot, lambda: isinstance(pilot.app.screen, SpendScreen), "the spend screen")
    screen = pilot.app.screen
    burn = screen.query_one("#burn", DataTable)
    await until(pilot, lambda: burn.row_count == 4, "the burn-down")
    tabs = screen.query_one("#tabs", TabbedContent)
    tabs.active = tab
    pane = tabs.get_pane(tab)
    await until(pilot, lambda: pane.size.width > 0, "the tab")
    if tab == "time-tab":
        days = screen.query_one("#time-scroll", VerticalScroll)
        await until(pilot, lambda: days.max_scroll_y == max(0, 32 - days.size.height), "the chart laid out")
        await until(pilot, lambda: days.is_vertical_scroll_end, "the latest days in view")
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


@pytest.mark.parametrize(
    ("size", "tab"),
    [
        pytest.param((80, 24), "time-tab", id="over-time-80x24"),
        pytest.param((120, 40), "time-tab", id="over-time-120x40"),
        pytest.param((120, 40), "top-tab", id="top-120x40"),
        pytest.param((80, 24), "burn-tab", id="burn-down-80x24"),
        pytest.param((120, 40), "near-tab", id="near-limit-120x40"),
    ],
)
def test_spend(
    size: tuple[int, int], tab: str, gateway: GatewayThread, admin_key: str, snap_compare: SnapCompare
) -> None:
    """Spend over 30 days, the top spenders, each user's burn-down and who is near their limit."""

    async def shown(pilot: Pilot[None]) -> None:
        await spend_loaded(pilot, tab)

    app = console(gateway, admin_key)
    assert snap_compare(app, terminal_size=size, run_before=steady(shown))


@pytest.mark.parametrize("size", SIZES)
def test_request_detail(
    size: tuple[int, int], gateway: GatewayThread, admin_key: str, snap_compare: SnapCompare
) -> None:
    """One rate-limited request in full, opened from the log."""

    async def opened(pilot: Pilot[None]) -> None:
        await users_loaded(pilot)
        await pilot.press("f6")
        await until(pilot, lambda: isinstance(pilot.app.screen, UsageScreen), "the log")
        screen = pilot.app.screen
        screen.query_one("#user", Input).value = "ada"
        screen.query_one("#key", Input).value = "ci"
        await press_in(pilot, screen.query_one("#key", Input), "enter")
        table = screen.query_one("#requests", DataTable)
        await until(pilot, lambda: table.row_count == 1, "the one request")
        await press_in(pilot, table, "enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, RequestDetailModal), "the detail")

    assert snap_compare(console(gateway, admin_key), terminal_size=size, run_before=steady(opened))


@pytest.mark.parametrize("size", SIZES)
def test_help(size: tuple[int, int], gateway: GatewayThread, admin_key: str, snap_compare: SnapCompare) -> None:
    """`?` on the Users screen: its keys, then the app's."""

    async def helped(pilot: Pilot[None]) -> None:
        await users_loaded(pilot)
        await press_in(pilot, pilot.app.screen.query_one("#users", DataTable), "question_mark")
        await until(pilot, lambda: isinstance(pilot.app.screen, HelpModal), "the help")

    assert snap_compare(console(gateway, admin_key), terminal_size=size, run_before=steady(helped))


@pytest.mark.parametrize("size", SIZES)
def test_chat_settings(
    size: tuple[int, int], gateway: GatewayThread, admin_key: str, snap_compare: SnapCompare
) -> None:
    """The chat settings with a system prompt, a temperature and a token limit."""

    async def settings(pilot: Pilot[None]) -> None:
        await users_loaded(pilot)
        await pilot.app.push_screen(ChatSettingsModal(ChatSettings("Answer in one short paragraph.", 0.3, 256)))
        await pilot.pause()

    assert snap_compare(console(gateway, admin_key), terminal_size=size, run_before=steady(settings))
