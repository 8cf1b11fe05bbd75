"""The candidates a request may be sent to: its route's targets, as the router tries them."""

from __future__ import annotations

from llmgw.server.core.catalog import CatalogModel
from llmgw.server.routing.router import Candidate
from llmgw.server.routing.table import RouteTable, Target
from llmgw.server.services.recording import RequestTrace


def route_candidates(routes: RouteTable, trace: RequestTrace, model: CatalogModel) -> list[Candidate]:
    """The targets of the route of the trace's model, in order.

    An application inference profile (an ARN, priced as its base model) lives in one
    region and is not routed: it is sent as itself to the default region.
    """
    if trace.upstream_model and trace.upstream_model != model.id:
        return [Candidate(trace.model_id, Target(routes.default_region, model), trace.upstream_model)]
    return [Candidate(model.id, target) for target in routes.route(model).targets]
