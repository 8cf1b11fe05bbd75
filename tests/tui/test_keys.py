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
from llmgw.v1 import model_service_pb2, model_service_pb2_grpc
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
        await pilot.press("r")
        await pilot.pause(0.2)
        assert names(screen) == ["tui"]
        assert not of_type(messages, KeyDeleted)


async def test_duplicate_name_is_a_readable_error(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """Creating a key with a taken name shows INVALID_ARGUMENT as a notification and keeps the list."""
    messages: list[Message] = []
    app = signed_in_app(gateway, fresh_user("dup"))
    async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        screen = await open_keys(app, pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, CreateKeyModal), "the new-key form")
        app.screen.query_one("#name", Input).value = "tui"
        app.screen.query_one("#name", Input).focus()
        await pilot.press("enter")
        await until(pilot, lambda: bool(of_type(messages, ServerRefused)), "the refusal")
        refused = of_type(messages, ServerRefused)[0]
        assert isinstance(refused, ServerRefused)
        assert refused.code == "INVALID_ARGUMENT"
        assert app.screen is screen
        assert names(screen) == ["tui"]


async def test_expiry_in_the_past_is_refused_by_the_form(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """The form says what is wrong with an expiry date and stays open."""
    app = signed_in_app(gateway, fresh_user("past"))
    async with app.run_test(size=(100, 30)) as pilot:
        await open_keys(app, pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, CreateKeyModal), "the new-key form")
        form = app.screen
        form.query_one("#name", Input).value = "old"
        form.query_one("#expires", Input).value = "2001-01-01"
        form.query_one("#name", Input).focus()
        await pilot.press("enter")
        assert app.screen is form
        assert str(form.query_one("#problem", Static).content) == "The expiry date must be after today."
