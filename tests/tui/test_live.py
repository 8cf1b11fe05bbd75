"""The live tail against a real gateway: other clients' requests appear as they happen; its status line says so."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable, Static

from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.tui.app import GatewayApp
from llmgw.tui.messages import LiveState
from llmgw.tui.screens.live import LiveScreen
from llmgw.v1 import chat_pb2, chat_service_pb2, chat_service_pb2_grpc
from tests.model_ids import HAIKU
from tests.support import GatewayThread, bearer, gateway_settings
from tests.tui.conftest import UserFactory, of_type, until

# The bar: a request another client made shows within a second of its answer.
SHOWN_WITHIN_S = 1.0


def chat_once(gateway: GatewayThread, key: str) -> str:
    """One unary chat request as another client would make it; returns its request id."""
    message = chat_pb2.ChatMessage(role=chat_pb2.ROLE_USER, content=[chat_pb2.ContentPart(text="hi [[tokens:3]]")])
    with gateway.channel() as channel:
        response = chat_service_pb2_grpc.ChatServiceStub(channel).CreateChatCompletion(
            chat_service_pb2.CreateChatCompletionRequest(
                params=chat_pb2.ChatCompletionParams(model=HAIKU, messages=[message])
            ),
            metadata=bearer(key),
        )
    return str(response.completion.id)


def shown_ids(screen: LiveScreen) -> set[str]:
    """The request ids in the tail."""
    table = screen.query_one("#requests", DataTable)
    return {str(table.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value) for row in range(table.row_count)}


async def test_admin_sees_another_clients_request_within_a_second(
    gateway: GatewayThread, fresh_user: UserFactory
) -> None:
    """A chat made by another program appears in the admin's tail within a second of its answer."""
    user = fresh_user("watched")
    user_key = gateway.create_key(user, "k")
    messages: list[Message] = []
    app = GatewayApp(gateway.grpc_target, gateway.create_key("root", fresh_user("admin-key")))
    async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
        await until(pilot, lambda: app.session is not None, "the sign-in")
        await pilot.press("f9")
        await until(pilot, lambda: isinstance(app.screen, LiveScreen), "the live tail")
        screen = app.screen
        assert isinstance(screen, LiveScreen)
        await until(pilot, lambda: screen.state == "live", "the stream")
        assert str(screen.query_one("#status", Static).content).startswith("● live")
        request_id = await asyncio.to_thread(chat_once, gateway, user_key)
        answered = time.monotonic()
        await until(pilot, lambda: request_id in shown_ids(screen), "the other client's request")
        assert time.monotonic() - answered < SHOWN_WITHIN_S
        row = screen.query_one("#requests", DataTable).get_row(request_id)
        assert row[1:3] == [user, "success"]
        assert [m.state for m in of_type(messages, LiveState) if isinstance(m, LiveState)][:2] == ["connecting", "live"]


async def test_users_see_only_their_own_requests(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """A non-admin's tail shows their own request and not someone else's."""
    me, other = fresh_user("me"), fresh_user("other")
    my_key, other_key = gateway.create_key(me, "tui"), gateway.create_key(other, "k")
    app = GatewayApp(gateway.grpc_target, my_key)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.session is not None, "the sign-in")
        await pilot.press("f9")
        await until(pilot, lambda: isinstance(app.screen, LiveScreen), "the live tail")
        screen = app.screen
        assert isinstance(screen, LiveScreen)
        await until(pilot, lambda: screen.state == "live", "the stream")
        theirs = await asyncio.to_thread(chat_once, gateway, other_key)
        mine = await asyncio.to_thread(chat_once, gateway, my_key)
        await until(pilot, lambda: mine in shown_ids(screen), "my request")
        assert theirs not in shown_ids(screen)


async def test_indicator_shows_a_lost_gateway(tmp_path: Path, fake_bedrock: FakeBedrockServer) -> None:
    """When the gateway goes away the status line turns to disconnected and the tail keeps retrying."""
    running = GatewayThread(gateway_settings(tmp_path / "gateway", fake_bedrock.url)).start()
    stopped = False
    try:
        messages: list[Message] = []
        app = GatewayApp(running.grpc_target, running.create_key("lonely", "tui"))
        async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
            await until(pilot, lambda: app.session is not None, "the sign-in")
            await pilot.press("f9")
            await until(pilot, lambda: isinstance(app.screen, LiveScreen), "the live tail")
            screen = app.screen
            assert isinstance(screen, LiveScreen)
            await until(pilot, lambda: screen.state == "live", "the stream")
            await asyncio.to_thread(running.stop)
            stopped = True
            await until(pilot, lambda: screen.state == "reconnecting", "the lost link")
            assert str(screen.query_one("#status", Static).content).startswith("○ disconnected")
    finally:
        if not stopped:
            running.stop()
