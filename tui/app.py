"""The Textual app: sign in, then move between screens; the screens do the work.

Screens live in modes, so each keeps its state while another is shown. The admin
modes exist only for admins; the footer hides their keys from everyone else, and
asking for one anyway is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from llmgw.tui.messages import AdminRefused
from llmgw.tui.screens.chat import ChatScreen
from llmgw.tui.screens.keys import KeysScreen
from llmgw.tui.screens.model_access import ModelAccessScreen
from llmgw.tui.screens.quota_status import QuotaStatusScreen
from llmgw.tui.screens.quotas import QuotasScreen
from llmgw.tui.screens.signin import Session, SignInScreen
from llmgw.tui.screens.usage import UsageScreen


@dataclass(frozen=True, slots=True)
class Place:
    """A screen the user can go to, and who may."""

    title: str
    help: str
    admin_only: bool
    build: Callable[[Session], Screen[None]]


PLACES: dict[str, Place] = {
    "chat": Place("Chat", "Talk with a model", False, lambda s: ChatScreen(s.client)),
    "keys": Place("My keys", "Create, list and delete your API keys", False, lambda s: KeysScreen(s.client)),
    "access": Place(
        "Model access", "Admin: which models a user may call", True, lambda s: ModelAccessScreen(s.client, s.identity)
    ),
    "quotas": Place("Quotas", "Admin: a user's cost quota", True, lambda s: QuotasScreen(s.client, s.identity)),
    "status": Place(
        "Quota status", "Admin: a user's spend this period", True, lambda s: QuotaStatusScreen(s.client, s.identity)
    ),
    "usage": Place("Usage", "Admin: request log and spend charts", True, lambda s: UsageScreen(s.client, s.identity)),
}


class GatewayApp(App[None]):
    """The LLM Gateway terminal UI."""

    TITLE = "LLM Gateway"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "show('chat')", "Chat"),
        Binding("f2", "show('keys')", "Keys"),
        Binding("f3", "show('access')", "Access"),
        Binding("f4", "show('quotas')", "Quotas"),
        Binding("f5", "show('status')", "Status"),
        Binding("f6", "show('usage')", "Usage"),
    ]

    def __init__(
        self, target: str, api_key: str = "", *, auto_sign_in: bool = True, root_certificates: bytes | None = None
    ) -> None:
        super().__init__()
        self._target = target
        self._api_key = api_key
        self._auto_sign_in = auto_sign_in
        self._root_certificates = root_certificates
        self.session: Session | None = None

    def on_mount(self) -> None:
        """Ask for (or check) the credentials first."""
        signin = SignInScreen(
            self._target, self._api_key, auto=self._auto_sign_in, root_certificates=self._root_certificates
        )
        self.push_screen(signin, self._signed_in)

    async def on_unmount(self) -> None:
        """Close the gateway connection."""
        if self.session is not None:
            await self.session.client.close()

    async def _signed_in(self, session: Session | None) -> None:
        if session is None:
            return
        self.session = session
        for name, place in PLACES.items():
            if session.identity.is_admin or not place.admin_only:
                self.add_mode(name, partial(place.build, session))
        await self.switch_mode("chat")
        who = session.identity.user or "signed in"
        self.sub_title = f"{who}{' (admin)' if session.identity.is_admin else ''}"
        self.refresh_bindings()

    def _allowed(self, name: str) -> bool:
        place = PLACES.get(name)
        if self.session is None or place is None:
            return False
        return self.session.identity.is_admin or not place.admin_only

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide the keys of screens the user may not open (and all of them before sign-in)."""
        if action == "show" and parameters:
            return self._allowed(str(parameters[0]))
        return True

    def action_show(self, name: str) -> None:
        """Go to a screen, if the user may."""
        if self._allowed(name):
            self.switch_mode(name)
            return
        if self.session is not None and name in PLACES:
            self.notify(f"{PLACES[name].title} is for admins only.", title="Not allowed", severity="error")
            self.post_message(AdminRefused(name))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The palette offers every screen the user may open, then Textual's own commands."""
        for name, place in PLACES.items():
            if self._allowed(name):
                yield SystemCommand(f"Go to {place.title}", place.help, lambda name=name: self.action_show(name))
        yield from super().get_system_commands(screen)


def run_tui(target: str, api_key: str, root_certificates: bytes | None = None) -> None:
    """Run the UI until the user quits; an empty key means the sign-in screen asks for one.

    `root_certificates` (PEM) makes the connection TLS, trusting that CA.
    """
    GatewayApp(target, api_key, root_certificates=root_certificates).run()
