"""Who is calling: API-key authentication and the per-call principal.

The auth interceptor resolves the `authorization` metadata to a Principal once per
call and stores it in a ContextVar; handlers read it through current_principal().
Verified keys are cached for a short, configured time (KEY_CACHE_SECONDS) so the
hot path does not hit the database on every call; an expired key is refused the
moment it expires, cached or not. A key deleted through this replica is evicted
from its cache at once (`forget`); another replica refuses it when its cache entry
runs out, so within KEY_CACHE_SECONDS. Each key's last_used_at is queued for the
group-commit writer at most once a minute, never written on the call's path.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from llmgw.server.core.keys import hash_api_key, looks_like_api_key
from llmgw.server.store import keys_repo
from llmgw.server.store.runner import DatabaseRunner
from llmgw.wire.errors import Unauthenticated

_MISSING_KEY = (
    "Missing API key. Pass it as 'authorization: Bearer sk-...' metadata "
    "(the OpenAI SDK's api_key does this over HTTP)."
)
_NOT_BEARER = "The Authorization header must use the Bearer scheme: 'Authorization: Bearer sk-llmgw-...'."
_INVALID_KEY = "Invalid API key: it is unknown, was deleted, or is malformed."
_EXPIRED_KEY = "The API key has expired. Create a new key."
LAST_USED_INTERVAL_S = 60.0


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one RPC."""

    user: str
    key_name: str
    key_id: int
    is_admin: bool


_current: ContextVar[Principal] = ContextVar("llmgw_principal")


def current_principal() -> Principal:
    """The caller of the RPC being handled; only valid inside an authenticated handler."""
    return _current.get()


def set_principal(principal: Principal) -> object:
    """Bind the caller for the current call; returns the token to reset it with."""
    return _current.set(principal)


def reset_principal(token: object) -> None:
    """Unbind the caller bound by set_principal."""
    _current.reset(token)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class _CachedKey:
    principal: Principal
    expires_at: datetime | None
    cached_until: float


def looks_like_jwt(token: str) -> bool:
    """Whether a bearer token has the JWS compact shape (three dot-separated parts)."""
    parts = token.split(".")
    return len(parts) == 3 and all(parts[:2])


def bearer_token(metadata: Sequence[tuple[str, str | bytes]]) -> str | None:
    """The key from `authorization: Bearer <key>` metadata, else from `x-api-key` (Anthropic's header), or None.

    An `authorization` value without the Bearer scheme (a raw key, `Basic ...`) is refused
    with Unauthenticated saying so, unless an `x-api-key` carries the key.
    """
    api_key = None
    unscheme = False
    for name, value in metadata:
        if name == "authorization":
            text = value.decode("latin-1") if isinstance(value, bytes) else value
            scheme, _, token = text.strip().partition(" ")
            if scheme.lower() == "bearer":
                return token.strip()
            unscheme = True
        if name == "x-api-key" and api_key is None:
            api_key = (value.decode("latin-1") if isinstance(value, bytes) else value).strip()
    if api_key is None and unscheme:
        raise Unauthenticated(_NOT_BEARER)
    return api_key


class KeyAuthenticator:
    """Turns a bearer API key into a Principal, or raises Unauthenticated."""

    def __init__(
        self,
        server_secret: bytes,
        is_admin: Callable[[str], bool],
        db: DatabaseRunner,
        cache_seconds: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_use: Callable[[int, datetime], None] | None = None,
    ) -> None:
        self._server_secret = server_secret
        self._is_admin = is_admin
        self._db = db
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._on_use = on_use
        self._cache: dict[str, _CachedKey] = {}
        self._last_use_noted: dict[int, float] = {}

    async def authenticate(self, metadata: Sequence[tuple[str, str | bytes]]) -> Principal:
        """The caller named by the call's metadata; Unauthenticated says why not."""
        secret = bearer_token(metadata)
        if not secret:
            raise Unauthenticated(_MISSING_KEY)
        if not looks_like_api_key(secret):
            raise Unauthenticated(_INVALID_KEY)
        key_hash = hash_api_key(secret, self._server_secret)
        cached = self._cache.get(key_hash)
        if cached is None or cached.cached_until < time.monotonic():
            cached = await self._load(key_hash)
        now = self._clock()
        if cached.expires_at is not None and cached.expires_at <= now:
            raise Unauthenticated(_EXPIRED_KEY)
        key_id = cached.principal.key_id
        noted = self._last_use_noted.get(key_id)
        if self._on_use is not None and (noted is None or noted <= time.monotonic() - LAST_USED_INTERVAL_S):
            self._last_use_noted[key_id] = time.monotonic()
            self._on_use(key_id, now)
        return cached.principal

    def forget(self, user: str, key_name: str) -> None:
        """Evict the user's key of that name from the cache, so a deletion works at once here."""
        for key_hash, cached in list(self._cache.items()):
            if cached.principal.user == user and cached.principal.key_name == key_name:
                del self._cache[key_hash]

    async def _load(self, key_hash: str) -> _CachedKey:
        row = await self._db.run(lambda: keys_repo.find_key_by_hash(key_hash))
        if row is None:
            self._cache.pop(key_hash, None)
            raise Unauthenticated(_INVALID_KEY)
        principal = Principal(user=row.user, key_name=row.name, key_id=row.id, is_admin=self._is_admin(row.user))
        cached = _CachedKey(principal, row.expires_at, time.monotonic() + self._cache_seconds)
        self._cache[key_hash] = cached
        return cached


class Authenticator(Protocol):
    """Anything that turns a call's metadata into a Principal (or raises Unauthenticated)."""

    async def authenticate(self, metadata: Sequence[tuple[str, str | bytes]]) -> Principal:
        """The caller named by the call's metadata."""
        ...


class BearerAuthenticator:
    """Sends each bearer token to the right verifier: API keys to the key store, JWTs to SSO.

    `verify_jwt` is None when no OIDC issuer is configured; a JWT is then refused
    by the key authenticator like any other unknown credential.
    """

    def __init__(
        self,
        keys: KeyAuthenticator,
        verify_jwt: Callable[[str], Awaitable[Principal]] | None,
    ) -> None:
        self._keys = keys
        self._verify_jwt = verify_jwt

    async def authenticate(self, metadata: Sequence[tuple[str, str | bytes]]) -> Principal:
        """The caller named by the call's metadata; Unauthenticated says why not."""
        token = bearer_token(metadata)
        if token and self._verify_jwt is not None and not looks_like_api_key(token) and looks_like_jwt(token):
            return await self._verify_jwt(token)
        return await self._keys.authenticate(metadata)
