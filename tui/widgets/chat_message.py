"""One message of the chat transcript: who wrote it, the text as Markdown, and its cost."""

from __future__ import annotations

from typing import Literal

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Markdown


class ChatMessage(Vertical):
    """A user prompt or an assistant answer; answers grow as the stream arrives."""

    DEFAULT_CSS = """
    ChatMessage {
        height: auto;
        margin: 0 0 1 0;
        padding: 0 1;
        & > .chat-message--role { color: $text-muted; text-style: bold; }
        & > Markdown { margin: 0; padding: 0; }
        & > .chat-message--usage { width: 100%; color: $text-muted; text-style: italic; }
        &.-user { border-left: thick $primary; background: $boost; }
        &.-assistant { border-left: thick $accent; }
        &.-failed > .chat-message--usage { color: $error; }
    }
    """

    def __init__(self, role: Literal["user", "assistant"], text: str = "", *, label: str = "") -> None:
        super().__init__(classes=f"-{role}")
        self.role = role
        self._text = text
        self._label = label or ("You" if role == "user" else "Assistant")

    def compose(self) -> ComposeResult:
        """The widget's parts."""
        yield Label(self._label, classes="chat-message--role")
        yield Markdown(self._text)
        yield Label("", classes="chat-message--usage")

    @property
    def document(self) -> Markdown:
        """The Markdown widget the answer streams into."""
        return self.query_one(Markdown)

    def note(self, text: str, *, failed: bool = False) -> None:
        """Write the line under the message (tokens and cost, or why it ended early)."""
        self.query_one(".chat-message--usage", Label).update(text)
        self.set_class(failed, "-failed")
