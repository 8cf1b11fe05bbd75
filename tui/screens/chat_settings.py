"""The chat's settings: a system prompt, temperature and an answer length limit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.validation import Integer, Number
from textual.widgets import Button, Input, Label, Static, TextArea

MAX_TOKENS_LIMIT = 200_000


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """What the next answers are asked with; None means the model's default."""

    system: str = ""
    temperature: float | None = None
    max_tokens: int | None = None

    def summary(self) -> str:
        """One line naming what differs from the defaults, empty when nothing does."""
        parts = []
        if self.system:
            parts.append("system prompt")
        if self.temperature is not None:
            parts.append(f"temperature {self.temperature:g}")
        if self.max_tokens is not None:
            parts.append(f"at most {self.max_tokens} tokens")
        return " · ".join(parts)


class ChatSettingsModal(ModalScreen[ChatSettings | None]):
    """Edits the chat settings; fields are checked as typed, and Save is refused while one is wrong."""

    CSS_PATH = "chat_settings.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "save", "Save", priority=True),
    ]

    def __init__(self, settings: ChatSettings) -> None:
        super().__init__()
        self._settings = settings

    def compose(self) -> ComposeResult:
        """The screen's widgets."""
        with Vertical(id="dialog"):
            yield Static("Chat settings", id="title")
            yield Label("System prompt (sent first, with every question)")
            yield TextArea(self._settings.system, id="system", soft_wrap=True)
            yield Label("Temperature, 0 to 2 (blank: the model's default)")
            yield Input(
                "" if self._settings.temperature is None else f"{self._settings.temperature:g}",
                id="temperature",
                validators=[Number(minimum=0, maximum=2)],
                valid_empty=True,
            )
            yield Label(f"Most tokens per answer, 1 to {MAX_TOKENS_LIMIT} (blank: the model's default)")
            yield Input(
                "" if self._settings.max_tokens is None else str(self._settings.max_tokens),
                id="max-tokens",
                validators=[Integer(minimum=1, maximum=MAX_TOKENS_LIMIT)],
                valid_empty=True,
            )
            yield Static("", id="problem")
            with Horizontal(id="buttons"):
                yield Button("Save (^s)", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    @on(Input.Changed)
    def _checked(self, event: Input.Changed) -> None:
        problems = [] if event.validation_result is None else event.validation_result.failure_descriptions
        self.query_one("#problem", Static).update("\n".join(problems))

    @on(Input.Submitted)
    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        """Close with the settings, unless a field is wrong (then say which)."""
        temperature = self.query_one("#temperature", Input)
        max_tokens = self.query_one("#max-tokens", Input)
        for field, label in ((temperature, "Temperature"), (max_tokens, "Most tokens")):
            result = field.validate(field.value)
            if result is not None and not result.is_valid:
                self.query_one("#problem", Static).update(f"{label}: {'; '.join(result.failure_descriptions)}")
                field.focus()
                return
        self.dismiss(
            ChatSettings(
                self.query_one("#system", TextArea).text.strip(),
                float(temperature.value) if temperature.value.strip() else None,
                int(max_tokens.value) if max_tokens.value.strip() else None,
            )
        )

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Close and keep the settings as they were."""
        self.dismiss(None)
