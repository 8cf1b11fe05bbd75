"""Admin: which catalog models a user may call; save a selection or reset to the default."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Button, Input, SelectionList, Static

from llmgw.tui.client import GatewayFailure
from llmgw.tui.feedback import report_failure
from llmgw.tui.messages import ModelAccessSaved
from llmgw.tui.screens.admin_base import AdminScreen
from llmgw.v1 import model_access_pb2

EVERY_MODEL = "*"


class ModelAccessScreen(AdminScreen):
    """A multi-select of the catalog's models for one user, through PolicyService."""

    CSS_PATH = "model_access.tcss"
    TITLE = "Model access"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save"),
        Binding("ctrl+r", "reset", "Reset", show=False),
    ]

    _catalog: frozenset[str] | set[str] = frozenset()

    def compose_admin(self) -> Iterable[Widget]:
        """User field, policy origin and the model list."""
        with Horizontal(id="who"):
            yield Input(placeholder="user name, Enter to load", id="user")
            yield Button("Load", id="load")
            yield Button("Save", variant="primary", id="save")
            yield Button("Reset (^r)", variant="warning", id="reset")
        yield Static("Load a user to see their model access.", id="origin")
        yield SelectionList[str](id="models")

    def start(self) -> None:
        """Fill the list with the catalog's models."""
        self.query_one("#user", Input).focus()
        self._load_catalog()

    @work(exclusive=True, group="catalog")
    async def _load_catalog(self) -> None:
        try:
            models = await self.client.list_models()
        except GatewayFailure as failure:
            report_failure(self, failure)
            return
        self._catalog = {model.id for model in models}
        self._options(selected=())

    def _options(self, selected: Iterable[str]) -> None:
        chosen = set(selected)
        listing = self.query_one("#models", SelectionList)
        everything = sorted(self._catalog | chosen - {EVERY_MODEL})
        listing.clear_options()
        listing.add_option(("* every model of the catalog", EVERY_MODEL, EVERY_MODEL in chosen))
        listing.add_options((model, model, model in chosen) for model in everything)

    @on(Input.Submitted, "#user")
    @on(Button.Pressed, "#load")
    def _load_pressed(self) -> None:
        user = self._user()
        if user:
            self._load(user)

    def _user(self) -> str:
        user = self.query_one("#user", Input).value.strip()
        if not user:
            self.notify("Enter a user name first.", severity="warning")
        return user

    @work(exclusive=True, group="access")
    async def _load(self, user: str) -> None:
        try:
            access = await self.client.get_model_access(user)
        except GatewayFailure as failure:
            report_failure(self, failure)
            return
        self._show(access)

    def _show(self, access: model_access_pb2.ModelAccess) -> None:
        origin = "the default (DEFAULT_MODEL_ACCESS)" if access.is_default else "their own policy"
        self.query_one("#origin", Static).update(f"{access.user}: {origin}, {len(access.models)} entries")
        self._options(access.models)
        self.query_one("#models", SelectionList).focus()

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        """Give the user exactly the selected models."""
        user = self._user()
        if user:
            selected = [str(value) for value in self.query_one("#models", SelectionList).selected]
            self._save(user, [EVERY_MODEL] if EVERY_MODEL in selected else selected)

    @work(exclusive=True, group="access")
    async def _save(self, user: str, models: list[str]) -> None:
        try:
            access = await self.client.set_model_access(user, models)
        except GatewayFailure as failure:
            report_failure(self, failure)
            return
        self._saved(access, "Saved")

    @on(Button.Pressed, "#reset")
    def action_reset(self) -> None:
        """Put the user back on the default model access."""
        user = self._user()
        if user:
            self._reset(user)

    @work(exclusive=True, group="access")
    async def _reset(self, user: str) -> None:
        try:
            access = await self.client.reset_model_access(user)
        except GatewayFailure as failure:
            report_failure(self, failure)
            return
        self._saved(access, "Reset")

    def _saved(self, access: model_access_pb2.ModelAccess, verb: str) -> None:
        self._show(access)
        self.notify(f"{verb} the model access of {access.user}.")
        self.post_message(ModelAccessSaved(access.user, tuple(access.models), access.is_default))
