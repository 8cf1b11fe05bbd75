"""Showing a refused gateway call: a readable notification, and a message tests can watch."""

from __future__ import annotations

from collections.abc import Mapping

from textual.widget import Widget

from llmgw.tui.client import GatewayFailure
from llmgw.tui.messages import ServerRefused

NOTIFY_SECONDS = 8


def report_failure(node: Widget, failure: GatewayFailure, labels: Mapping[str, str] | None = None) -> None:
    """Notify the user of a failed call; the screen keeps whatever it showed and held.

    `labels` maps API field names to the labels on screen, so "limit_usd must be…"
    reads "Limit per period (USD) must be…".
    """
    message = failure.labelled(labels or {})
    node.notify(message or failure.title, title=failure.title, severity="error", timeout=NOTIFY_SECONDS)
    node.post_message(ServerRefused(failure.code, failure.reason, message))
