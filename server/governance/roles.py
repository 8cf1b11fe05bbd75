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
_USER_PATTERN = re.compile(r"[A-Za-z0-9._@+-]+")


def validate_user_name(user: str) -> str:
    """Return `user` if it is a possible user name; InvalidArgument (field "user") if not."""
    if len(user) > MAX_USER_LENGTH or not _USER_PATTERN.fullmatch(user):
        raise InvalidArgument(
            f"user must be 1 to {MAX_USER_LENGTH} letters, digits, '.', '_', '@', '+' or '-'", field="user"
        )
    return user


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
