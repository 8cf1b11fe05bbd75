"""SSO bearer tokens: JWTs from configured OpenID Connect issuers, verified against their JWKS.

People who sign in through Amazon Cognito, Microsoft Entra ID or an OIDC proxy in front of
GitHub (as the seed did) call the gateway with the ID or access token their provider issued,
instead of an API key. A token is accepted only when its issuer is configured (OIDC_ISSUERS),
its algorithm is on that issuer's allow-list (asymmetric only: never `none`, never HS*), its
signature verifies against a key of the issuer's JWKS, and its `aud`, `exp` and `nbf` hold
(with JWT_LEEWAY_SECONDS of clock skew). Every refusal is an Unauthenticated error saying why.

Each issuer's JWKS is cached for JWKS_CACHE_SECONDS. A token signed with a key id the cache
does not know (the issuer rotated its keys) triggers one refetch, at most once every
JWKS_MIN_REFRESH_SECONDS per issuer, so a flood of forged key ids cannot turn the gateway
into a load generator against the identity provider. Fetches run on a worker thread and
never block the event loop.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import jwt

from llmgw.server.governance.identity import Principal
from llmgw.server.governance.roles import user_name_for
from llmgw.server.settings import OidcIssuer
from llmgw.wire.errors import Unauthenticated

FETCH_TIMEOUT_S = 5.0
MAX_DOCUMENT_BYTES = 1024 * 1024
DISCOVERY_PATH = "/.well-known/openid-configuration"

Fetch = Callable[[str], dict[str, Any]]


def fetch_json(url: str) -> dict[str, Any]:
    """GET a JSON object over HTTP(S), bounded in time and size; raises OSError or ValueError."""
    request = urllib.request.Request(url, headers={"accept": "application/json"})  # noqa: S310 - http(s) only
    with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S) as response:  # noqa: S310 - checked in settings
        body = response.read(MAX_DOCUMENT_BYTES + 1)
    if len(body) > MAX_DOCUMENT_BYTES:
        raise ValueError(f"{url}: document larger than {MAX_DOCUMENT_BYTES} bytes")
    document = json.loads(body)
    if not isinstance(document, dict):
        raise ValueError(f"{url}: expected a JSON object")
    return document


class JwksCache:
    """The signing keys of one issuer, by key id, fetched lazily and refreshed on an unknown key id."""

    def __init__(self, issuer: OidcIssuer, cache_seconds: float, min_refresh_seconds: float, fetch: Fetch) -> None:
        self._issuer = issuer
        self._cache_seconds = cache_seconds
        self._min_refresh_seconds = min_refresh_seconds
        self._fetch = fetch
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._jwks_uri = issuer.jwks_uri
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> jwt.PyJWK:
        """The issuer's key with this id (or its only key when the token names none)."""
        stale = self._fetched_at is None or time.monotonic() - self._fetched_at > self._cache_seconds
        if stale or self._find(kid) is None:
            async with self._lock:
                fetched_at = self._fetched_at
                may_refresh = fetched_at is None or time.monotonic() - fetched_at >= self._min_refresh_seconds
                if (stale or self._find(kid) is None) and may_refresh:
                    await self._refresh()
        found = self._find(kid)
        if found is None:
            raise Unauthenticated(f"Invalid token: signing key {kid!r} is unknown to issuer {self._issuer.issuer}.")
        return found

    def _find(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        try:
            keys = await asyncio.to_thread(self._load)
        except (OSError, ValueError, jwt.PyJWKError, jwt.PyJWKSetError):
            self._fetched_at = time.monotonic()  # back off like a successful fetch; keep the old keys
            raise Unauthenticated(
                f"Invalid token: the signing keys of issuer {self._issuer.issuer} could not be fetched."
            ) from None
        self._keys = keys
        self._fetched_at = time.monotonic()

    def _load(self) -> dict[str | None, jwt.PyJWK]:
        if self._jwks_uri is None:
            discovery = self._fetch(self._issuer.issuer.rstrip("/") + DISCOVERY_PATH)
            uri = discovery.get("jwks_uri")
            if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
                raise ValueError("the discovery document has no http(s) jwks_uri")
            self._jwks_uri = uri
        document = self._fetch(self._jwks_uri)
        keys: dict[str | None, jwt.PyJWK] = {}
        for data in document.get("keys", []):
            if not isinstance(data, dict) or data.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK(data)
            except (jwt.PyJWKError, jwt.InvalidKeyError):
                continue  # a key type we cannot use (e.g. an encryption key) must not hide the others
            keys[data.get("kid")] = key
        return keys


_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "the token has expired"),
    (jwt.ImmatureSignatureError, "the token is not valid yet (nbf)"),
    (jwt.InvalidAudienceError, "wrong audience"),
    (jwt.InvalidIssuerError, "wrong issuer"),
    (jwt.InvalidSignatureError, "bad signature"),
    (jwt.InvalidAlgorithmError, "algorithm not allowed"),
    (jwt.MissingRequiredClaimError, "a required claim is missing"),
)


def _reason(error: jwt.PyJWTError) -> str:
    for cls, reason in _REASONS:
        if isinstance(error, cls):
            return reason
    return "malformed token"


class OidcAuthenticator:
    """Turns a JWT from a configured issuer into a Principal, or raises Unauthenticated saying why."""

    def __init__(
        self,
        issuers: tuple[OidcIssuer, ...],
        is_admin: Callable[[str], bool],
        *,
        leeway_seconds: float,
        cache_seconds: float,
        min_refresh_seconds: float,
        fetch: Fetch = fetch_json,
    ) -> None:
        self._issuers = {issuer.issuer: issuer for issuer in issuers}
        self._caches = {
            issuer.issuer: JwksCache(issuer, cache_seconds, min_refresh_seconds, fetch) for issuer in issuers
        }
        self._is_admin = is_admin
        self._leeway = leeway_seconds

    async def authenticate_token(self, token: str) -> Principal:
        """The caller a token names; Unauthenticated with the reason when it is not acceptable."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise Unauthenticated("Invalid token: malformed JWT.") from None
        issuer = self._issuers.get(str(unverified.get("iss", "")))
        if issuer is None:
            raise Unauthenticated("Invalid token: wrong issuer (not one this gateway trusts).")
        algorithm = header.get("alg")
        if algorithm not in issuer.algorithms:
            raise Unauthenticated(f"Invalid token: algorithm {algorithm!r} not allowed for this issuer.")
        kid = header.get("kid")
        key = await self._caches[issuer.issuer].key(kid if isinstance(kid, str) else None)
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=list(issuer.audience),
                issuer=issuer.issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"Invalid token: {_reason(exc)}.") from None
        identity = claims.get(issuer.username_claim)
        if not isinstance(identity, str) or not identity.strip():
            raise Unauthenticated(f"Invalid token: the {issuer.username_claim!r} claim is missing or empty.")
        try:
            user = user_name_for(identity)
        except ValueError:
            raise Unauthenticated(f"Invalid token: the {issuer.username_claim!r} claim is too long.") from None
        return Principal(
            user=user,
            key_name=f"sso:{urlsplit(issuer.issuer).hostname or issuer.issuer}",
            key_id=0,
            is_admin=self._is_admin(user) or _in_admin_group(issuer, claims),
        )


def _in_admin_group(issuer: OidcIssuer, claims: dict[str, Any]) -> bool:
    """Whether the token's group claim (a string or a list of strings) holds the admin group."""
    if issuer.admin_group_claim is None:
        return False
    groups = claims.get(issuer.admin_group_claim)
    if isinstance(groups, str):
        return groups == issuer.admin_group
    return isinstance(groups, list) and issuer.admin_group in groups
