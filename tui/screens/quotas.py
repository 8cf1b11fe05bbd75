"""Admin: a user's cost quota (period and limit); save it or reset to the default."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import ClassVar

from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static

from llmgw.tui.client import GatewayFailure
from llmgw.tui.format import FREQUENCY_NAMES, clock, usd
from llmgw.tui.messages import QuotaSaved
from llmgw.tui.screens.user_base import UserScreen
from llmgw.v1 import quota_pb2

LIMIT_LABEL = "Limit per period (USD)"


class UsdAmount(Validator):
    """A non-negative USD amount with at most 6 decimals, as the gateway stores it."""

    def validate(self, value: str) -> ValidationResult:
        """Check one typed amount."""
        text = value.strip().removeprefix("$")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            return self.failure(f"{LIMIT_LABEL}: type a number of dollars, like 25 or 12.50.")
        if not amount.is_finite() or amount < 0:
            return self.failure(f"{LIMIT_LABEL}: must be 0 or more.")
        if amount != amount.quantize(Decimal("0.000001")):
            return self.failure(f"{LIMIT_LABEL}: at most 6 decimals.")
        return self.success()


class QuotasScreen(UserScreen):
    """Reads and changes one user's quota through QuotaService."""

    CSS_PATH = "quotas.tcss"
    TITLE = "Quotas"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save"),
        Binding("ctrl+b", "reset", "Reset to default"),
    ]
    FIELD_LABELS: ClassVar[Mapping[str, str]] = {"user": "User", "limit_usd": LIMIT_LABEL, "frequency": "Period"}
    RESET_WHAT = "the default quota (DEFAULT_QUOTA_*)"

    def compose_admin(self) -> Iterable[Widget]:
        """User field, then the quota form."""
        yield from self.compose_user(
            Button("Save (^s)", variant="primary", id="save"),
            Button("Reset (^b)", variant="warning", id="reset"),
        )
        yield Static("Load a user to see their quota.", id="origin")
        with Vertical(id="form"):
            yield Label("Period")
            yield Select[int](
                [(name, value) for value, name in FREQUENCY_NAMES.items()],
                value=quota_pb2.QUOTA_FREQUENCY_WEEKLY,
                allow_blank=False,
                id="frequency",
            )
            yield Label(LIMIT_LABEL)
            yield Input(placeholder="25", id="limit", validators=[UsdAmount()])
            yield Static("", id="problem")

    def load(self, user: str) -> None:
        """Load the user's quota."""
        self._load(user)

    @on(Input.Changed, "#limit")
    def _limit_checked(self, event: Input.Changed) -> None:
        problems = [] if event.validation_result is None else event.validation_result.failure_descriptions
        self.query_one("#problem", Static).update(" ".join(problems))

    @on(Input.Submitted, "#limit")
    def _limit_submitted(self) -> None:
        self.action_save()

    @work(exclusive=True, group="quota")
    async def _load(self, user: str) -> None:
        try:
            quota = await self.client.get_quota(user)
        except GatewayFailure as failure:
            self.refused(failure)
            return
        self._show(quota)

    def _show(self, quota: quota_pb2.Quota) -> None:
        self.shown(quota.user)
        origin = "the default quota" if quota.is_default else "their own quota"
        self.query_one("#origin", Static).update(
            f"{quota.user}: {origin}, {usd(quota.limit_usd)} {FREQUENCY_NAMES.get(quota.frequency, '')}"
            f" · as of {clock(self.console.now())}"
        )
        self.query_one("#frequency", Select).value = quota.frequency
        self.query_one("#limit", Input).value = quota.limit_usd

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        """Give the user on screen the period and limit in the form."""
        field = self.query_one("#limit", Input)
        frequency = self.query_one("#frequency", Select).value
        result = field.validate(field.value)
        if result is not None and not result.is_valid:
            self.notify(" ".join(result.failure_descriptions), title="Invalid input", severity="error")
            field.focus()
            return
        user = self.user_to_change()
        if user and isinstance(frequency, int):
            self._save(user, quota_pb2.QuotaFrequency.ValueType(frequency), field.value.strip().removeprefix("$"))

    @work(exclusive=True, group="quota")
    async def _save(self, user: str, frequency: quota_pb2.QuotaFrequency.ValueType, limit: str) -> None:
        try:
            quota = await self.client.set_quota(user, frequency, limit)
        except GatewayFailure as failure:
            self.refused(failure)
            return
        self._saved(quota, "Saved")

    @on(Button.Pressed, "#reset")
    def action_reset(self) -> None:
        """Put the user on screen back on the default quota, after confirming."""
        self.confirm_reset(self._reset)

    @work(exclusive=True, group="quota")
    async def _reset(self, user: str) -> None:
        try:
            quota = await self.client.reset_quota(user)
        except GatewayFailure as failure:
            self.refused(failure)
            return
        self._saved(quota, "Reset")

    def _saved(self, quota: quota_pb2.Quota, verb: str) -> None:
        self._show(quota)
        self.notify(f"{verb} the quota of {quota.user}.")
        self.post_message(
            QuotaSaved(quota.user, FREQUENCY_NAMES.get(quota.frequency, ""), quota.limit_usd, quota.is_default)
        )
