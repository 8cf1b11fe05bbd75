"""What the per-user admin screens share: the user field, and acting only on the user on screen.

A form shows one user's values. Saving or resetting acts on that user, never on a
name typed since: when the field names someone else, the screen loads them
instead and asks to check, then save. Every reset is confirmed first. Ctrl+R
means Refresh on every screen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import ClassVar

from textual import on
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Button, Input

from llmgw.tui.client import GatewayFailure
from llmgw.tui.feedback import report_failure
from llmgw.tui.inputs import FromLive, UserName
from llmgw.tui.screens.admin_base import AdminScreen
from llmgw.tui.screens.confirm import ConfirmModal
from llmgw.tui.state import ConsoleState


class UserScreen(AdminScreen):
    """An admin screen about one user at a time, following the user picked on the Users screen."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+r", "refresh", "Refresh")]
    # The form's label for each API field the gateway may blame, so errors name what is on screen.
    FIELD_LABELS: ClassVar[Mapping[str, str]] = {"user": "User"}
    # What a reset puts back, for the confirmation ("the default quota").
    RESET_WHAT: ClassVar[str] = ""

    def __init__(self, console: ConsoleState) -> None:
        super().__init__(console)
        self.loaded_user = ""

    def compose_user(self, *buttons: Widget) -> Iterable[Widget]:
        """The user field (validated, completing known users) and the screen's buttons."""
        with Horizontal(id="who"):
            yield Input(
                placeholder="user name, Enter to load",
                id="user",
                suggester=FromLive(lambda: self.console.known_users),
                validators=[UserName()],
                validate_on=["submitted"],
            )
            yield Button("Load", id="load")
            yield from buttons

    def start(self) -> None:
        """Focus the user field."""
        self.query_one("#user", Input).focus()

    def on_screen_resume(self) -> None:
        """Show the user picked elsewhere (the Users screen), if it is not the one shown."""
        if not self.identity.is_admin:
            return
        picked = self.console.selected_user
        if picked and picked != self.loaded_user:
            self.query_one("#user", Input).value = picked
            self.load(picked)

    @on(Input.Submitted, "#user")
    @on(Button.Pressed, "#load")
    def _load_pressed(self) -> None:
        user = self.typed_user()
        if user:
            self.console.select_user(user)
            self.load(user)

    def action_refresh(self) -> None:
        """Load again the user on screen (or the one typed)."""
        user = self.typed_user()
        if user:
            self.load(user)

    def typed_user(self) -> str:
        """The user in the field, or "" after saying what is wrong with it."""
        field = self.query_one("#user", Input)
        result = field.validate(field.value)
        if result is not None and not result.is_valid:
            self.notify(" ".join(result.failure_descriptions), title="User", severity="warning")
            return ""
        return field.value.strip()

    def user_to_change(self) -> str:
        """The user whose values are on screen, or "" (after loading the typed user) when the field names another."""
        user = self.typed_user()
        if not user:
            return ""
        if user != self.loaded_user:
            self.notify(
                f"Loaded {user}'s values instead of changing them: check them, then save again.",
                title="Nothing changed",
                severity="warning",
            )
            self.console.select_user(user)
            self.load(user)
            return ""
        return user

    def confirm_reset(self, reset: Callable[[str], object]) -> None:
        """Ask before putting the user on screen back on the defaults, then call `reset(user)`."""
        user = self.user_to_change()
        if not user:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                reset(user)

        self.app.push_screen(ConfirmModal(f"Put {user} back on {self.RESET_WHAT}?", "Reset"), confirmed)

    def shown(self, user: str) -> None:
        """Record that the form now shows `user`'s values."""
        self.loaded_user = user
        self.console.remember_users([user])

    def refused(self, failure: GatewayFailure) -> None:
        """Report a failed call, naming fields by their labels on this screen.

        An unknown user is not a dead end: the notification says where to make their first key.
        """
        if failure.field == "user" and "create a key for them first" in failure.message:
            failure = GatewayFailure(
                failure.code,
                failure.reason,
                f"{failure.message}: on Keys (F2) type their name, Enter, then n.",
                failure.field,
            )
        report_failure(self, failure, self.FIELD_LABELS)

    def load(self, user: str) -> None:
        """Load `user`'s values into the form."""
        raise NotImplementedError
