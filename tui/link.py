"""What the console knows of its link to the gateway, for the indicator every screen's header shows.

The client reports after each call: an answer (a refusal included) means connected,
a transport failure means down. Whoever then tries again (the app's probe, the live
tail) says reconnecting first, so the header shows the attempt.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

LinkState = Literal["connected", "reconnecting", "down"]


class Link:
    """The latest link state, and who wants to hear when it changes."""

    def __init__(self) -> None:
        self.state: LinkState | None = None
        self._listeners: list[Callable[[LinkState], None]] = []

    def listen(self, listener: Callable[[LinkState], None]) -> None:
        """Call `listener` with every change from now on."""
        self._listeners.append(listener)

    def reached(self) -> None:
        """The gateway answered."""
        self._set("connected")

    def lost(self) -> None:
        """The gateway could not be reached."""
        self._set("down")

    def retrying(self) -> None:
        """A call is about to try the gateway again after it was lost."""
        if self.state == "down":
            self._set("reconnecting")

    def _set(self, state: LinkState) -> None:
        if state == self.state:
            return
        self.state = state
        for listener in list(self._listeners):
            listener(state)
