"""`?`: the keys of the screen in view and of the whole app, generated from their bindings."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

# How Textual names keys, written as people read them.
_KEY_NAMES = {
    "question_mark": "?",
    "right_square_bracket": "]",
    "left_square_bracket": "[",
    "escape": "Esc",
    "delete": "Del",
    "enter": "Enter",
}


def key_label(keys: str) -> str:
    """`ctrl+s,f2` as `Ctrl+S / F2`."""
    names = []
    for key in keys.split(","):
        key = key.strip()
        if key in _KEY_NAMES:
            names.append(_KEY_NAMES[key])
            continue
        parts = key.split("+")
        # A letter with modifiers is written upper-case (Ctrl+R); a bare letter as typed (n).
        names.append(
            "+".join(part.upper() if len(part) == 1 and len(parts) > 1 else part.capitalize() for part in parts)
        )
    return " / ".join(dict.fromkeys(names))


def key_lines(bindings: Iterable[Binding]) -> list[str]:
    """One `key  what it does` line per described binding, in order, without repeats."""
    seen: dict[str, str] = {}
    for binding in bindings:
        if binding.description and binding.action not in seen:
            seen[binding.action] = f"{key_label(binding.key):<18}{binding.description}"
    return list(seen.values())


class HelpModal(ModalScreen[None]):
    """Lists the keys that work on the screen in view, then the app-wide ones."""

    CSS_PATH = "help.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,question_mark", "close", "Close")]

    def __init__(self, title: str, screen_keys: list[str], app_keys: list[str]) -> None:
        super().__init__()
        self._title = title
        self._screen_keys = screen_keys
        self._app_keys = app_keys

    def compose(self) -> ComposeResult:
        """The screen's widgets."""
        with Vertical(id="dialog"):
            with VerticalScroll(id="keys"):
                yield Static(f"Keys on {self._title}", classes="heading")
                yield Static("\n".join(self._screen_keys) or "(none of its own)", markup=False)
                yield Static("Everywhere", classes="heading")
                yield Static("\n".join(self._app_keys), markup=False)
            yield Button("Close (Esc)", id="close")

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        """Back to the screen."""
        self.dismiss(None)
