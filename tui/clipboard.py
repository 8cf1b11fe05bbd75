"""Copying text out of the UI, and saying honestly where it went.

Textual copies through the terminal (the OSC 52 escape). A terminal may ignore
that sequence and nothing tells the app, so the notification names the route and
what to do if the paste comes up empty; with no terminal at all it says it failed.
"""

from __future__ import annotations

from textual.app import App

COPIED = (
    "Sent to your terminal's clipboard (OSC 52). If pasting gives nothing, your terminal blocks OSC 52: "
    "select the text with the mouse instead (Shift+drag in most terminals)."
)
NO_TERMINAL = "No terminal is attached, so your system clipboard was not set; Ctrl+V pastes it only inside this app."


def copy_text(app: App[object], text: str, what: str) -> bool:
    """Copy `text` (described as `what`) and notify where it went; False when it could not go anywhere."""
    app.copy_to_clipboard(text)
    if app.is_headless:
        app.notify(NO_TERMINAL, title=f"{what} not copied", severity="warning")
        return False
    app.notify(COPIED, title=f"{what} copied")
    return True
