"""Snapshots of every screen at 80x24 and 120x40, against the real gateway with fixed data.

Each screen is shown for a user of its own, with fixed names, amounts and dates,
so nothing in view depends on the clock, the port or random ids.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Select, SelectionList, Static, TabbedContent, TextArea

from llmgw.server.store.models import RequestRecord
from llmgw.tui.app import GatewayApp
from llmgw.tui.screens.chat import ChatScreen
from llmgw.tui.screens.keys import KeysScreen
from llmgw.tui.screens.secret import SecretModal
from llmgw.tui.screens.signin import SignInScreen
from llmgw.tui.screens.usage import UsageScreen
from llmgw.tui.screens.users import UsersScreen
from llmgw.tui.widgets.chat_message import ChatMessage
from llmgw.tui.widgets.prompt_area import PromptArea
from llmgw.v1 import (
    policy_service_pb2,
    policy_service_pb2_grpc,
    quota_pb2,
    quota_service_pb2,
    quota_service_pb2_grpc,
)
from tests.model_ids import HAIKU, SONNET
from tests.support import GatewayThread, bearer
from tests.tui.conftest import SnapCompare, press_in, until

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
PICO = 10**12

Step = Callable[[Pilot[None]], Awaitable[None]]


# The UI's clock in every snapshot, so `as of` lines do not depend on when the tests run.
FIXED_NOW = datetime(2025, 6, 18, 12, 0, tzinfo=UTC)


def admin(gateway: GatewayThread, name: str) -> GatewayApp:
    """An app signed in as the admin with a key made for this snapshot, on the fixed clock."""
    return GatewayApp(gateway.grpc_target, gateway.create_key("root", name), clock=lambda: FIXED_NOW)


def admin_call(gateway: GatewayThread, name: str) -> tuple[tuple[str, str]]:
    """Metadata for a direct admin call, with a key made for it."""
    return bearer(gateway.create_key("root", name))


# Workers that run for the whole session (the live tail's stream, the link's heartbeat and probe):
# the others load what a screen shows, and the picture waits for them.
LONG_LIVED_WORKERS = frozenset({"watch", "heartbeat", "probe"})


def loads_running(pilot: Pilot[None]) -> list[str]:
    """The workers still loading something (a late answer would change the picture after it is taken)."""
    return [worker.name for worker in pilot.app.workers if worker.is_running and worker.group not in LONG_LIVED_WORKERS]


def steady(step: Step) -> Step:
    """`step`, then wait for every load to end and stop the text cursors blinking.

    The step waits for what it shows; waiting for the other loads too (the Users list behind
    an admin screen, the catalog) keeps a late answer or its notification out of the picture,
    however slowly the machine runs. No fixed sleeps: only conditions, bounded.
    """

    async def run(pilot: Pilot[None]) -> None:
        await step(pilot)
        await until(pilot, lambda: not loads_running(pilot), "every load to finish")
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        for area in pilot.app.screen.query(TextArea):
            area.cursor_blink = False
        await pilot.pause()

    return run


async def signed_in(pilot: Pilot[None]) -> None:
    """Wait for the home screen: the chat for users, the Users screen for admins."""

    def home() -> bool:
        screen = pilot.app.screen
        return (isinstance(screen, ChatScreen) and bool(screen.query("#model"))) or isinstance(screen, UsersScreen)

    await until(pilot, home, "the home screen")


async def load_user(pilot: Pilot[None], key: str, user: str, loaded: Callable[[], bool]) -> None:
    """Open an admin screen by its key, load a user, and wait for `loaded`."""
    await signed_in(pilot)
    await pilot.press(key)
    await pilot.pause()
    field = pilot.app.screen.query_one("#user", Input)
    field.value = user
    await press_in(pilot, field, "enter")
    await until(pilot, loaded, "the user's data")


def origin_names(pilot: Pilot[None], user: str) -> Callable[[], bool]:
    """Whether the screen's origin line names the user."""
    return lambda: user in str(pilot.app.screen.query_one("#origin", Static).content)


@pytest.mark.parametrize("size", SIZES)
def test_sign_in(size: tuple[int, int], snap_compare: SnapCompare) -> None:
    """The sign-in prompt with the target prefilled and no key."""

    async def ready(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: isinstance(pilot.app.screen, SignInScreen), "the sign-in screen")

    assert snap_compare(GatewayApp("127.0.0.1:50051", ""), terminal_size=size, run_before=steady(ready))


@pytest.mark.parametrize("size", SIZES)
def test_chat(size: tuple[int, int], gateway: GatewayThread, snap_compare: SnapCompare) -> None:
    """One exchange with its tokens and cost, and the quota bar."""
    app = GatewayApp(gateway.grpc_target, gateway.create_key(f"snap-chat-{size[0]}", "tui"))

    async def answered(pilot: Pilot[None]) -> None:
        await signed_in(pilot)
        screen = pilot.app.screen
        select = screen.query_one("#model", Select)
        await until(pilot, lambda: select.value != Select.NULL, "the models")
        select.value = HAIKU
        screen.query_one("#prompt", PromptArea).text = "Say something **bold** [[tokens:12]]"
        await press_in(pilot, screen.query_one("#prompt", PromptArea), "enter")
        await until(
            pilot,
            lambda: "out" in str(screen.query(ChatMessage).last().query_one(".chat-message--usage", Static).content),
            "the cost",
        )
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=steady(answered))


def test_chat_in_the_light_theme(gateway: GatewayThread, snap_compare: SnapCompare) -> None:
    """The chat screen follows Textual's light theme (the stylesheets use only theme colours)."""
    app = GatewayApp(gateway.grpc_target, gateway.create_key("snap-light", "tui"))

    async def light(pilot: Pilot[None]) -> None:
        pilot.app.theme = "textual-light"
        await signed_in(pilot)
        select = pilot.app.screen.query_one("#model", Select)
        await until(pilot, lambda: select.value != Select.NULL, "the models")
        select.value = HAIKU
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=steady(light))


@pytest.mark.parametrize("size", SIZES)
def test_keys(size: tuple[int, int], gateway: GatewayThread, snap_compare: SnapCompare) -> None:
    """The key list: the key in use, one that never expires and one with a date."""
    user = f"snap-keys-{size[0]}"
    app = GatewayApp(gateway.grpc_target, gateway.create_key(user, "tui"))
    gateway.create_key(user, "laptop", datetime(2099, 12, 31, tzinfo=UTC))
    gateway.create_key(user, "ci-runner")

    async def listed(pilot: Pilot[None]) -> None:
        await signed_in(pilot)
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(pilot.app.screen, KeysScreen), "the keys screen")
        await until(pilot, lambda: pilot.app.screen.query_one("#keys", DataTable).row_count == 3, "the keys")

    assert snap_compare(app, terminal_size=size, run_before=steady(listed))


@pytest.mark.parametrize("size", SIZES)
def test_create_key_form(size: tuple[int, int], gateway: GatewayThread, snap_compare: SnapCompare) -> None:
    """The new-key form with a name typed."""
    app = GatewayApp(gateway.grpc_target, gateway.create_key(f"snap-new-{size[0]}", "tui"))

    async def form(pilot: Pilot[None]) -> None:
        await signed_in(pilot)
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(pilot.app.screen, KeysScreen), "the keys screen")
        await pilot.press("n")
        await pilot.pause()
        await pilot.press(*"laptop")

    assert snap_compare(app, terminal_size=size, run_before=steady(form))


@pytest.mark.parametrize("size", SIZES)
def test_secret_shown_once(size: tuple[int, int], gateway: GatewayThread, snap_compare: SnapCompare) -> None:
    """The one-time secret dialog (with a fixed example secret)."""
    app = GatewayApp(gateway.grpc_target, gateway.create_key(f"snap-secret-{size[0]}", "tui"))

    async def secret(pilot: Pilot[None]) -> None:
        await signed_in(pilot)
        await pilot.app.push_screen(SecretModal("laptop", "sk-example-0123456789abcdefghijklmnopqrstuvwxyzABCDEF"))
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=steady(secret))


@pytest.mark.parametrize("size", SIZES)
def test_delete_confirmation(size: tuple[int, int], gateway: GatewayThread, snap_compare: SnapCompare) -> None:
    """The confirmation before deleting a key."""
    app = GatewayApp(gateway.grpc_target, gateway.create_key(f"snap-delete-{size[0]}", "tui"))

    async def confirm(pilot: Pilot[None]) -> None:
        await signed_in(pilot)
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(pilot.app.screen, KeysScreen), "the keys screen")
        await until(pilot, lambda: pilot.app.screen.query_one("#keys", DataTable).row_count == 1, "the keys")
        await pilot.press("d")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=steady(confirm))


@pytest.mark.parametrize("size", SIZES)
def test_model_access(size: tuple[int, int], gateway: GatewayThread, snap_compare: SnapCompare) -> None:
    """A user's own policy of two models, as the admin sees it."""
    user = f"snap-access-{size[0]}"
    gateway.create_key(user, "k")
    with gateway.channel() as channel:
        policy_service_pb2_grpc.PolicyServiceStub(channel).SetModelAccess(
            policy_service_pb2.SetModelAccessRequest(user=user, models=[HAIKU, SONNET]),
            metadata=admin_call(gateway, f"policy-{size[0]}"),
        )
    app = admin(gateway, f"snap-access-{size[0]}")

    async def loaded(pilot: Pilot[None]) -> None:
        await load_user(pilot, "f3", user, origin_names(pilot, user))
        listing = pilot.app.screen.query_one("#models", SelectionList)
        await until(pilot, lambda: len(listing.selected) == 2, "the selection")

    assert snap_compare(app, terminal_size=size, run_before=steady(loaded))


@pytest.mark.parametrize("size", SIZES)
def test_quotas(size: tuple[int, int], gateway: GatewayThread, snap_compare: SnapCompare) -> None:
    """A user's own daily quota in the quota form."""
    user = f"snap-quota-{size[0]}"
    gateway.create_key(user, "k")
    with gateway.channel() as channel:
        quota_service_pb2_grpc.QuotaServiceStub(channel).SetQuota(
            quota_service_pb2.SetQuotaRequest(user=user, frequency=quota_pb2.QUOTA_FREQUENCY_DAILY, limit_usd="12.5"),
            metadata=admin_call(gateway, f"quota-{size[0]}"),
        )
    app = admin(gateway, f"snap-quotas-{size[0]}")

    async def loaded(pilot: Pilot[None]) -> None:
        await load_user(pilot, "f4", user, origin_names(pilot, user))

    assert snap_compare(app, terminal_size=size, run_before=steady(loaded))


@pytest.mark.parametrize("size", SIZES)
def test_quota_status_exceeded(size: tuple[int, int], gateway: GatewayThread, snap_compare: SnapCompare) -> None:
    """A user at a zero monthly limit, highlighted as exceeded."""
    user = f"snap-over-{size[0]}"
    gateway.create_key(user, "k")
    with gateway.channel() as channel:
        quota_service_pb2_grpc.QuotaServiceStub(channel).SetQuota(
            quota_service_pb2.SetQuotaRequest(user=user, frequency=quota_pb2.QUOTA_FREQUENCY_MONTHLY, limit_usd="0"),
            metadata=admin_call(gateway, f"over-{size[0]}"),
        )
    app = admin(gateway, f"snap-status-{size[0]}")

    async def loaded(pilot: Pilot[None]) -> None:
        await load_user(pilot, "f5", user, lambda: pilot.app.screen.query_one("#status").has_class("-exceeded"))

    assert snap_compare(app, terminal_size=size, run_before=steady(loaded))


def _fixed_requests(user: str) -> None:
    """Three requests on fixed days long past, written straight into the gateway's request log."""
    rows = [
        ("a", HAIKU, 120, 80, 125_000, "success", datetime(2025, 3, 1, 9, 30, tzinfo=UTC)),
        ("b", SONNET, 900, 400, 8_700_000, "success", datetime(2025, 3, 2, 14, 0, tzinfo=UTC)),
        ("c", SONNET, 50, 0, 0, "quota_exceeded", datetime(2025, 3, 3, 8, 15, tzinfo=UTC)),
    ]
    for suffix, model, tokens_in, tokens_out, micro, outcome, when in rows:
        RequestRecord.create(
            id=f"chatcmpl-{user}-{suffix}",
            user=user,
            key_name="laptop",
            model=model,
            api="chat",
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost_picodollars=micro * PICO // 10**6,
            latency_ms=420,
            ttft_ms=90,
            outcome=outcome,
            error_reason="QUOTA_EXCEEDED" if outcome == "quota_exceeded" else "",
            created_at=when,
        )


@pytest.mark.parametrize(
    ("size", "tab"),
    [
        pytest.param((80, 24), "requests-tab", id="requests-80x24"),
        pytest.param((120, 40), "requests-tab", id="requests-120x40"),
        pytest.param((80, 24), "models-tab", id="by-model-80x24"),
        pytest.param((120, 40), "days-tab", id="by-day-120x40"),
    ],
)
def test_usage(size: tuple[int, int], tab: str, gateway: GatewayThread, snap_compare: SnapCompare) -> None:
    """The usage view filtered to a user and a fixed date range: requests, spend by model, spend by day."""
    user = f"snap-usage-{size[0]}-{tab}"
    _fixed_requests(user)
    app = admin(gateway, f"snap-usage-{size[0]}-{tab}")

    async def filtered(pilot: Pilot[None]) -> None:
        await signed_in(pilot)
        await pilot.press("f6")
        await until(pilot, lambda: isinstance(pilot.app.screen, UsageScreen), "the usage screen")
        screen = pilot.app.screen
        screen.query_one("#user", Input).value = user
        screen.query_one("#start", Input).value = "2025-03-01"
        screen.query_one("#end", Input).value = "2025-03-04"
        # Enter goes to the focused widget: wait for the focus, or it may reach none and filter nothing.
        await press_in(pilot, screen.query_one("#end", Input), "enter")
        table = screen.query_one("#requests", DataTable)
        totals = screen.query_one("#totals", Static)

        def filtered_rows_shown() -> bool:
            users = {table.get_row_at(row)[1] for row in range(table.row_count)}
            return (
                table.row_count == 3 and users == {user} and str(totals.content).startswith("3 requests, $8.82 match")
            )

        await until(pilot, filtered_rows_shown, "the fixed requests")
        tabs = screen.query_one("#tabs", TabbedContent)
        tabs.active = tab
        pane = tabs.get_pane(tab)
        await until(pilot, lambda: pane.size.width > 0, "the tab to show")
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=steady(filtered))


@pytest.mark.parametrize("size", SIZES)
def test_admin_screen_refused(size: tuple[int, int], gateway: GatewayThread, snap_compare: SnapCompare) -> None:
    """What a non-admin sees if an admin screen is pushed anyway."""
    app = GatewayApp(gateway.grpc_target, gateway.create_key(f"snap-plain-{size[0]}", "tui"))

    async def refused(pilot: Pilot[None]) -> None:
        await signed_in(pilot)
        assert isinstance(pilot.app, GatewayApp)
        assert pilot.app.console_state is not None
        await pilot.app.push_screen(UsageScreen(pilot.app.console_state))
        await pilot.pause()
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=steady(refused))
