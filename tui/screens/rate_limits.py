"""Admin: a user's rate limits (requests and tokens per minute); save them or reset to the defaults."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import ClassVar

from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.validation import Integer
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static

from llmgw.tui.client import GatewayFailure
from llmgw.tui.format import clock
from llmgw.tui.messages import RateLimitSaved
from llmgw.tui.screens.user_base import UserScreen
from llmgw.v1 import quota_pb2

MAX_RPM = 1_000_000
MAX_TPM = 1_000_000_000
RPM_LABEL = "Requests per minute (0: unlimited)"
TPM_LABEL = "Tokens per minute, input plus output (0: unlimited)"


def _per_minute(value: int) -> str:
    return "unlimited" if value == 0 else f"{value:,}"


class RateLimitsScreen(UserScreen):
    """Reads and changes one user's rate limits through QuotaService."""

    CSS_PATH = "rate_limits.tcss"
    TITLE = "Rate limits"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save"),
        Binding("ctrl+b", "reset", "Reset to default"),
    ]
    FIELD_LABELS: ClassVar[Mapping[str, str]] = {
        "user": "User",
        "requests_per_minute": RPM_LABEL,
        "tokens_per_minute": TPM_LABEL,
    }
    RESET_WHAT = "the default rate limits (DEFAULT_RPM, DEFAULT_TPM)"

    def compose_admin(self) -> Iterable[Widget]:
        """User field, then the two limits."""
        yield from self.compose_user(
            Button("Save (^s)", variant="primary", id="save"),
            Button("Reset (^b)", variant="warning", id="reset"),
        )
        yield Static("Load a user to see their rate limits.", id="origin")
        with Vertical(id="form"):
            yield Label(RPM_LABEL)
            yield Input(placeholder="60", id="rpm", validators=[Integer(minimum=0, maximum=MAX_RPM)])
            yield Label(TPM_LABEL)
            yield Input(placeholder="100000", id="tpm", validators=[Integer(minimum=0, maximum=MAX_TPM)])
            yield Static("", id="problem")

    def load(self, user: str) -> None:
        """Load the user's rate limits."""
        self._load(user)

    @on(Input.Changed, "#rpm, #tpm")
    def _checked(self, event: Input.Changed) -> None:
        problems = [] if event.validation_result is None else event.validation_result.failure_descriptions
        self.query_one("#problem", Static).update(" ".join(problems))

    @on(Input.Submitted, "#rpm, #tpm")
    def _submitted(self) -> None:
        self.action_save()

    @work(exclusive=True, group="limit")
    async def _load(self, user: str) -> None:
        try:
            limit = await self.client.get_rate_limit(user)
        except GatewayFailure as failure:
            self.refused(failure)
            return
        self._show(limit)

    def _show(self, limit: quota_pb2.RateLimit) -> None:
        self.shown(limit.user)
        origin = "the defaults" if limit.is_default else "their own limits"
        self.query_one("#origin", Static).update(
            f"{limit.user}: {origin}, {_per_minute(limit.requests_per_minute)} requests and "
            f"{_per_minute(limit.tokens_per_minute)} tokens a minute · as of {clock(self.console.now())}"
        )
        self.query_one("#rpm", Input).value = str(limit.requests_per_minute)
        self.query_one("#tpm", Input).value = str(limit.tokens_per_minute)

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        """Give the user on screen the limits in the form."""
        values: list[int] = []
        for field_id, label in (("#rpm", RPM_LABEL), ("#tpm", TPM_LABEL)):
            field = self.query_one(field_id, Input)
            result = field.validate(field.value)
            if result is not None and not result.is_valid:
                self.notify(
                    f"{label}: {' '.join(result.failure_descriptions)}", title="Invalid input", severity="error"
                )
                field.focus()
                return
            values.append(int(field.value))
        user = self.user_to_change()
        if user:
            self._save(user, values[0], values[1])

    @work(exclusive=True, group="limit")
    async def _save(self, user: str, rpm: int, tpm: int) -> None:
        try:
            limit = await self.client.set_rate_limit(user, rpm, tpm)
        except GatewayFailure as failure:
            self.refused(failure)
            return
        self._saved(limit, "Saved")

    @on(Button.Pressed, "#reset")
    def action_reset(self) -> None:
        """Put the user on screen back on the default rate limits, after confirming."""
        self.confirm_reset(self._reset)

    @work(exclusive=True, group="limit")
    async def _reset(self, user: str) -> None:
        try:
            limit = await self.client.reset_rate_limit(user)
        except GatewayFailure as failure:
            self.refused(failure)
            return
        self._saved(limit, "Reset")

    def _saved(self, limit: quota_pb2.RateLimit, verb: str) -> None:
        self._show(limit)
        self.notify(f"{verb} the rate limits of {limit.user}.")
        self.post_message(
            RateLimitSaved(limit.user, limit.requests_per_minute, limit.tokens_per_minute, limit.is_default)
        )
