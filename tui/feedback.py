"""Showing a refused gateway call: a readable notification, and a message tests can watch."""

from __future__ import annotations

from textual.widget import Widget

from llmgw.tui.client import GatewayFailure
from llmgw.tui.messages import ServerRefused

NOTIFY_SECONDS = 8


def report_failure(node: Widget, failure: GatewayFailure) -> None:
    """Notify the user of a failed call; the screen keeps whatever it showed and held."""
    node.notify(failure.message or failure.title, title=failure.title, severity="error", timeout=NOTIFY_SECONDS)
    node.post_message(ServerRefused(failure.code, failure.reason, failure.message))
