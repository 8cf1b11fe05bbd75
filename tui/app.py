"""The Textual app: sign in, then move between screens; the screens do the work.

Screens live in modes, so each keeps its state while another is shown. The admin
modes exist only for admins (whose home is the Users screen); the footer hides
their keys from everyone else, and asking for one anyway is refused. After sign-in
the app builds one ConsoleState (tui/state.py) that every screen shares.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.screen import Screen

from llmgw.tui.client import GatewayClient, GatewayFailure
from llmgw.tui.link import LinkState
from llmgw.tui.messages import AdminRefused
from llmgw.tui.screens.chat import ChatScreen
from llmgw.tui.screens.help import HelpModal, key_lines
from llmgw.tui.screens.keys import KeysScreen
from llmgw.tui.screens.live import LiveScreen
from llmgw.tui.screens.model_access import ModelAccessScreen
from llmgw.tui.screens.quota_status import QuotaStatusScreen
from llmgw.tui.screens.quotas import QuotasScreen
from llmgw.tui.screens.rate_limits import RateLimitsScreen
from llmgw.tui.screens.signin import Session, SignInScreen
from llmgw.tui.screens.spend import SpendScreen
from llmgw.tui.screens.usage import UsageScreen
from llmgw.tui.screens.users import UsersScreen
from llmgw.tui.state import ConsoleState


@dataclass(frozen=True, slots=True)
class Place:
    """A screen the user can go to, and who may."""

    title: str
    help: str
    admin_only: bool
    build: Callable[[ConsoleState], Screen[None]]


PLACES: dict[str, Place] = {
    "chat": Place("Chat", "Talk with a model", False, lambda c: ChatScreen(c.client)),
    "keys": Place("Keys", "Create, list and delete API keys (admins: anyone's)", False, KeysScreen),
    "access": Place("Model access", "Admin: which models a user may call", True, ModelAccessScreen),
    "quotas": Place("Quotas", "Admin: a user's cost quota", True, QuotasScreen),
    "status": Place("Quota status", "Admin: a user's spend this period", True, QuotaStatusScreen),
    "usage": Place("Request log", "Admin: requests, filters, pages, detail, CSV", True, UsageScreen),
    "users": Place("Users", "Admin: every user, their spend and settings", True, UsersScreen),
    "rates": Place("Rate limits", "Admin: a user's requests and tokens per minute", True, RateLimitsScreen),
    "live": Place("Live", "Requests as they happen", False, LiveScreen),
    "spend": Place("Spend", "Admin: spend over time, top users, burn-down", True, SpendScreen),
}


# After the gateway was lost, the app asks it again after these pauses (doubling) until it answers.
PROBE_FIRST_S = 1.0
PROBE_MOST_S = 4.0
# While connected and idle, how often the app checks the gateway is still there.
HEARTBEAT_S = 10.0


class GatewayApp(App[None]):
    """The LLM Gateway terminal UI.

    `connection` is the link to the gateway as the client last saw it; every screen's
    header shows it. The app asks the gateway who we are every `heartbeat_s` seconds, so
    an idle console notices a lost gateway too, and while it is down keeps asking until
    it answers.
    """

    TITLE = "LLM Gateway"
    connection: reactive[LinkState | None] = reactive(None)
    # Priority: the function keys switch screens even from a text area that binds some of them.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "show('chat')", "Chat", priority=True),
        Binding("f2", "show('keys')", "Keys", priority=True),
        Binding("f3", "show('access')", "Access", priority=True),
        Binding("f4", "show('quotas')", "Quotas", priority=True),
        Binding("f5", "show('status')", "Status", priority=True),
        Binding("f6", "show('usage')", "Log", priority=True),
        Binding("f7", "show('users')", "Users", priority=True),
        Binding("f8", "show('rates')", "Rates", priority=True),
        Binding("f9", "show('live')", "Live", priority=True),
        Binding("f10", "show('spend')", "Spend", priority=True),
        # A text field takes `?` as text (Textual gives printable keys to the focused field), so F12 too.
        Binding("question_mark", "help", "Keys help"),
        Binding("f12", "help", "Keys help", show=False, priority=True),
    ]

    def __init__(
        self,
        target: str,
        api_key: str = "",
        *,
        auto_sign_in: bool = True,
        root_certificates: bytes | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        export_dir: Path | None = None,
        heartbeat_s: float = HEARTBEAT_S,
    ) -> None:
        super().__init__()
        self._heartbeat_s = heartbeat_s
        self._target = target
        self._api_key = api_key
        self._auto_sign_in = auto_sign_in
        self._root_certificates = root_certificates
        self._clock = clock
        self._export_dir = export_dir
        self.session: Session | None = None
        self.console_state: ConsoleState | None = None
        self._probing = False

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
        self.connection = session.client.link.state
        session.client.link.listen(partial(self._link_changed, session.client))
        self.set_interval(self._heartbeat_s, partial(self._heartbeat, session.client), name="gateway heartbeat")
        console = ConsoleState(session.client, session.identity, now=self._clock)
        if self._export_dir is not None:
            console.export_dir = self._export_dir
        self.console_state = console
        self._load_shared(console)
        for name, place in PLACES.items():
            if session.identity.is_admin or not place.admin_only:
                self.add_mode(name, partial(place.build, console))
        await self.switch_mode("users" if session.identity.is_admin else "chat")
        who = session.identity.user or "signed in"
        self.sub_title = f"{who}{' (admin)' if session.identity.is_admin else ''}"
        self.refresh_bindings()

    @work(group="shared")
    async def _load_shared(self, console: ConsoleState) -> None:
        """The catalog (all of it, for admins) for pickers and completion; screens load it too if needed."""
        try:
            if console.identity.is_admin:
                console.catalog = await console.client.catalog()
            else:
                console.catalog = await console.client.list_models()
        except GatewayFailure:
            return  # the screens that need the catalog report the failure themselves

    def _link_changed(self, client: GatewayClient, state: LinkState) -> None:
        self.connection = state
        if state == "down" and not self._probing:
            self._probing = True
            self._probe(client)

    @work(group="heartbeat", exclusive=True)
    async def _heartbeat(self, client: GatewayClient) -> None:
        """One check that the gateway still answers (the client reports it); the probe takes over when it does not."""
        if client.link.state == "connected":
            with contextlib.suppress(GatewayFailure):
                await client.identify()

    @work(group="probe")
    async def _probe(self, client: GatewayClient) -> None:
        """Ask the gateway who we are, with growing pauses, until it answers (the client reports each try)."""
        pause = PROBE_FIRST_S
        try:
            while True:
                await asyncio.sleep(pause)
                pause = min(pause * 2, PROBE_MOST_S)
                if client.link.state == "connected":  # another call got through meanwhile
                    return
                client.link.retrying()
                with contextlib.suppress(GatewayFailure):  # a refusal is an answer too: the link reports it
                    await client.identify()
        finally:
            self._probing = False

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

    def action_help(self) -> None:
        """Show the keys of the screen in view and the app-wide ones, from their bindings."""
        screen = self.screen
        if isinstance(screen, HelpModal):
            return
        screen_bindings = [binding for bindings in screen._bindings.key_to_bindings.values() for binding in bindings]
        app_bindings = [
            binding
            for bindings in self._bindings.key_to_bindings.values()
            for binding in bindings
            if not binding.action.startswith("show(") or self._allowed(binding.action[len("show('") : -len("')")])
        ]
        title = str(screen.title or screen.TITLE or type(screen).__name__)
        self.push_screen(HelpModal(title, key_lines(screen_bindings), key_lines(app_bindings)))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The palette offers every screen the user may open, then Textual's own commands."""
        for name, place in PLACES.items():
            if self._allowed(name):
                yield SystemCommand(f"Go to {place.title}", place.help, lambda name=name: self.action_show(name))
        yield SystemCommand("Keys of this screen", "List the keys that work here (?)", self.action_help)
        yield from super().get_system_commands(screen)


def run_tui(target: str, api_key: str, root_certificates: bytes | None = None) -> None:
    """Run the UI until the user quits; an empty key means the sign-in screen asks for one.

    `root_certificates` (PEM) makes the connection TLS, trusting that CA.
    """
    GatewayApp(target, api_key, root_certificates=root_certificates).run()
