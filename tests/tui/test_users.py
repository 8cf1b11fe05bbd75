"""The Users (admin home) and Rate limits screens, and the `?` help, against a real gateway."""

from __future__ import annotations

from collections.abc import Callable

from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable, Input, Static

from llmgw.tui.app import GatewayApp
from llmgw.tui.messages import RateLimitSaved, UserPicked
from llmgw.tui.screens.chat import ChatScreen
from llmgw.tui.screens.confirm import ConfirmModal
from llmgw.tui.screens.help import HelpModal
from llmgw.tui.screens.keys import KeysScreen
from llmgw.tui.screens.quotas import QuotasScreen
from llmgw.tui.screens.rate_limits import RateLimitsScreen
from llmgw.tui.screens.usage import UsageScreen
from llmgw.tui.screens.user_base import UserScreen
from llmgw.tui.screens.users import UsersScreen
from llmgw.tui.widgets.prompt_area import PromptArea
from llmgw.v1 import (
    chat_pb2,
    chat_service_pb2,
    chat_service_pb2_grpc,
    quota_pb2,
    quota_service_pb2,
    quota_service_pb2_grpc,
)
from tests.model_ids import HAIKU
from tests.support import GatewayThread, bearer
from tests.tui.conftest import UserFactory, of_type, until


def admin_app(gateway: GatewayThread, fresh_user: UserFactory) -> GatewayApp:
    """An app signed in as the configured admin, with a key of its own."""
    return GatewayApp(gateway.grpc_target, gateway.create_key("root", fresh_user("admin-key")))


def follows(screen: UserScreen, user: str) -> Callable[[], bool]:
    """Whether the per-user screen shows `user`."""
    return lambda: screen.loaded_user == user


def table_rows(table: DataTable[str]) -> dict[str, list[str]]:
    """The table's rows by row key."""
    return {
        str(table.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value): [
            str(cell) for cell in table.get_row_at(row)
        ]
        for row in range(table.row_count)
    }


async def test_users_home_lists_users_and_drives_the_per_user_screens(
    gateway: GatewayThread, fresh_user: UserFactory
) -> None:
    """The admin lands on Users; a user's keys, spend and own settings show; picking them fills the other screens."""
    user = fresh_user("listed")
    user_key = gateway.create_key(user, "one")
    gateway.create_key(user, "two")
    admin_key = gateway.create_key("root", fresh_user("admin-key"))
    with gateway.channel() as channel:
        quota_service_pb2_grpc.QuotaServiceStub(channel).SetQuota(
            quota_service_pb2.SetQuotaRequest(user=user, frequency=quota_pb2.QUOTA_FREQUENCY_DAILY, limit_usd="2"),
            metadata=bearer(admin_key),
        )
        message = chat_pb2.ChatMessage(role=chat_pb2.ROLE_USER, content=[chat_pb2.ContentPart(text="hi [[tokens:5]]")])
        chat_service_pb2_grpc.ChatServiceStub(channel).CreateChatCompletion(
            chat_service_pb2.CreateChatCompletionRequest(
                params=chat_pb2.ChatCompletionParams(model=HAIKU, messages=[message])
            ),
            metadata=bearer(user_key),
        )
    messages: list[Message] = []
    app = GatewayApp(gateway.grpc_target, admin_key)
    async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
        await until(pilot, lambda: isinstance(app.screen, UsersScreen), "the admin's home")
        screen = app.screen
        table = screen.query_one("#users", DataTable)
        await until(pilot, lambda: user in table_rows(table), "the user in the table")
        row = table_rows(table)[user]
        assert row[1] == "2"
        assert row[2].startswith("$0.0")
        assert row[3] == "$2.00"
        assert row[5] == "just now"
        assert row[6] == "Q"
        assert table_rows(table)["root"][0] == "root ★"
        table.focus()
        table.move_cursor(row=table.get_row_index(user))
        await pilot.press("enter")
        picked = of_type(messages, UserPicked)
        assert [item.user for item in picked if isinstance(item, UserPicked)] == [user]
        for key in ("f4", "f8"):
            await pilot.press(key)
            await until(pilot, lambda: isinstance(app.screen, QuotasScreen | RateLimitsScreen), key)
            shown = app.screen
            assert isinstance(shown, QuotasScreen | RateLimitsScreen)
            await until(pilot, follows(shown, user), f"{key} following {user}")
        assert app.screen.query_one("#user", Input).value == user
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, KeysScreen), "the keys screen")
        keys = app.screen.query_one("#keys", DataTable)
        await until(pilot, lambda: set(table_rows(keys)) == {"one", "two"}, "the user's keys")
        await pilot.press("f6")
        await until(pilot, lambda: isinstance(app.screen, UsageScreen), "the log")
        log = app.screen.query_one("#requests", DataTable)
        await until(pilot, lambda: log.row_count == 1, "the user's one request")
        assert log.get_row_at(0)[1] == user


async def test_rate_limits_save_reload_and_reset(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """Saved limits come back on reload (and from the gateway); a confirmed reset returns the defaults."""
    user = fresh_user("limited")
    gateway.create_key(user, "k")
    messages: list[Message] = []
    app = admin_app(gateway, fresh_user)
    async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        await until(pilot, lambda: app.session is not None, "the sign-in")
        await pilot.press("f8")
        await until(pilot, lambda: isinstance(app.screen, RateLimitsScreen), "the rate limits")
        screen = app.screen
        assert isinstance(screen, RateLimitsScreen)
        screen.query_one("#user", Input).value = user
        screen.query_one("#user", Input).focus()
        await pilot.press("enter")
        await until(pilot, lambda: screen.loaded_user == user, "the user's limits")
        screen.query_one("#rpm", Input).value = "abc"
        await pilot.press("ctrl+s")
        assert not of_type(messages, RateLimitSaved)
        screen.query_one("#rpm", Input).value = "30"
        screen.query_one("#tpm", Input).value = "5000"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: bool(of_type(messages, RateLimitSaved)), "the save")
        screen.query_one("#rpm", Input).value = "1"
        await pilot.press("ctrl+r")
        await until(pilot, lambda: screen.query_one("#rpm", Input).value == "30", "the reload")
        assert screen.query_one("#tpm", Input).value == "5000"
        assert "their own limits" in str(screen.query_one("#origin", Static).content)
        with gateway.channel() as channel:
            stored = quota_service_pb2_grpc.QuotaServiceStub(channel).GetRateLimit(
                quota_service_pb2.GetRateLimitRequest(user=user),
                metadata=bearer(gateway.create_key("root", fresh_user("check"))),
            )
        assert (stored.rate_limit.requests_per_minute, stored.rate_limit.tokens_per_minute) == (30, 5000)
        await pilot.press("ctrl+b")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: len(of_type(messages, RateLimitSaved)) == 2, "the reset")
        reset = of_type(messages, RateLimitSaved)[1]
        assert isinstance(reset, RateLimitSaved)
        assert reset.is_default


async def test_help_lists_the_keys_of_the_screen(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """`?` shows the keys of the screen in view and the app's, from their bindings."""
    app = admin_app(gateway, fresh_user)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, UsersScreen), "the admin's home")
        app.screen.query_one("#users", DataTable).focus()
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpModal), "the help")
        text = "\n".join(str(part.content) for part in app.screen.query(Static))
        assert "Keys on Users" in text
        assert "Ctrl+R            Refresh" in text
        assert "F8                Rates" in text
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, UsersScreen), "the users again")


async def test_f12_opens_the_help_from_a_text_field_where_question_marks_are_text(
    gateway: GatewayThread, fresh_user: UserFactory
) -> None:
    """In a text field `?` is typed; F12 opens the help from there, and the field keeps what was typed."""
    app = admin_app(gateway, fresh_user)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, UsersScreen), "the admin's home")
        await pilot.press("f8")
        await until(pilot, lambda: isinstance(app.screen, RateLimitsScreen), "the rate limits")
        field = app.screen.query_one("#user", Input)
        field.focus()
        await pilot.press("a", "f12")
        await until(pilot, lambda: isinstance(app.screen, HelpModal), "the help")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, RateLimitsScreen), "the rate limits again")
        assert field.value == "a"
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, ChatScreen), "the chat")
        prompt = app.screen.query_one("#prompt", PromptArea)
        prompt.focus()
        await pilot.press("w", "h", "y", "question_mark")
        assert prompt.text == "why?"
        await pilot.press("f12")
        await until(pilot, lambda: isinstance(app.screen, HelpModal), "the help over the chat")
