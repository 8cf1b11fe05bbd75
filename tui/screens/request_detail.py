"""One request of the log in full: times, tokens, cost, outcome and why it failed."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from llmgw.tui.format import OUTCOME_NAMES, moment, usd
from llmgw.v1 import request_record_pb2


def describe(record: request_record_pb2.RequestRecord) -> str:
    """The record as aligned `label  value` lines."""
    ttft = f"{record.ttft_ms} ms" if record.HasField("ttft_ms") else "no token came"
    lines = [
        ("Request id", record.id),
        ("When", f"{moment(record.created_at)} UTC"),
        ("User", record.user),
        ("Key", record.key_name),
        ("Model", record.model),
        ("API", record.api or "unknown"),
        ("Outcome", OUTCOME_NAMES.get(record.outcome, "unknown")),
        ("Error reason", record.error_reason or "none"),
        ("Tokens", f"{record.input_tokens} in, {record.output_tokens} out"),
        ("Cache", f"{record.cache_read_tokens} read, {record.cache_write_tokens} written"),
        ("Sent as", record.upstream_model or record.model),
        ("Tier", record.service_tier or "default"),
        ("Session", record.session_id or "none"),
        ("Cost", f"{usd(record.cost_usd)} (exactly {record.cost_usd or '0'} USD)"),
        ("Latency", f"{record.latency_ms} ms"),
        ("First token", ttft),
    ]
    return "\n".join(f"{label:<13}{value}" for label, value in lines)


class RequestDetailModal(ModalScreen[None]):
    """Shows one request record until closed."""

    CSS_PATH = "request_detail.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,enter", "close", "Close")]

    def __init__(self, record: request_record_pb2.RequestRecord) -> None:
        super().__init__()
        self._record = record

    def compose(self) -> ComposeResult:
        """The screen's widgets."""
        with Vertical(id="dialog"):
            yield Static("Request", id="title")
            yield Static(describe(self._record), id="detail", markup=False)
            yield Button("Close", id="close")

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        """Back to the log."""
        self.dismiss(None)
