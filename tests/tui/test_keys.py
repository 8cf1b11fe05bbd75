"""The keys screen and its modals against a real gateway."""

from __future__ import annotations

from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from llmgw.tui.app import GatewayApp
from llmgw.tui.messages import KeyCreated, KeyDeleted, ServerRefused
from llmgw.tui.screens.confirm import ConfirmModal
from llmgw.tui.screens.create_key import CreateKeyModal
from llmgw.tui.screens.keys import KeysScreen
from llmgw.tui.screens.secret import SecretModal
from llmgw.v1 import model_service_pb2, model_service_pb2_grpc, user_service_pb2, user_service_pb2_grpc
from tests.support import GatewayThread, bearer
from tests.tui.conftest import UserFactory, of_type, signed_in_app, until


def names(screen: KeysScreen) -> list[str]:
    """The key names in the table, top to bottom."""
    table = screen.query_one("#keys", DataTable)
    return [str(table.get_row_at(row)[0]) for row in range(table.row_count)]


async def open_keys(app: GatewayApp, pilot: Pilot[None]) -> KeysScreen:
    """Go to the keys screen once signed in and wait for the list."""
    await until(pilot, lambda: app.session is not None, "the sign-in")
    await pilot.press("f2")
    await until(pilot, lambda: isinstance(app.screen, KeysScreen), "the keys screen")
    screen = app.screen
    assert isinstance(screen, KeysScreen)
    await until(pilot, lambda: "tui" in names(screen), "the key list")
    return screen


async def test_create_show_once_list_and_delete(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """A new key's secret is shown once and works; it is listed, then deleted after confirming."""
    messages: list[Message] = []
    app = signed_in_app(gateway, fresh_user("keys"))
    async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        screen = await open_keys(app, pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, CreateKeyModal), "the new-key form")
        app.screen.query_one("#name", Input).value = "laptop"
        app.screen.query_one("#expires", Input).value = "2099-12-31"
        app.screen.query_one("#name", Input).focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SecretModal), "the secret")
        secret = str(app.screen.query_one("#secret", Static).content)
        assert secret.startswith("sk-")
        await pilot.press("c")
        assert app.clipboard == secret
        await pilot.press("escape")
        await until(pilot, lambda: "laptop" in names(screen), "the new key in the list")
        assert not screen.query("#secret")
        table = screen.query_one("#keys", DataTable)
        row = table.get_row("laptop")
        assert row[1:4] == ["valid", "2099-12-31", "never"]
        with gateway.channel() as channel:
            models = model_service_pb2_grpc.ModelServiceStub(channel).ListModels(
                model_service_pb2.ListModelsRequest(), metadata=bearer(secret)
            )
        assert models.data

        table.move_cursor(row=table.get_row_index("laptop"))
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: "laptop" not in names(screen), "the key to go")
        created = of_type(messages, KeyCreated)
        deleted = of_type(messages, KeyDeleted)
        assert [message.name for message in created if isinstance(message, KeyCreated)] == ["laptop"]
        assert [message.name for message in deleted if isinstance(message, KeyDeleted)] == ["laptop"]


async def test_cancelled_delete_keeps_the_key(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """Answering no to the confirmation deletes nothing."""
    messages: list[Message] = []
    app = signed_in_app(gateway, fresh_user("keep"))
    async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        screen = await open_keys(app, pilot)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the confirmation")
        await pilot.press("n")
        await until(pilot, lambda: app.screen is screen, "the keys screen again")
        await pilot.press("ctrl+r")
        await pilot.pause(0.2)
        assert names(screen) == ["tui"]
        assert not of_type(messages, KeyDeleted)


async def test_refused_name_keeps_the_form_open(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """A taken name: the form stays open with the gateway's reason under the fields and the name still typed."""
    messages: list[Message] = []
    app = signed_in_app(gateway, fresh_user("dup"))
    async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        screen = await open_keys(app, pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, CreateKeyModal), "the new-key form")
        form = app.screen
        form.query_one("#name", Input).value = "tui"
        form.query_one("#name", Input).focus()
        await pilot.press("enter")
        problem = form.query_one("#problem", Static)
        await until(pilot, lambda: str(problem.content).startswith("Invalid input:"), "the refusal in the form")
        assert app.screen is form
        assert form.query_one("#name", Input).value == "tui"
        assert "'tui' already exists" in str(problem.content)
        form.query_one("#name", Input).value = "second"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SecretModal), "the secret of the corrected name")
        await pilot.press("escape")
        await until(pilot, lambda: "second" in names(screen), "the new key")
        assert not of_type(messages, ServerRefused)


async def test_long_name_is_refused_before_sending(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """An 80-character name is neither cut nor sent: the form says the limit and keeps all 80 characters."""
    messages: list[Message] = []
    app = signed_in_app(gateway, fresh_user("long"))
    async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        screen = await open_keys(app, pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, CreateKeyModal), "the new-key form")
        form = app.screen
        form.query_one("#name", Input).value = "k" * 80
        form.query_one("#name", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is form
        assert form.query_one("#name", Input).value == "k" * 80
        assert (
            str(form.query_one("#problem", Static).content) == "A key name has at most 64 characters; this one has 80."
        )
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen, "the keys screen")
        assert names(screen) == ["tui"]
        assert not of_type(messages, KeyCreated)


async def test_admin_manages_another_users_keys(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """An admin lists a user's keys, creates one for them (its secret works as them) and deletes it."""
    user = fresh_user("managed")
    gateway.create_key(user, "laptop")
    messages: list[Message] = []
    app = GatewayApp(gateway.grpc_target, gateway.create_key("root", fresh_user("admin-key")))
    async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        await until(pilot, lambda: app.session is not None, "the sign-in")
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, KeysScreen), "the keys screen")
        screen = app.screen
        assert isinstance(screen, KeysScreen)
        screen.query_one("#user", Input).value = user
        screen.query_one("#user", Input).focus()
        await pilot.press("enter")
        await until(pilot, lambda: names(screen) == ["laptop"], "the user's keys")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, CreateKeyModal), "the new-key form")
        assert user in str(app.screen.query_one("#title", Static).content)
        app.screen.query_one("#name", Input).value = "given"
        app.screen.query_one("#name", Input).focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SecretModal), "the secret")
        secret = str(app.screen.query_one("#secret", Static).content)
        await pilot.press("escape")
        await until(pilot, lambda: names(screen) == ["given", "laptop"], "the new key in the user's list")
        with gateway.channel() as channel:
            me = user_service_pb2_grpc.UserServiceStub(channel).GetCurrentUser(
                user_service_pb2.GetCurrentUserRequest(), metadata=bearer(secret)
            )
        assert (me.user, me.is_admin) == (user, False)
        table = screen.query_one("#keys", DataTable)
        table.move_cursor(row=table.get_row_index("given"))
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the confirmation")
        assert user in str(app.screen.query_one("#question", Static).content)
        await pilot.press("y")
        await until(pilot, lambda: names(screen) == ["laptop"], "the key to go")
