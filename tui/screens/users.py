"""Admin home: every user the gateway knows, with spend against limit; picking one drives the per-user screens."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual import on, work
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import DataTable, Static

from llmgw.tui.client import GatewayFailure
from llmgw.tui.feedback import report_failure
from llmgw.tui.format import ago, clock, decimal, usd
from llmgw.tui.messages import UserPicked
from llmgw.tui.screens.admin_base import AdminScreen
from llmgw.v1 import user_pb2

COLUMNS = ("User", "Keys", "Spent", "Limit", "Used", "Last request", "Own")


def used_percent(user: user_pb2.User) -> str:
    """Spend as a share of the limit (`-` for a zero limit with nothing spent)."""
    limit, spent = decimal(user.limit_usd), decimal(user.spent_usd)
    if limit <= 0:
        return "100%" if spent > 0 else "-"
    return f"{spent * 100 / limit:.0f}%"


def own_settings(user: user_pb2.User) -> str:
    """Which settings are the user's own: Q(uota), P(olicy), R(ate limit); `-` when all are defaults."""
    flags = "".join(
        flag
        for flag, own in (("Q", user.has_own_quota), ("P", user.has_own_policy), ("R", user.has_own_rate_limit))
        if own
    )
    return flags or "-"


class UsersScreen(AdminScreen):
    """The users table (UserService.ListUsers); Enter picks a user for Access, Quotas, Status, Rates, Keys and Log."""

    CSS_PATH = "users.tcss"
    TITLE = "Users"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "refresh", "Refresh"),
        Binding("a", "open('access')", "Access"),
        Binding("q", "open('quotas')", "Quota"),
        Binding("l", "open('usage')", "Log"),
    ]

    def compose_admin(self) -> Iterable[Widget]:
        """The hint line and the users table."""
        yield Static("Loading users…", id="hint")
        yield DataTable[str](cursor_type="row", zebra_stripes=True, id="users")

    def start(self) -> None:
        """Load the users."""
        self.action_refresh()

    def action_refresh(self) -> None:
        """Reload the users from the gateway."""
        self._load()

    @work(exclusive=True, group="users")
    async def _load(self) -> None:
        try:
            users = await self.client.list_users()
        except GatewayFailure as failure:
            report_failure(self, failure)
            self.query_one("#hint", Static).update(f"Could not list the users: {failure}")
            return
        self.console.remember_users([user.user for user in users])
        self._show(users)

    def _show(self, users: list[user_pb2.User]) -> None:
        table = self.query_one("#users", DataTable)
        table.clear(columns=True)
        table.add_columns(*COLUMNS)
        now = self.console.now()
        for user in users:
            name = f"{user.user} ★" if user.is_admin else user.user
            table.add_row(
                name,
                str(user.keys),
                usd(user.spent_usd),
                usd(user.limit_usd),
                used_percent(user),
                ago(user.last_request_at if user.HasField("last_request_at") else None, now),
                own_settings(user),
                key=user.user,
            )
        picked = self.console.selected_user
        if picked in {user.user for user in users}:
            table.move_cursor(row=table.get_row_index(picked))
        self.query_one("#hint", Static).update(
            f"{len(users)} users · as of {clock(now)} · Enter picks one for the per-user screens · "
            "Own: Q quota, P policy, R rate limit · ★ admin"
        )
        table.focus()

    @on(DataTable.RowSelected, "#users")
    def _picked(self, event: DataTable.RowSelected) -> None:
        user = str(event.row_key.value)
        self.console.select_user(user)
        self.post_message(UserPicked(user))
        self.notify(f"Access, Quotas, Status, Rates, Keys and Log now show {user}.", title="User picked")

    def action_open(self, place: str) -> None:
        """Pick the highlighted user and open one of their screens."""
        table = self.query_one("#users", DataTable)
        if table.row_count == 0:
            return
        user = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        self.console.select_user(user)
        self.post_message(UserPicked(user))
        self.app.switch_mode(place)
