"""Admin: which catalog models a user may call; save a selection or reset to the default."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import ClassVar

from textual import on, work
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import Button, SelectionList, Static

from llmgw.tui.client import GatewayFailure
from llmgw.tui.format import clock
from llmgw.tui.messages import ModelAccessSaved
from llmgw.tui.screens.user_base import UserScreen
from llmgw.v1 import model_access_pb2

EVERY_MODEL = "*"


class ModelAccessScreen(UserScreen):
    """A multi-select of the whole catalog for one user, through PolicyService."""

    CSS_PATH = "model_access.tcss"
    TITLE = "Model access"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save"),
        Binding("ctrl+b", "reset", "Reset to default"),
    ]
    FIELD_LABELS: ClassVar[Mapping[str, str]] = {"user": "User", "models": "Models"}
    RESET_WHAT = "the default model access (DEFAULT_MODEL_ACCESS)"

    def compose_admin(self) -> Iterable[Widget]:
        """User field, policy origin and the model list."""
        yield from self.compose_user(
            Button("Save (^s)", variant="primary", id="save"),
            Button("Reset (^b)", variant="warning", id="reset"),
        )
        yield Static("Load a user to see their model access.", id="origin")
        yield SelectionList[str](id="models")

    def start(self) -> None:
        """Fill the list with the whole catalog."""
        super().start()
        self._load_catalog()

    @work(exclusive=True, group="catalog")
    async def _load_catalog(self) -> None:
        if not self.console.catalog:
            try:
                self.console.catalog = await self.client.catalog()
            except GatewayFailure as failure:
                self.refused(failure)
                return
        if not self.loaded_user:
            self._options(selected=())

    def _options(self, selected: Iterable[str]) -> None:
        chosen = set(selected)
        listing = self.query_one("#models", SelectionList)
        everything = sorted(set(self.console.model_ids) | chosen - {EVERY_MODEL})
        listing.clear_options()
        listing.add_option(("* every model of the catalog", EVERY_MODEL, EVERY_MODEL in chosen))
        listing.add_options((model, model, model in chosen) for model in everything)

    def load(self, user: str) -> None:
        """Load the user's model access."""
        self._load(user)

    @work(exclusive=True, group="access")
    async def _load(self, user: str) -> None:
        try:
            access = await self.client.get_model_access(user)
        except GatewayFailure as failure:
            self.refused(failure)
            return
        self._show(access)

    def _show(self, access: model_access_pb2.ModelAccess) -> None:
        self.shown(access.user)
        origin = "the default (DEFAULT_MODEL_ACCESS)" if access.is_default else "their own policy"
        entries = "1 entry" if len(access.models) == 1 else f"{len(access.models)} entries"
        self.query_one("#origin", Static).update(
            f"{access.user}: {origin}, {entries} · as of {clock(self.console.now())}"
        )
        self._options(access.models)
        self.query_one("#models", SelectionList).focus()

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        """Give the user on screen exactly the selected models."""
        user = self.user_to_change()
        if user:
            selected = [str(value) for value in self.query_one("#models", SelectionList).selected]
            self._save(user, [EVERY_MODEL] if EVERY_MODEL in selected else selected)

    @work(exclusive=True, group="access")
    async def _save(self, user: str, models: list[str]) -> None:
        try:
            access = await self.client.set_model_access(user, models)
        except GatewayFailure as failure:
            self.refused(failure)
            return
        self._saved(access, "Saved")

    @on(Button.Pressed, "#reset")
    def action_reset(self) -> None:
        """Put the user on screen back on the default model access, after confirming."""
        self.confirm_reset(self._reset)

    @work(exclusive=True, group="access")
    async def _reset(self, user: str) -> None:
        try:
            access = await self.client.reset_model_access(user)
        except GatewayFailure as failure:
            self.refused(failure)
            return
        self._saved(access, "Reset")

    def _saved(self, access: model_access_pb2.ModelAccess, verb: str) -> None:
        self._show(access)
        self.notify(f"{verb} the model access of {access.user}.")
        self.post_message(ModelAccessSaved(access.user, tuple(access.models), access.is_default))
