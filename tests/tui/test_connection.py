"""The header's connection indicator on every screen, against a real gateway that stops and comes back."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.pilot import Pilot

from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.tui.app import GatewayApp
from llmgw.tui.link import LinkState
from llmgw.tui.screens.keys import KeysScreen
from llmgw.tui.screens.live import LiveScreen
from llmgw.tui.screens.users import UsersScreen
from llmgw.tui.widgets.console_header import ConnectionIndicator
from tests.support import GatewayThread, gateway_settings
from tests.tui.conftest import until

# grpc redials a lost gateway after at most 2 s and the app probes at most every 4 s: well inside this.
BACK_WITHIN_S = 30.0


def indicator(pilot: Pilot[None]) -> str:
    """What the header of the screen in view says about the link."""
    return str(pilot.app.screen.query_one(ConnectionIndicator).content)


async def test_indicator_follows_the_gateway_on_every_screen(tmp_path: Path, fake_bedrock: FakeBedrockServer) -> None:
    """Connected after sign-in; down (then reconnecting) on any screen when the gateway stops; connected when back."""
    settings = gateway_settings(tmp_path / "gateway", fake_bedrock.url)
    running = GatewayThread(settings).start()
    port = running.port
    states: list[LinkState | None] = []
    stopped = False
    try:
        app = GatewayApp(running.grpc_target, running.create_key("root", "tui"), heartbeat_s=0.2)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, UsersScreen), "the Users screen")
            app.watch(app, "connection", lambda state: states.append(state))
            await until(pilot, lambda: indicator(pilot) == "● connected", "the connected mark")

            await asyncio.to_thread(running.stop)
            stopped = True
            await until(pilot, lambda: app.connection == "down", "the lost gateway, seen by the idle console")
            assert indicator(pilot) == "✕ gateway down"
            await pilot.press("f2")
            await until(pilot, lambda: isinstance(app.screen, KeysScreen), "the Keys screen")
            await until(pilot, lambda: indicator(pilot) in ("✕ gateway down", "◌ reconnecting…"), "the mark on Keys")
            await until(pilot, lambda: "reconnecting" in states, "a reconnection attempt")

            running = GatewayThread(
                gateway_settings(tmp_path / "gateway", fake_bedrock.url, grpc_listen=f"127.0.0.1:{port}")
            )
            running.start()
            stopped = False
            await until(pilot, lambda: app.connection == "connected", "the gateway back", within_s=BACK_WITHIN_S)
            assert indicator(pilot) == "● connected"
            await pilot.press("f9")
            await until(pilot, lambda: isinstance(app.screen, LiveScreen), "the Live screen")
            await until(pilot, lambda: indicator(pilot) == "● connected", "the mark on Live")
            assert (states[0], states[-1]) == ("connected", "connected")
            assert {"down", "reconnecting"} <= set(states)
    finally:
        if not stopped:
            running.stop()
