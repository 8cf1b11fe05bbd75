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
from llmgw.tui.messages import AdminRefused, ChatAnswered, ModelAccessSaved, QuotaSaved, ServerRefused
from llmgw.tui.screens.chat import ChatScreen
from llmgw.tui.screens.confirm import ConfirmModal
from llmgw.tui.screens.model_access import ModelAccessScreen
from llmgw.tui.screens.quota_status import QuotaStatusScreen
from llmgw.tui.screens.quotas import QuotasScreen
from llmgw.tui.screens.usage import UsageScreen
from llmgw.tui.screens.user_base import UserScreen
from llmgw.tui.widgets.prompt_area import PromptArea
from llmgw.tui.widgets.spend_chart import SpendChart
from llmgw.v1 import (
    model_service_pb2,
    model_service_pb2_grpc,
    policy_service_pb2,
    policy_service_pb2_grpc,
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

        await pilot.press("ctrl+b")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the reset confirmation")
        await pilot.press("y")
        await until(pilot, lambda: len(of_type(messages, ModelAccessSaved)) == 2, "the reset")
        reset = of_type(messages, ModelAccessSaved)[1]
        assert isinstance(reset, ModelAccessSaved)
        assert reset.is_default
        with gateway.channel() as channel:
            models = model_service_pb2_grpc.ModelServiceStub(channel).ListModels(
                model_service_pb2.ListModelsRequest(), metadata=bearer(user_key)
            )
        assert len(models.data) > 1


async def test_access_lists_the_whole_catalog_for_a_restricted_admin(
    gateway: GatewayThread, fresh_user: UserFactory
) -> None:
    """An admin who may call only Haiku still sees every catalog model when choosing someone's access."""
    admin_key = gateway.create_key("root", fresh_user("admin-key"))
    with gateway.channel() as channel:
        policies = policy_service_pb2_grpc.PolicyServiceStub(channel)
        policies.SetModelAccess(
            policy_service_pb2.SetModelAccessRequest(user="root", models=[HAIKU]), metadata=bearer(admin_key)
        )
        everything = model_service_pb2_grpc.ModelServiceStub(channel).ListModels(
            model_service_pb2.ListModelsRequest(include_all=True), metadata=bearer(admin_key)
        )
    try:
        app = GatewayApp(gateway.grpc_target, admin_key)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await go(app, pilot, "f3", ModelAccessScreen)
            listing = screen.query_one("#models", SelectionList)
            await until(pilot, lambda: listing.option_count > 2, "the catalog")
            shown = {str(listing.get_option_at_index(index).value) for index in range(listing.option_count)}
            assert shown == {"*"} | {model.id for model in everything.data}
            assert len(everything.data) > 2
    finally:
        with gateway.channel() as channel:
            policy_service_pb2_grpc.PolicyServiceStub(channel).ResetModelAccess(
                policy_service_pb2.ResetModelAccessRequest(user="root"), metadata=bearer(admin_key)
            )


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

        await pilot.press("ctrl+b")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the reset confirmation")
        await pilot.press("y")
        await until(pilot, lambda: len(of_type(messages, QuotaSaved)) == 2, "the reset")
        reset = of_type(messages, QuotaSaved)[1]
        assert isinstance(reset, QuotaSaved)
        assert reset.is_default
        assert screen.query_one("#limit", Input).value == reset.limit_usd


async def load(pilot: Pilot[None], screen: UserScreen, user: str) -> None:
    """Type a user into the screen's field, press Enter and wait until the form shows them."""
    screen.query_one("#user", Input).value = user
    screen.query_one("#user", Input).focus()
    await pilot.press("enter")
    await until(pilot, lambda: screen.loaded_user == user, f"{user}'s values")


async def test_bad_limit_is_readable_and_form_keeps_state(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """Letters in the limit are kept and explained; the gateway's refusal names the label, not `limit_usd`."""
    user = fresh_user("absurd")
    gateway.create_key(user, "k")
    messages: list[Message] = []
    app = admin_app(gateway, fresh_user)
    async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        screen = await go(app, pilot, "f4", QuotasScreen)
        await load(pilot, screen, user)
        limit = screen.query_one("#limit", Input)
        limit.value = ""
        limit.focus()
        await pilot.press(*"12x")
        assert limit.value == "12x"
        assert "type a number of dollars" in str(screen.query_one("#problem", Static).content)
        await pilot.press("ctrl+s")
        assert not of_type(messages, QuotaSaved)
        assert not of_type(messages, ServerRefused)
        limit.value = "99999999999"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: bool(of_type(messages, ServerRefused)), "the refusal")
        refused = of_type(messages, ServerRefused)[0]
        assert isinstance(refused, ServerRefused)
        assert refused.message.startswith("Limit per period (USD) must be from 0 to")
        assert "limit_usd" not in refused.message
        assert limit.value == "99999999999"
        assert app.screen is screen


async def test_unknown_user_points_to_the_keys_screen(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """Saving a quota for a user with no key says where to create their first key (no dead end)."""
    stranger = fresh_user("stranger")
    messages: list[Message] = []
    app = admin_app(gateway, fresh_user)
    async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        screen = await go(app, pilot, "f4", QuotasScreen)
        await load(pilot, screen, stranger)
        screen.query_one("#limit", Input).value = "3"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: bool(of_type(messages, ServerRefused)), "the refusal")
        refused = of_type(messages, ServerRefused)[0]
        assert isinstance(refused, ServerRefused)
        assert refused.message.endswith("on Keys (F2) type their name, Enter, then n.")


async def test_save_never_writes_onto_another_user(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """alice on screen, `bob` typed, Ctrl+S: bob is loaded instead and neither user's settings change."""
    alice, bob = fresh_user("alice"), fresh_user("bob")
    gateway.create_key(alice, "k")
    gateway.create_key(bob, "k")
    admin_key = gateway.create_key("root", fresh_user("admin-key"))
    with gateway.channel() as channel:
        quota_service_pb2_grpc.QuotaServiceStub(channel).SetQuota(
            quota_service_pb2.SetQuotaRequest(user=alice, frequency=quota_pb2.QUOTA_FREQUENCY_DAILY, limit_usd="3"),
            metadata=bearer(admin_key),
        )
        policy_service_pb2_grpc.PolicyServiceStub(channel).SetModelAccess(
            policy_service_pb2.SetModelAccessRequest(user=alice, models=[HAIKU]), metadata=bearer(admin_key)
        )
    messages: list[Message] = []
    app = GatewayApp(gateway.grpc_target, admin_key)
    async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        quotas = await go(app, pilot, "f4", QuotasScreen)
        await load(pilot, quotas, alice)
        quotas.query_one("#user", Input).value = bob
        await pilot.press("ctrl+s")
        await until(pilot, lambda: quotas.loaded_user == bob, "bob's quota loaded instead")
        assert not of_type(messages, QuotaSaved)
        assert any(note.title == "Nothing changed" for note in app._notifications)
        await pilot.press("f3")
        access = app.screen
        assert isinstance(access, ModelAccessScreen)
        await until(pilot, lambda: access.loaded_user == bob, "the access screen following bob")
        access.query_one("#user", Input).value = alice
        await pilot.press("ctrl+s")
        await until(pilot, lambda: access.loaded_user == alice, "alice's access loaded instead")
        assert not of_type(messages, ModelAccessSaved)
    with gateway.channel() as channel:
        quotas_stub = quota_service_pb2_grpc.QuotaServiceStub(channel)
        bob_quota = quotas_stub.GetQuota(quota_service_pb2.GetQuotaRequest(user=bob), metadata=bearer(admin_key))
        alice_quota = quotas_stub.GetQuota(quota_service_pb2.GetQuotaRequest(user=alice), metadata=bearer(admin_key))
        bob_access = policy_service_pb2_grpc.PolicyServiceStub(channel).GetModelAccess(
            policy_service_pb2.GetModelAccessRequest(user=bob), metadata=bearer(admin_key)
        )
    assert bob_quota.quota.is_default
    assert (alice_quota.quota.frequency, alice_quota.quota.limit_usd) == (quota_pb2.QUOTA_FREQUENCY_DAILY, "3")
    assert bob_access.model_access.is_default


async def test_ctrl_r_refreshes_and_every_reset_is_confirmed(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """Ctrl+R reloads what changed elsewhere; Ctrl+B asks first, and No leaves the user's quota alone."""
    user = fresh_user("refresh")
    gateway.create_key(user, "k")
    admin_key = gateway.create_key("root", fresh_user("admin-key"))
    messages: list[Message] = []
    app = GatewayApp(gateway.grpc_target, admin_key)
    async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        screen = await go(app, pilot, "f4", QuotasScreen)
        await load(pilot, screen, user)
        with gateway.channel() as channel:
            quota_service_pb2_grpc.QuotaServiceStub(channel).SetQuota(
                quota_service_pb2.SetQuotaRequest(user=user, frequency=quota_pb2.QUOTA_FREQUENCY_DAILY, limit_usd="7"),
                metadata=bearer(admin_key),
            )
        await pilot.press("ctrl+r")
        await until(pilot, lambda: screen.query_one("#limit", Input).value == "7", "the refreshed limit")
        await pilot.press("ctrl+b")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the confirmation")
        assert user in str(app.screen.query_one("#question", Static).content)
        await pilot.press("n")
        await until(pilot, lambda: app.screen is screen, "the quota screen again")
        assert not of_type(messages, QuotaSaved)
        for place, resets in (("f3", True), ("f5", False), ("f6", False), ("f7", False), ("f8", True)):
            await pilot.press(place)
            await pilot.pause()
            bindings = {
                binding.key: binding.action
                for group in app.screen._bindings.key_to_bindings.values()
                for binding in group
            }
            assert bindings["ctrl+r"] == "refresh", place
            assert (bindings.get("ctrl+b") == "reset") is resets, place


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
        summary = str(screen.query_one("#summary", Static).content)
        assert "EXCEEDED" in summary
        assert "As of" in summary
        assert " UTC" in summary.split("Resets", 1)[1].splitlines()[0]


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
        user_app.screen.query_one("#prompt", PromptArea).text = "spend a little [[tokens:5]]"
        user_app.screen.query_one("#prompt", PromptArea).focus()
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
        assert table.get_row_at(0)[5] == HAIKU
        assert table.get_row_at(0)[2] == "success"
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
        assert (
            not {
                "show('access')",
                "show('quotas')",
                "show('status')",
                "show('usage')",
                "show('users')",
                "show('rates')",
                "show('spend')",
            }
            & shown
        )
        assert "show('live')" in shown
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Go to Keys" in titles
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
        assert app.console_state is not None
        await app.push_screen(UsageScreen(app.console_state))
        await pilot.pause()
        assert app.screen.query(".admin-refused")
        assert not app.screen.query("#requests")
        assert [m.screen for m in of_type(messages, AdminRefused) if isinstance(m, AdminRefused)] == ["UsageScreen"]
        client: GatewayClient = app.console_state.client
        with pytest.raises(GatewayFailure) as refused:
            await client.set_model_access("root", [HAIKU])
        assert refused.value.code == "PERMISSION_DENIED"
        with pytest.raises(GatewayFailure) as refused:
            await client.get_quota("root")
        assert refused.value.code == "PERMISSION_DENIED"
