"""The step every model request takes before Bedrock, the same for chat and embeddings.

First the model: known to the catalog (else NOT_FOUND) and allowed by the caller's policy
(else PERMISSION_DENIED). Then, once the request is translated and its cost bound known,
the quota: the bound is reserved in the ledger (else RESOURCE_EXHAUSTED), and the trace
holds the reservation until the request is recorded and settled.
"""

from __future__ import annotations

from llmgw.server.core.application_profiles import ModelDirectory
from llmgw.server.core.catalog import CatalogModel
from llmgw.server.governance.admission import Governance
from llmgw.server.services.recording import RequestTrace


class Admission:
    """Catalog lookup, model access and quota reservation for one request's trace."""

    def __init__(self, models: ModelDirectory, governance: Governance) -> None:
        self._models = models
        self._governance = governance

    async def model(self, trace: RequestTrace) -> CatalogModel:
        """The catalog entry that prices the trace's model, if its caller may use the id they sent.

        For an application inference profile ARN that is its base model; the ARN, the id
        Bedrock is sent, is kept as the trace's `upstream_model`.
        """
        resolved = self._models.resolve(trace.model_id)
        await self._governance.check_model(trace.principal, trace.model_id)
        trace.upstream_model = resolved.upstream_id
        return resolved.model

    async def admit(self, trace: RequestTrace, model: CatalogModel, cost_bound_picodollars: int) -> None:
        """Reserve the request's worst-case cost; from here on the trace is charged when recorded."""
        trace.reservation = await self._governance.admit(trace.principal, cost_bound_picodollars)
        trace.model = model
