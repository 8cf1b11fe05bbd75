"""A multi-line prompt: Enter sends, Ctrl+J adds a line, Up and Down walk through earlier prompts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import TextArea


class PromptArea(TextArea):
    """A TextArea that submits on Enter and keeps the prompts sent from it, newest last.

    Up on the first line shows the previous prompt, Down on the last line the next
    (and finally what was being typed), as shells do.
    """

    DEFAULT_CSS = """
    PromptArea {
        height: auto;
        min-height: 3;
        max-height: 8;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+j,shift+enter", "newline", "New line", show=False),
    ]

    @dataclass
    class Submitted(Message):
        """The user pressed Enter on a prompt that is not blank."""

        prompt_area: PromptArea
        text: str

        @property
        def control(self) -> PromptArea:
            """The prompt area that sent it."""
            return self.prompt_area

    def __init__(self, *, placeholder: str = "", id: str | None = None) -> None:  # Textual's own parameter name
        super().__init__(id=id, soft_wrap=True, show_line_numbers=False, placeholder=placeholder)
        self.sent: list[str] = []
        self._browsing: int | None = None
        self._draft = ""

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            if self.text.strip():
                self.post_message(self.Submitted(self, self.text))
            return
        await super()._on_key(event)

    def action_newline(self) -> None:
        """Insert a line break where the cursor is."""
        self.insert("\n")

    def remember(self, text: str) -> None:
        """Keep a sent prompt for Up, and start a fresh one."""
        if not self.sent or self.sent[-1] != text:
            self.sent.append(text)
        self._browsing = None
        self._draft = ""
        self.clear()

    def action_cursor_up(self, select: bool = False) -> None:
        """On the first line, show the previous prompt; elsewhere move the cursor."""
        if select or self.cursor_location[0] > 0 or not self.sent:
            super().action_cursor_up(select)
            return
        if self._browsing is None:
            self._draft = self.text
            self._browsing = len(self.sent)
        if self._browsing > 0:
            self._browsing -= 1
            self._show(self.sent[self._browsing])

    def action_cursor_down(self, select: bool = False) -> None:
        """On the last line while browsing, show the next prompt (then the draft)."""
        if select or self._browsing is None or self.cursor_location[0] < self.document.line_count - 1:
            super().action_cursor_down(select)
            return
        self._browsing += 1
        if self._browsing >= len(self.sent):
            self._browsing = None
            self._show(self._draft)
        else:
            self._show(self.sent[self._browsing])

    def _show(self, text: str) -> None:
        self.load_text(text)
        self.move_cursor(self.document.end)
