"""The candidates a request may be sent to: its route's targets, as the router tries them, then its fallbacks'."""

from __future__ import annotations

from llmgw.server.core.catalog import Catalog, CatalogModel
from llmgw.server.governance.admission import Governance
from llmgw.server.routing.router import Candidate
from llmgw.server.routing.table import RouteTable, Target
from llmgw.server.services.recording import RequestTrace
from llmgw.wire.errors import ModelAccessDenied


def route_candidates(routes: RouteTable, trace: RequestTrace, model: CatalogModel) -> list[Candidate]:
    """The targets of the route of the trace's model, in order.

    An application inference profile (an ARN, priced as its base model) lives in one
    region and is not routed: it is sent as itself to the default region.
    """
    if trace.upstream_model and trace.upstream_model != model.id:
        return [Candidate(trace.model_id, Target(routes.default_region, model), trace.upstream_model)]
    return [Candidate(model.id, target) for target in routes.route(model).targets]


async def fallback_candidates(
    routes: RouteTable, catalog: Catalog, governance: Governance, trace: RequestTrace, model: CatalogModel
) -> list[Candidate]:
    """The targets of the model's fallbacks (each through its own route) that the trace's caller may use.

    Whether a fallback can serve the request is the caller's to check. An application
    inference profile is not routed, so it has no fallbacks.
    """
    if trace.upstream_model and trace.upstream_model != model.id:
        return []
    candidates: list[Candidate] = []
    for fallback_id in routes.route(model).fallbacks:
        fallback = catalog.get(fallback_id)
        try:
            await governance.check_model(trace.principal, fallback.id)
        except ModelAccessDenied:
            continue
        candidates.extend(Candidate(fallback.id, target) for target in routes.route(fallback).targets)
    return candidates
