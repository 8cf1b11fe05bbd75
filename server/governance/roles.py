"""Who a governance call is about, and whether the caller may ask.

Every governance service resolves its `user` field here, so the rule is the same
everywhere: absent or `me` is the caller; naming yourself is the same; naming
anyone else is for admins only. Admin-only calls resolve it with `admin_target`.
"""

from __future__ import annotations

import re

from llmgw.server.governance.identity import Principal
from llmgw.wire.errors import InvalidArgument, PermissionDenied

ME = "me"
MAX_USER_LENGTH = 255
_USER_PATTERN = re.compile(r"[A-Za-z0-9._@+~-]+")
_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._@+-")


def validate_user_name(user: str) -> str:
    """Return `user` if it is a possible user name; InvalidArgument (field "user") if not."""
    if len(user) > MAX_USER_LENGTH or not _USER_PATTERN.fullmatch(user):
        raise InvalidArgument(
            f"user must be 1 to {MAX_USER_LENGTH} letters, digits, '.', '_', '@', '+', '~' or '-' "
            "(an SSO identity such as 'Alice Smith' is the user 'Alice~20Smith')",
            field="user",
        )
    return user


def user_name_for(identity: str) -> str:
    """The user name of an SSO identity (a JWT claim): every admin path accepts it.

    Characters outside A-Z a-z 0-9 . _ @ + - (and `~` itself) become `~XX`, the hex of each
    of their UTF-8 bytes, so the mapping is one-to-one and readable: "Alice Smith" is
    "Alice~20Smith", "zoë" is "zo~C3~AB". `~` is unreserved in URLs, so the name goes into
    a path or a query string as it is. Raises ValueError when the result is longer than
    MAX_USER_LENGTH.
    """
    name = "".join(
        char if char in _PLAIN else "".join(f"~{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
        for char in identity
    )
    if not name or len(name) > MAX_USER_LENGTH:
        raise ValueError(f"an identity maps to 1 to {MAX_USER_LENGTH} characters, this one to {len(name)}")
    return name


def target_user(principal: Principal, requested: str) -> str:
    """The user a call acts on: the caller for ''/`me`/themselves, another user for admins only."""
    if requested in ("", ME) or requested == principal.user:
        return principal.user
    if not principal.is_admin:
        raise PermissionDenied("Only admins may act on another user's keys, quota, model access or usage.")
    return validate_user_name(requested)


def require_admin(principal: Principal) -> None:
    """Refuse a non-admin caller with PermissionDenied."""
    if not principal.is_admin:
        raise PermissionDenied("This call is for admins only (ADMIN_LIST).")


def admin_target(principal: Principal, requested: str) -> str:
    """The user an admin-only call acts on; PermissionDenied for a non-admin, whoever they name."""
    require_admin(principal)
    return target_user(principal, requested)
