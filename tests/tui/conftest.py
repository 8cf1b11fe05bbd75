"""Helpers for driving the terminal UI against the real test gateway."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TypeAlias

import pytest
from textual.message import Message
from textual.pilot import Pilot
from textual.widget import Widget

from llmgw.tui.app import GatewayApp
from tests.support import GatewayThread

# Generous: the checks return as soon as they hold, and a loaded machine (several test runs on
# two cores, the gateway in the same process) can take seconds to sign in and load.
WAIT_S = 30.0
UserFactory: TypeAlias = Callable[[str], str]
SnapCompare: TypeAlias = Callable[..., bool]
_users = itertools.count()


@pytest.fixture
def fresh_user() -> UserFactory:
    """A user name no other test has used, so keys, quotas and spend start empty."""
    return lambda prefix: f"{prefix}{next(_users)}"


async def until(pilot: Pilot[None], check: Callable[[], bool], what: str, within_s: float = WAIT_S) -> None:
    """Let the app run until `check()` holds; fail after `within_s` naming `what` otherwise."""
    for _ in range(int(within_s / 0.02)):
        if check():
            return
        await pilot.pause(0.02)
    notes = [f"{note.title}: {note.message}" for note in pilot.app._notifications]
    raise AssertionError(f"timed out waiting for {what}; screen {pilot.app.screen!r}, notifications {notes}")


async def press_in(pilot: Pilot[None], widget: Widget, *keys: str) -> None:
    """Focus `widget`, wait until it has the focus, then press `keys` (they go to the focused widget)."""
    widget.focus()
    await until(pilot, lambda: widget.has_focus, f"the focus on {widget!r}")
    await pilot.press(*keys)


def of_type(messages: list[Message], kind: type[Message]) -> list[Message]:
    """The messages of one kind, in the order they were first seen (a bubbling message is seen at each node)."""
    return list(dict.fromkeys(message for message in messages if isinstance(message, kind)))


def signed_in_app(gateway: GatewayThread, user: str) -> GatewayApp:
    """An app for `user` with a fresh key, signing in on start."""
    return GatewayApp(gateway.grpc_target, gateway.create_key(user, "tui"))
