"""The admin screens against a real gateway, for an admin and for everyone else."""

from __future__ import annotations

from typing import TypeVar

import pytest
from textual.message import Message
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import DataTable, Input, Select, SelectionList, Static

from llmgw.tui.app import GatewayApp
from llmgw.tui.client import GatewayClient, GatewayFailure
from llmgw.tui.messages import AdminRefused, ChatAnswered, ModelAccessSaved, QuotaSaved
from llmgw.tui.screens.chat import ChatScreen
from llmgw.tui.screens.model_access import ModelAccessScreen
from llmgw.tui.screens.quota_status import QuotaStatusScreen
from llmgw.tui.screens.quotas import QuotasScreen
from llmgw.tui.screens.usage import UsageScreen
from llmgw.tui.widgets.spend_chart import SpendChart
from llmgw.v1 import (
    model_service_pb2,
    model_service_pb2_grpc,
    quota_pb2,
    quota_service_pb2,
    quota_service_pb2_grpc,
)
from tests.model_ids import HAIKU
from tests.support import GatewayThread, bearer
from tests.tui.conftest import UserFactory, of_type, signed_in_app, until

S = TypeVar("S", bound=Screen[None])


async def go(app: GatewayApp, pilot: Pilot[None], key: str, kind: type[S]) -> S:
    """Sign in, press a screen's key and wait for that screen."""
    await until(pilot, lambda: app.session is not None, "the sign-in")
    await pilot.press(key)
    await until(pilot, lambda: isinstance(app.screen, kind), kind.__name__)
    screen = app.screen
    assert isinstance(screen, kind)
    return screen


def admin_app(gateway: GatewayThread, fresh_user: UserFactory) -> GatewayApp:
    """An app signed in as the configured admin, with a key of its own."""
    return GatewayApp(gateway.grpc_target, gateway.create_key("root", fresh_user("admin-key")))


async def test_admin_sets_and_resets_model_access(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """Saving a selection limits the user's models (seen through ListModels); reset restores the default."""
    user = fresh_user("policy")
    user_key = gateway.create_key(user, "k")
    messages: list[Message] = []
    app = admin_app(gateway, fresh_user)
    async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        screen = await go(app, pilot, "f3", ModelAccessScreen)
        listing = screen.query_one("#models", SelectionList)
        await until(pilot, lambda: listing.option_count > 1, "the catalog")
        screen.query_one("#user", Input).value = user
        screen.query_one("#user", Input).focus()
        await pilot.press("enter")
        await until(pilot, lambda: user in str(screen.query_one("#origin", Static).content), "the user's access")
        listing.deselect_all()
        listing.select(HAIKU)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: bool(of_type(messages, ModelAccessSaved)), "the save")
        saved = of_type(messages, ModelAccessSaved)[0]
        assert isinstance(saved, ModelAccessSaved)
        assert saved.models == (HAIKU,)
        assert not saved.is_default
        with gateway.channel() as channel:
            models = model_service_pb2_grpc.ModelServiceStub(channel).ListModels(
                model_service_pb2.ListModelsRequest(), metadata=bearer(user_key)
            )
        assert [model.id for model in models.data] == [HAIKU]

        await pilot.press("ctrl+r")
        await until(pilot, lambda: len(of_type(messages, ModelAccessSaved)) == 2, "the reset")
        reset = of_type(messages, ModelAccessSaved)[1]
        assert isinstance(reset, ModelAccessSaved)
        assert reset.is_default
        with gateway.channel() as channel:
            models = model_service_pb2_grpc.ModelServiceStub(channel).ListModels(
                model_service_pb2.ListModelsRequest(), metadata=bearer(user_key)
            )
        assert len(models.data) > 1


async def test_admin_sets_and_resets_a_quota(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """A saved quota is what the user's own status reports; reset brings the default back."""
    user = fresh_user("quota")
    user_key = gateway.create_key(user, "k")
    messages: list[Message] = []
    app = admin_app(gateway, fresh_user)
    async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        screen = await go(app, pilot, "f4", QuotasScreen)
        screen.query_one("#user", Input).value = user
        screen.query_one("#user", Input).focus()
        await pilot.press("enter")
        await until(pilot, lambda: user in str(screen.query_one("#origin", Static).content), "the user's quota")
        screen.query_one("#frequency", Select).value = quota_pb2.QUOTA_FREQUENCY_DAILY
        screen.query_one("#limit", Input).value = "5.5"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: bool(of_type(messages, QuotaSaved)), "the save")
        with gateway.channel() as channel:
            status = (
                quota_service_pb2_grpc.QuotaServiceStub(channel)
                .GetQuotaStatus(quota_service_pb2.GetQuotaStatusRequest(user="me"), metadata=bearer(user_key))
                .status
            )
        assert status.frequency == quota_pb2.QUOTA_FREQUENCY_DAILY
        assert float(status.limit_usd) == 5.5

        await pilot.press("ctrl+r")
        await until(pilot, lambda: len(of_type(messages, QuotaSaved)) == 2, "the reset")
        reset = of_type(messages, QuotaSaved)[1]
        assert isinstance(reset, QuotaSaved)
        assert reset.is_default
        assert screen.query_one("#limit", Input).value == reset.limit_usd


async def test_bad_limit_is_readable_and_form_keeps_state(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """An absurd limit comes back as an INVALID_ARGUMENT notification; the form keeps what was typed."""
    user = fresh_user("absurd")
    gateway.create_key(user, "k")
    app = admin_app(gateway, fresh_user)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await go(app, pilot, "f4", QuotasScreen)
        screen.query_one("#user", Input).value = user
        screen.query_one("#limit", Input).value = "99999999999"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: bool(app._notifications), "the error")
        assert next(iter(app._notifications)).title == "Invalid input"
        assert screen.query_one("#limit", Input).value == "99999999999"
        assert app.screen is screen


async def test_quota_status_highlights_exceeded(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """A user over their limit is shown as exceeded."""
    user = fresh_user("over")
    gateway.create_key(user, "k")
    admin_key = gateway.create_key("root", fresh_user("admin-key"))
    with gateway.channel() as channel:
        quota_service_pb2_grpc.QuotaServiceStub(channel).SetQuota(
            quota_service_pb2.SetQuotaRequest(user=user, frequency=quota_pb2.QUOTA_FREQUENCY_MONTHLY, limit_usd="0"),
            metadata=bearer(admin_key),
        )
    app = GatewayApp(gateway.grpc_target, admin_key)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await go(app, pilot, "f5", QuotaStatusScreen)
        screen.query_one("#user", Input).value = user
        await pilot.press("ctrl+r")
        panel = screen.query_one("#status")
        await until(pilot, lambda: panel.has_class("-exceeded"), "the exceeded status")
        assert "EXCEEDED" in str(screen.query_one("#summary", Static).content)


async def test_usage_lists_requests_and_charts_spend(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """A user's chat shows up in the admin's request table and the spend charts, filtered by user."""
    user = fresh_user("spender")
    messages: list[Message] = []
    user_app = signed_in_app(gateway, user)
    async with user_app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        await until(
            pilot, lambda: isinstance(user_app.screen, ChatScreen) and bool(user_app.screen.query("#model")), "chat"
        )
        select = user_app.screen.query_one("#model", Select)
        await until(pilot, lambda: select.value != Select.NULL, "the models")
        select.value = HAIKU
        user_app.screen.query_one("#prompt", Input).value = "spend a little [[tokens:5]]"
        user_app.screen.query_one("#prompt", Input).focus()
        await pilot.press("enter")
        await until(pilot, lambda: bool(of_type(messages, ChatAnswered)), "the answer")
    app = admin_app(gateway, fresh_user)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await go(app, pilot, "f6", UsageScreen)
        screen.query_one("#user", Input).value = user
        screen.query_one("#user", Input).focus()
        await pilot.press("enter")
        table = screen.query_one("#requests", DataTable)

        def only_the_user() -> bool:
            rows = [table.get_row_at(row) for row in range(table.row_count)]
            return bool(rows) and all(row[1] == user for row in rows)

        await until(pilot, only_the_user, "the user's requests")
        assert table.get_row_at(0)[3] == HAIKU
        assert table.get_row_at(0)[8] == "success"
        by_model = screen.query_one("#by-model", SpendChart)
        await until(pilot, lambda: bool(by_model._rows), "the spend by model")
        assert [label for label, _ in by_model._rows] == [HAIKU]


async def test_non_admin_sees_no_admin_screens(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """A non-admin has no admin keys or commands, and asking for an admin screen is refused."""
    messages: list[Message] = []
    app = signed_in_app(gateway, fresh_user("plain"))
    async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ChatScreen), "the chat screen")
        assert app.session is not None
        assert not app.session.identity.is_admin
        shown = {binding.action for _, binding, enabled, _ in app.active_bindings.values() if enabled}
        assert "show('chat')" in shown
        assert not {"show('access')", "show('quotas')", "show('status')", "show('usage')"} & shown
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Go to My keys" in titles
        assert not [title for title in titles if title in ("Go to Model access", "Go to Usage")]
        await pilot.press("f6")
        app.action_show("quotas")
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen)
        assert [m.screen for m in of_type(messages, AdminRefused) if isinstance(m, AdminRefused)] == ["quotas"]


async def test_non_admin_pushing_an_admin_screen_is_refused(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """Pushed directly, an admin screen shows a refusal and no form; the admin RPCs say PERMISSION_DENIED."""
    messages: list[Message] = []
    app = signed_in_app(gateway, fresh_user("sneaky"))
    async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        await until(pilot, lambda: app.session is not None, "the sign-in")
        assert app.session is not None
        await app.push_screen(UsageScreen(app.session.client, app.session.identity))
        await pilot.pause()
        assert app.screen.query(".admin-refused")
        assert not app.screen.query("#requests")
        assert [m.screen for m in of_type(messages, AdminRefused) if isinstance(m, AdminRefused)] == ["UsageScreen"]
        client: GatewayClient = app.session.client
        with pytest.raises(GatewayFailure) as refused:
            await client.set_model_access("root", [HAIKU])
        assert refused.value.code == "PERMISSION_DENIED"
        with pytest.raises(GatewayFailure) as refused:
            await client.get_quota("root")
        assert refused.value.code == "PERMISSION_DENIED"
