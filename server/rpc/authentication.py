"""Authentication as a stage of the gateway interceptor (server/rpc/pipeline.py).

Which calls need a credential, and binding the caller the governance wing
authenticated (server/governance/identity.py) for the handler's duration.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

from llmgw.server.governance.identity import Authenticator, Principal, reset_principal, set_principal

# Calls that need no credential: health checks and reflection.
PUBLIC_SERVICE_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class Authentication:
    """Authenticates every call except health and reflection, binding the Principal for the handler."""

    def __init__(self, authenticator: Authenticator, on_principal: Callable[[Principal], None] | None = None) -> None:
        self._authenticator = authenticator
        self._on_principal = on_principal

    @staticmethod
    def required(method: str) -> bool:
        """Whether calls to `method` need a credential."""
        return not method.startswith(PUBLIC_SERVICE_PREFIXES)

    async def bind(self, metadata: Sequence[tuple[str, str | bytes]]) -> object:
        """Authenticate the caller and bind it; returns the token for `unbind`."""
        principal = await self._authenticator.authenticate(metadata)
        if self._on_principal is not None:
            self._on_principal(principal)
        return set_principal(principal)

    @staticmethod
    def unbind(token: object) -> None:
        """Unbind the caller bound by `bind`.

        A stream the client cancelled is closed by grpc from another task, in another context:
        the binding lives in the call's own context, which goes with the call, so there is
        nothing to undo (and contextvars refuses a token from elsewhere with ValueError).
        """
        with contextlib.suppress(ValueError):
            reset_principal(token)
