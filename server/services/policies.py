"""PolicyService: which models each user may call. Admins change policies; users read their own."""

from __future__ import annotations

from collections.abc import Callable, Container
from datetime import datetime

from llmgw.server.governance.identity import current_principal
from llmgw.server.governance.model_access import Access, ModelAccessCache, check_model_ids
from llmgw.server.governance.roles import admin_target, target_user
from llmgw.server.rpc.context import Context
from llmgw.server.store import governance_repo
from llmgw.server.store.runner import DatabaseRunner
from llmgw.v1 import model_access_pb2, policy_service_pb2, policy_service_pb2_grpc


def access_message(user: str, access: Access) -> model_access_pb2.ModelAccess:
    """The API view of a user's access."""
    return model_access_pb2.ModelAccess(user=user, models=access.listed(), is_default=access.is_default)


class PolicyServicer(policy_service_pb2_grpc.PolicyServiceServicer):
    """Reads and changes model-access policies, keeping this replica's cache in step."""

    def __init__(
        self,
        catalog: Container[str],
        access: ModelAccessCache,
        db: DatabaseRunner,
        is_admin: Callable[[str], bool],
        clock: Callable[[], datetime],
    ) -> None:
        self._catalog = catalog
        self._access = access
        self._db = db
        self._is_admin = is_admin
        self._clock = clock

    async def GetModelAccess(
        self, request: policy_service_pb2.GetModelAccessRequest, context: Context
    ) -> policy_service_pb2.GetModelAccessResponse:
        """The access in effect for the user (admins, or the user themselves)."""
        user = target_user(current_principal(), request.user)
        self._access.invalidate(user)  # read through: an admin looking at a policy sees the stored one
        return policy_service_pb2.GetModelAccessResponse(
            model_access=access_message(user, await self._access.access(user))
        )

    async def SetModelAccess(
        self, request: policy_service_pb2.SetModelAccessRequest, context: Context
    ) -> policy_service_pb2.SetModelAccessResponse:
        """Give a known user their own policy (admins only); unknown model ids are refused, nothing written."""
        user = admin_target(current_principal(), request.user)
        models = check_model_ids(self._catalog, request.models, "models")
        now = self._clock()

        def write() -> None:
            governance_repo.require_known_user(user, self._is_admin)
            governance_repo.set_model_access(user, models, now)

        await self._db.run(write)
        self._access.invalidate(user)
        access = await self._access.access(user)
        return policy_service_pb2.SetModelAccessResponse(model_access=access_message(user, access))

    async def ResetModelAccess(
        self, request: policy_service_pb2.ResetModelAccessRequest, context: Context
    ) -> policy_service_pb2.ResetModelAccessResponse:
        """Remove the user's own policy (admins only); DEFAULT_MODEL_ACCESS applies again."""
        user = admin_target(current_principal(), request.user)
        await self._db.run(lambda: governance_repo.reset_model_access(user))
        self._access.invalidate(user)
        return policy_service_pb2.ResetModelAccessResponse(model_access=access_message(user, self._access.default))
