"""Sign-in: the gateway's address and the user's API key, checked against the gateway."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Static

from llmgw.tui.client import GatewayClient, GatewayFailure, Identity
from llmgw.tui.messages import SignedIn


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in client and who it speaks for; what the other screens are given."""

    client: GatewayClient
    identity: Identity


class SignInScreen(Screen[Session]):
    """Asks for the target and key (prefilled from flags or LLMGW_API_KEY) and checks them."""

    CSS_PATH = "signin.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+s", "sign_in", "Sign in", priority=True)]

    def __init__(self, target: str, api_key: str, *, auto: bool, root_certificates: bytes | None = None) -> None:
        super().__init__()
        self._target = target
        self._api_key = api_key
        self._auto = auto
        self._root_certificates = root_certificates

    def compose(self) -> ComposeResult:
        """The screen's widgets."""
        with Vertical(id="card"):
            yield Static("LLM Gateway", id="title")
            yield Label("Gateway address (HOST:PORT)")
            yield Input(self._target, placeholder="127.0.0.1:50051", id="target")
            yield Label("API key")
            yield Input(self._api_key, placeholder="sk-…", password=True, id="key")
            yield Button("Sign in", variant="primary", id="sign-in")
            yield Static("", id="problem")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        """Sign in at once when the key came from a flag or the environment."""
        self.query_one("#key" if self._target else "#target", Input).focus()
        if self._auto and self._target and self._api_key:
            self.action_sign_in()

    @on(Input.Submitted)
    @on(Button.Pressed, "#sign-in")
    def action_sign_in(self) -> None:
        """Check the address and key with the gateway."""
        target = self.query_one("#target", Input).value.strip()
        key = self.query_one("#key", Input).value.strip()
        if not target or not key:
            self._problem("Enter the gateway address and your API key.")
            return
        self._problem("Signing in…", busy=True)
        self._sign_in(target, key)

    @work(exclusive=True)
    async def _sign_in(self, target: str, key: str) -> None:
        client = GatewayClient(target, key, self._root_certificates)
        try:
            identity = await client.identify()
        except GatewayFailure as failure:
            await client.close()
            if failure.code == "UNAUTHENTICATED":
                self._problem(f"The gateway rejected this key: {failure.message}")
            else:
                self._problem(str(failure))
            return
        self.post_message(SignedIn(target, identity.user, identity.is_admin))
        self.dismiss(Session(client, identity))

    def _problem(self, text: str, *, busy: bool = False) -> None:
        problem = self.query_one("#problem", Static)
        problem.update(text)
        problem.set_class(not busy and bool(text), "-error")
