"""Signing in: keys from flags or the prompt, and clear words for a dead server or a bad key."""

from __future__ import annotations

import socket

from textual.message import Message
from textual.widgets import Input, Static

from llmgw.cli import build_parser
from llmgw.tui.app import GatewayApp
from llmgw.tui.messages import SignedIn
from llmgw.tui.screens.chat import ChatScreen
from llmgw.tui.screens.signin import SignInScreen
from tests.support import GatewayThread
from tests.tui.conftest import UserFactory, of_type, until


def problem(app: GatewayApp) -> str:
    """The sign-in screen's message line."""
    return str(app.screen.query_one("#problem", Static).content)


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_prompt_screen_signs_in(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """Without a key the sign-in screen asks; a good key opens the chat as that user."""
    user = fresh_user("prompted")
    key = gateway.create_key(user, "k")
    messages: list[Message] = []
    app = GatewayApp(gateway.grpc_target, "")
    async with app.run_test(size=(80, 24), message_hook=messages.append) as pilot:
        await until(pilot, lambda: isinstance(app.screen, SignInScreen), "the sign-in screen")
        assert app.screen.query_one("#target", Input).value == gateway.grpc_target
        app.screen.query_one("#key", Input).value = key
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ChatScreen), "the chat screen")
        signed = of_type(messages, SignedIn)[0]
        assert isinstance(signed, SignedIn)
        assert (signed.user, signed.is_admin) == (user, False)
        assert app.sub_title == user


async def test_admin_is_recognised(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """The configured admin signs in as an admin."""
    messages: list[Message] = []
    app = GatewayApp(gateway.grpc_target, gateway.create_key("root", fresh_user("root-key")))
    async with app.run_test(size=(80, 24), message_hook=messages.append) as pilot:
        await until(pilot, lambda: app.sub_title.startswith("root (admin)"), "the admin's chat screen")
        signed = of_type(messages, SignedIn)[0]
        assert isinstance(signed, SignedIn)
        assert (signed.user, signed.is_admin) == ("root", True)


async def test_rejected_key_is_explained(gateway: GatewayThread) -> None:
    """An unknown key leaves the sign-in screen up with a sentence saying the key was rejected."""
    app = GatewayApp(gateway.grpc_target, "sk-not-a-real-key")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: problem(app).startswith("The gateway rejected this key"), "the rejection")
        assert isinstance(app.screen, SignInScreen)
        assert app.session is None


async def test_unreachable_gateway_is_explained() -> None:
    """A target where nothing listens gives a readable message, not a traceback."""
    target = f"127.0.0.1:{closed_port()}"
    app = GatewayApp(target, "sk-anything")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "cannot reach the gateway" in problem(app), "the unreachable message")
        assert problem(app) == f"Gateway unavailable: cannot reach the gateway at {target}; is it running?"


async def test_empty_fields_are_asked_for() -> None:
    """Signing in with no key asks for one without calling anything."""
    app = GatewayApp("127.0.0.1:1", "")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, SignInScreen), "the sign-in screen")
        await pilot.press("ctrl+s")
        assert problem(app) == "Enter the gateway address and your API key."


def test_cli_parses_the_tui_command() -> None:
    """`llmgw tui` takes --target and --api-key."""
    args = build_parser().parse_args(["tui", "--target", "gw:1234", "--api-key", "sk-x"])
    assert (args.command, args.target, args.api_key) == ("tui", "gw:1234", "sk-x")
