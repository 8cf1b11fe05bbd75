"""RouteService: the configured routes and the breaker state of each target, for admins (GET /v1/routes)."""

from __future__ import annotations

from llmgw.server.governance.identity import current_principal
from llmgw.server.governance.roles import require_admin
from llmgw.server.routing.router import Router
from llmgw.server.routing.table import RouteTable
from llmgw.server.rpc.context import Context
from llmgw.server.services.paging import decode_token, encode_token, page_size
from llmgw.v1 import route_service_pb2, route_service_pb2_grpc
from llmgw.wire.errors import InvalidArgument

_STATES = {
    "closed": route_service_pb2.BREAKER_STATE_CLOSED,
    "open": route_service_pb2.BREAKER_STATE_OPEN,
    "half_open": route_service_pb2.BREAKER_STATE_HALF_OPEN,
}


class RouteServicer(route_service_pb2_grpc.RouteServiceServicer):
    """Shows operators where each public model's requests go and which targets are resting."""

    def __init__(self, routes: RouteTable, router: Router) -> None:
        self._routes = routes
        self._router = router

    async def ListRoutes(
        self, request: route_service_pb2.ListRoutesRequest, context: Context
    ) -> route_service_pb2.ListRoutesResponse:
        """The routes in settings order, a page at a time; the page token is the last route's model id."""
        require_admin(current_principal())
        size = page_size(request.page_size)
        routes = list(self._routes)
        start = 0
        if request.page_token:
            (after,) = decode_token(request.page_token, 1)
            names = [route.model for route in routes]
            if after not in names:
                raise InvalidArgument("page_token is not a token this gateway issued", field="page_token")
            start = names.index(after) + 1
        page = routes[start : start + size]
        response = route_service_pb2.ListRoutesResponse()
        for route in page:
            message = response.routes.add(model=route.model, fallbacks=route.fallbacks)
            for status in self._router.status(route.targets):
                message.targets.add(
                    region=status.region,
                    model=status.model,
                    breaker_state=_STATES[status.state],
                    consecutive_failures=status.consecutive_failures,
                )
        if start + size < len(routes):
            response.next_page_token = encode_token(page[-1].model)
        return response
