"""Messages the screens post when something the user did has happened.

They let the app react (switching screens after sign-in) and let tests watch the
UI's behaviour with `run_test(message_hook=...)` instead of scraping widgets.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass(eq=False)
class SignedIn(Message):
    """The key was accepted by the gateway at `target`."""

    target: str
    user: str
    is_admin: bool


@dataclass(eq=False)
class ChatAnswered(Message):
    """An answer finished streaming (or was stopped); cost is empty when no usage arrived."""

    model: str
    text: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: str
    stopped: bool


@dataclass(eq=False)
class KeyCreated(Message):
    """A key was created and its secret shown."""

    name: str


@dataclass(eq=False)
class KeyDeleted(Message):
    """A key was deleted after confirmation."""

    name: str


@dataclass(eq=False)
class ModelAccessSaved(Message):
    """An admin saved or reset a user's model access; `models` is what is now in effect."""

    user: str
    models: tuple[str, ...]
    is_default: bool


@dataclass(eq=False)
class QuotaSaved(Message):
    """An admin saved or reset a user's quota; the fields are what is now in effect."""

    user: str
    frequency: str
    limit_usd: str
    is_default: bool


@dataclass(eq=False)
class ServerRefused(Message):
    """The gateway refused a call; the screen showed it as a notification and kept its state."""

    code: str
    reason: str
    message: str


@dataclass(eq=False)
class AdminRefused(Message):
    """A non-admin tried to open an admin screen and was turned away."""

    screen: str


@dataclass(eq=False)
class RateLimitSaved(Message):
    """An admin saved or reset a user's rate limits; the fields are what is now in effect."""

    user: str
    requests_per_minute: int
    tokens_per_minute: int
    is_default: bool


@dataclass(eq=False)
class UserPicked(Message):
    """An admin picked a user on the Users screen; the per-user screens now follow them."""

    user: str


@dataclass(eq=False)
class LiveState(Message):
    """The live tail's connection changed: `connecting`, `live`, `reconnecting` or `stopped`."""

    state: str
