"""Chat: pick an allowed model, talk with it, watch the answer stream in and what it cost.

A conversation is an object of its own: a new chat replaces it, so an answer still
arriving for the old one can never write into the new one, and the answer's
widget is only touched while it is still on screen.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Select, Static
from textual.widgets.markdown import Markdown

from llmgw.tui.client import AnswerId, ChatOptions, ChatTurn, ChatUsage, GatewayClient, GatewayFailure
from llmgw.tui.clipboard import copy_text
from llmgw.tui.feedback import report_failure
from llmgw.tui.format import usd
from llmgw.tui.messages import ChatAnswered
from llmgw.tui.screens.chat_settings import ChatSettings, ChatSettingsModal
from llmgw.tui.widgets.chat_message import ChatMessage
from llmgw.tui.widgets.console_header import ConsoleHeader
from llmgw.tui.widgets.prompt_area import PromptArea
from llmgw.tui.widgets.quota_bar import QuotaBar
from llmgw.v1 import model_pb2, usage_service_pb2

# How long to look for a stopped answer's charge: the gateway records it just after the stop.
CHARGE_LOOKUPS = 25
CHARGE_LOOKUP_PAUSE_S = 0.2


@dataclass(eq=False)
class Conversation:
    """The turns of one chat, and the last answer's text (for copying)."""

    turns: list[ChatTurn] = field(default_factory=list)
    last_answer: str = ""


class ChatScreen(Screen[None]):
    """A multi-turn conversation with one model at a time; the quota bar follows each answer."""

    CSS_PATH = "chat.tcss"
    TITLE = "Chat"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stop", "Stop answer"),
        Binding("ctrl+n", "new_chat", "New chat"),
        Binding("ctrl+o", "pick_model", "Model"),
        Binding("ctrl+t", "settings", "Settings"),
        Binding("ctrl+g", "copy_answer", "Copy answer"),
    ]

    def __init__(self, client: GatewayClient) -> None:
        super().__init__()
        self._client = client
        self._conversation = Conversation()
        self._settings = ChatSettings()
        self._answering = False

    def compose(self) -> ComposeResult:
        """The screen's widgets."""
        yield ConsoleHeader()
        with Horizontal(id="top"):
            yield Select[str]([], prompt="Model", allow_blank=True, id="model")
            yield QuotaBar(id="quota")
        yield Static("", id="settings-line")
        yield VerticalScroll(id="transcript")
        yield PromptArea(placeholder="Ask something; Enter sends, Ctrl+J adds a line, Up recalls", id="prompt")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        """The prompt has the focus."""
        self.query_one("#prompt", PromptArea).focus()
        self.query_one("#settings-line", Static).display = False

    def on_screen_resume(self) -> None:
        """Load the models and quota each time the chat is shown: access may have changed meanwhile."""
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
        before = select.value
        allowed = {model.id for model in chat_models}
        select.set_options((model.display_name or model.id, model.id) for model in chat_models)
        if isinstance(before, str) and before in allowed:
            select.value = before
        elif chat_models:
            select.value = chat_models[0].id
            if isinstance(before, str):
                self.notify(f"You may no longer use {before}; switched to {chat_models[0].id}.", severity="warning")
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

    @on(Select.Changed, "#model")
    def _model_picked(self) -> None:
        self.query_one("#prompt", PromptArea).focus()

    @on(PromptArea.Submitted, "#prompt")
    def _send(self, event: PromptArea.Submitted) -> None:
        text = event.text.strip()
        model = self.query_one("#model", Select).value
        if self._answering:
            self.notify("Wait for the answer, or stop it with Esc.", severity="warning")
            return
        if not isinstance(model, str):
            self.notify("Pick a model first (Ctrl+O).", severity="warning")
            return
        event.prompt_area.remember(text)
        conversation = self._conversation
        conversation.turns.append(ChatTurn("user", text))
        transcript = self.query_one("#transcript", VerticalScroll)
        answer = ChatMessage("assistant", label=model)
        transcript.mount(ChatMessage("user", text))
        transcript.mount(answer)
        transcript.anchor()
        self._answering = True
        options = ChatOptions(model, self._settings.temperature, self._settings.max_tokens)
        self._answer(options, conversation, answer)

    def _showing(self, conversation: Conversation) -> bool:
        """Whether the conversation is still the one on screen (a new chat removes the old widgets)."""
        return conversation is self._conversation

    def _turns(self, conversation: Conversation) -> list[ChatTurn]:
        system = [ChatTurn("system", self._settings.system)] if self._settings.system else []
        return system + conversation.turns

    @work(exclusive=True, group="chat")
    async def _answer(self, options: ChatOptions, conversation: Conversation, answer: ChatMessage) -> None:
        parts: list[str] = []
        usage: ChatUsage | None = None
        answer_id = ""
        stopped = False
        stream = Markdown.get_stream(answer.document)
        try:
            async for event in self._client.stream_chat(options, self._turns(conversation)):
                if isinstance(event, ChatUsage):
                    usage = event
                elif isinstance(event, AnswerId):
                    answer_id = event.id
                else:
                    parts.append(event)
                    await stream.write(event)
        except GatewayFailure as failure:
            if self._showing(conversation):
                answer.note(str(failure), failed=True)
            report_failure(self, failure)
            if failure.reason == "MODEL_ACCESS_DENIED":
                self._load_models()
        except asyncio.CancelledError:
            stopped = True
            raise
        finally:
            await stream.stop()
            if conversation is self._conversation:
                self._answering = False
            self._finish(options.model, conversation, answer, "".join(parts), usage, answer_id, stopped=stopped)

    def _finish(
        self,
        model: str,
        conversation: Conversation,
        answer: ChatMessage,
        text: str,
        usage: ChatUsage | None,
        answer_id: str,
        *,
        stopped: bool,
    ) -> None:
        if text:
            conversation.turns.append(ChatTurn("assistant", text))
            conversation.last_answer = text
        elif conversation.turns and conversation.turns[-1].role == "user":
            conversation.turns.pop()
        if self._showing(conversation):
            if usage is not None:
                answer.note(f"{usage.prompt_tokens} in · {usage.completion_tokens} out · {usd(usage.cost_usd)}")
            elif stopped:
                answer.note("stopped; looking up its charge…", failed=True)
                if answer_id:
                    self._charge_of_stopped(answer_id, conversation, answer)
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

    @work(group="charge")
    async def _charge_of_stopped(self, answer_id: str, conversation: Conversation, answer: ChatMessage) -> None:
        """Find what a stopped answer was charged in the request log (written just after the stop)."""
        request = usage_service_pb2.ListRequestsRequest(user="me", page_size=20)
        for _ in range(CHARGE_LOOKUPS):
            try:
                page = await self._client.list_requests(request)
            except GatewayFailure:
                break
            record = next((record for record in page.records if record.id == answer_id), None)
            if record is not None:
                if self._showing(conversation):
                    answer.note(
                        f"stopped · {record.input_tokens} in · {record.output_tokens} out · "
                        f"{usd(record.cost_usd)} charged",
                        failed=True,
                    )
                return
            await asyncio.sleep(CHARGE_LOOKUP_PAUSE_S)
        if self._showing(conversation):
            answer.note("stopped; its charge is in the request log", failed=True)

    def action_stop(self) -> None:
        """Stop the answer being streamed; what arrived so far stays in the conversation."""
        if self._answering:
            self.workers.cancel_group(self, "chat")

    def action_new_chat(self) -> None:
        """Forget the conversation and start over; an answer still streaming is stopped and dropped."""
        self.workers.cancel_group(self, "chat")
        self._answering = False
        self._conversation = Conversation()
        self.query_one("#transcript", VerticalScroll).remove_children()
        self.query_one("#prompt", PromptArea).focus()

    def action_pick_model(self) -> None:
        """Open the model picker."""
        select = self.query_one("#model", Select)
        select.focus()
        select.action_show_overlay()

    def action_settings(self) -> None:
        """Edit the system prompt, temperature and answer length."""

        def chosen(settings: ChatSettings | None) -> None:
            if settings is not None:
                self._settings = settings
                line = self.query_one("#settings-line", Static)
                line.update(settings.summary())
                line.display = bool(settings.summary())
            self.query_one("#prompt", PromptArea).focus()

        self.app.push_screen(ChatSettingsModal(self._settings), chosen)

    def action_copy_answer(self) -> None:
        """Copy the last answer's text."""
        if not self._conversation.last_answer:
            self.notify("There is no answer to copy yet.", severity="warning")
            return
        copy_text(self.app, self._conversation.last_answer, "Answer")
