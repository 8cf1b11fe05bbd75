"""The checks every chat and embedding request passes before Bedrock: model access, then quota.

Services call `check_model` right after the model is found in the catalog and `admit` right
before Bedrock (through services/admission.py); the Reservation that `admit` returns is
settled when the request is recorded (services/recording.py). The Gateway builds one
Governance per process; bench/governance.py injects a subclass that checks nothing, to
measure what these checks cost.
"""

from __future__ import annotations

from collections.abc import Callable

from llmgw.server.governance.identity import Principal
from llmgw.server.governance.model_access import ModelAccessCache
from llmgw.server.store.group_commit import GroupCommitWriter
from llmgw.server.store.ledger import Reservation


class Governance:
    """Model-access and quota enforcement for the serving services."""

    def __init__(self, access: ModelAccessCache, writer: GroupCommitWriter) -> None:
        self.access = access
        self.writer = writer

    async def check_model(self, principal: Principal, model_id: str) -> None:
        """Raise ModelAccessDenied unless the caller's policy allows the model."""
        await self.access.check(principal.user, model_id)

    async def admit(self, principal: Principal, cost_bound_picodollars: int) -> Reservation | None:
        """Reserve the request's worst-case cost in the ledger, or raise QuotaExceeded."""
        return await self.writer.admit(principal.user, cost_bound_picodollars)


GovernanceFactory = Callable[[ModelAccessCache, GroupCommitWriter], Governance]
"""How the Gateway builds its Governance: the class itself, or a stand-in for a benchmark."""
