"""Chat: pick an allowed model, talk with it, watch the answer stream in and what it cost."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Select
from textual.widgets.markdown import Markdown

from llmgw.tui.client import ChatTurn, ChatUsage, GatewayClient, GatewayFailure
from llmgw.tui.feedback import report_failure
from llmgw.tui.format import usd
from llmgw.tui.messages import ChatAnswered
from llmgw.tui.widgets.chat_message import ChatMessage
from llmgw.tui.widgets.quota_bar import QuotaBar
from llmgw.v1 import model_pb2


class ChatScreen(Screen[None]):
    """A multi-turn conversation with one model at a time; the quota bar follows each answer."""

    CSS_PATH = "chat.tcss"
    TITLE = "Chat"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stop", "Stop answer"),
        Binding("ctrl+n", "new_chat", "New chat"),
        Binding("ctrl+o", "pick_model", "Model"),
    ]

    def __init__(self, client: GatewayClient) -> None:
        super().__init__()
        self._client = client
        self._history: list[ChatTurn] = []
        self._answering = False

    def compose(self) -> ComposeResult:
        """The screen's widgets."""
        yield Header()
        with Horizontal(id="top"):
            yield Select[str]([], prompt="Model", allow_blank=True, id="model")
            yield QuotaBar(id="quota")
        yield VerticalScroll(id="transcript")
        yield Input(placeholder="Ask something, Enter to send", id="prompt")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        """Load the models and the quota; the prompt has the focus."""
        self.query_one("#prompt", Input).focus()
        # After the first refresh the Select has composed its overlay, which set_options needs.
        self.call_after_refresh(self._load_models)
        self.call_after_refresh(self._load_quota)

    @work(exclusive=True, group="models")
    async def _load_models(self) -> None:
        try:
            models = await self._client.list_models()
        except GatewayFailure as failure:
            report_failure(self, failure)
            return
        chat_models = [model for model in models if model.kind == model_pb2.MODEL_KIND_CHAT]
        select = self.query_one("#model", Select)
        select.set_options((model.display_name or model.id, model.id) for model in chat_models)
        if chat_models:
            select.value = chat_models[0].id
        else:
            self.notify("Your key may not call any chat model; ask an admin.", title="No models", severity="warning")

    @work(exclusive=True, group="quota")
    async def _load_quota(self) -> None:
        bar = self.query_one(QuotaBar)
        try:
            status = await self._client.quota_status("me")
        except GatewayFailure as failure:
            bar.unknown(failure.title.lower())
            return
        bar.show(status)

    @on(Input.Submitted, "#prompt")
    def _send(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        model = self.query_one("#model", Select).value
        if not text:
            return
        if self._answering:
            self.notify("Wait for the answer, or stop it with Esc.", severity="warning")
            return
        if not isinstance(model, str):
            self.notify("Pick a model first (Ctrl+O).", severity="warning")
            return
        event.input.clear()
        self._history.append(ChatTurn("user", text))
        transcript = self.query_one("#transcript", VerticalScroll)
        answer = ChatMessage("assistant", label=model)
        transcript.mount(ChatMessage("user", text))
        transcript.mount(answer)
        transcript.anchor()
        self._answering = True
        self._answer(model, answer)

    @work(exclusive=True, group="chat")
    async def _answer(self, model: str, answer: ChatMessage) -> None:
        parts: list[str] = []
        usage: ChatUsage | None = None
        stopped = False
        stream = Markdown.get_stream(answer.document)
        try:
            async for event in self._client.stream_chat(model, self._history):
                if isinstance(event, ChatUsage):
                    usage = event
                else:
                    parts.append(event)
                    await stream.write(event)
        except GatewayFailure as failure:
            answer.note(str(failure), failed=True)
            report_failure(self, failure)
        except asyncio.CancelledError:
            stopped = True
            raise
        finally:
            await stream.stop()
            self._answering = False
            self._finish(model, answer, "".join(parts), usage, stopped=stopped)

    def _finish(self, model: str, answer: ChatMessage, text: str, usage: ChatUsage | None, *, stopped: bool) -> None:
        if text:
            self._history.append(ChatTurn("assistant", text))
        elif self._history and self._history[-1].role == "user":
            self._history.pop()
        if usage is not None:
            answer.note(f"{usage.prompt_tokens} in · {usage.completion_tokens} out · {usd(usage.cost_usd)}")
        elif stopped:
            answer.note("stopped", failed=True)
        self.post_message(
            ChatAnswered(
                model,
                text,
                usage.prompt_tokens if usage else 0,
                usage.completion_tokens if usage else 0,
                usage.cost_usd if usage else "",
                stopped,
            )
        )
        self._load_quota()

    def action_stop(self) -> None:
        """Stop the answer being streamed; what arrived so far stays in the conversation."""
        if self._answering:
            self.workers.cancel_group(self, "chat")

    def action_new_chat(self) -> None:
        """Forget the conversation and start over."""
        self.action_stop()
        self._history.clear()
        self.query_one("#transcript", VerticalScroll).remove_children()
        self.query_one("#prompt", Input).focus()

    def action_pick_model(self) -> None:
        """Open the model picker."""
        select = self.query_one("#model", Select)
        select.focus()
        select.action_show_overlay()
