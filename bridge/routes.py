"""The route table, generated from the `google.api.http` annotations of the gRPC services.

One `Route` per binding (additional_bindings included): plain data, built from descriptors, so
an annotated RPC gets its HTTP endpoint with no code here, and the table is testable without a
server. Bindings with the same method and path shape collide; building fails on a collision
unless a `Dispatcher` is declared for exactly that set of RPCs (the chat completion's
unary/streaming pair is the one we have, see `openai_shapes.DISPATCHERS`). The JSON
conventions of the API being served (`JsonShapes`) come in here too, so the transcoder that
applies them knows no API by name; so does, per service, how its routes look on the wire
(`HttpApi`: shapes plus a `framing.Framing` for errors and streams), for services that speak
another API than the rest (Anthropic's Messages API, Bedrock's own paths).

A body field of type `google.api.HttpBody` takes the request's bytes as they are (`raw_body`),
and an HttpBody response goes out as its bytes with its own content type (grpc-gateway's rule).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Protocol

from google.api import annotations_pb2, http_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from llmgw.bridge.framing import Framing
from llmgw.bridge.path_template import PathTemplate, TemplateError, parse

_PATTERNS = ("get", "put", "post", "delete", "patch")
_NO_BODY = frozenset({"GET", "DELETE"})
HTTP_BODY = "google.api.HttpBody"


class RouteTableError(ValueError):
    """The annotations cannot be served as they are: a bad template, field or collision."""


InputHook = Callable[[object, str], object]
"""Reshapes one field's decoded JSON value (its path given for errors) into proto JSON shape."""
OutputHook = Callable[[object], object]
"""Writes one field's value as the API's JSON, in place of the generic rule."""


@dataclass(frozen=True, slots=True, eq=False)
class JsonShapes:
    """The conventions of one HTTP API that plain proto JSON lacks, applied by the transcoder.

    Compared and hashed by identity: one instance per API, built once.
    """

    input_hooks: Mapping[str, InputHook] = dataclass_field(default_factory=dict)
    """Hooks run on a field's value before the generic rules, keyed by the field's full name."""
    omit_unset_enums: frozenset[str] = frozenset()
    """Message types (full names) whose enum fields are left out when 0 instead of being null."""
    numeric_string_suffix: str = ""
    """String fields whose name ends so also accept a JSON number (e.g. `_usd` amounts)."""
    output_hooks: Mapping[str, OutputHook] = dataclass_field(default_factory=dict)
    """Hooks that write a field's value in responses, keyed by the field's full name."""


PLAIN_JSON = JsonShapes()
"""Proto JSON with the transcoder's generic rules only."""


@dataclass(frozen=True, slots=True, eq=False)
class HttpApi:
    """An HTTP API some services speak: its JSON shapes and how its errors and streams look."""

    shapes: JsonShapes
    framing: Framing


@dataclass(frozen=True, slots=True)
class Route:
    """One HTTP binding of one RPC."""

    http_method: str
    template: PathTemplate
    body: str | None
    response_body: str | None
    rpc: str
    request_class: type[Message]
    response_class: type[Message]
    server_streaming: bool
    method: MethodDescriptor
    shapes: JsonShapes = PLAIN_JSON
    framing: Framing | None = None
    """The wire framing of the route's API; None: the server's default."""
    raw_body: bool = False
    """The body field is a `google.api.HttpBody`: the request's bytes, not JSON."""

    @property
    def rpc_path(self) -> str:
        """The gRPC method path, `/package.Service/Method`."""
        return "/" + self.rpc.rsplit(".", 1)[0] + "/" + self.method.name


class Dispatcher(Protocol):
    """Chooses, per request, which of several RPCs bound to one endpoint serves it."""

    def check(self, routes: Sequence[Route]) -> None:
        """Raise RouteTableError unless these routes are a set this dispatcher can split."""

    def choose(self, routes: Sequence[Route], body: object) -> Route:
        """The route for a request with this decoded JSON body."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One (method, path shape): its routes and, when there are several, their dispatcher."""

    http_method: str
    template: PathTemplate
    routes: tuple[Route, ...]
    dispatcher: Dispatcher | None

    def select(self, body: object) -> Route:
        """The route serving a request with this body."""
        if self.dispatcher is None:
            return self.routes[0]
        return self.dispatcher.choose(self.routes, body)

    @property
    def takes_body(self) -> bool:
        """Whether requests to this endpoint carry a JSON body."""
        return any(route.body for route in self.routes)

    @property
    def raw_body(self) -> bool:
        """Whether the body is taken as bytes (a `google.api.HttpBody` field), not decoded as JSON."""
        return any(route.raw_body for route in self.routes)

    @property
    def framing(self) -> Framing | None:
        """The wire framing of this endpoint's routes (set per service, so the same for all)."""
        return self.routes[0].framing


@dataclass(frozen=True, slots=True)
class RouteTable:
    """Every route, grouped into endpoints tried most specific first, and the declared verbs."""

    routes: tuple[Route, ...]
    endpoints: tuple[Endpoint, ...]
    verbs: frozenset[str]


def _field(message: Descriptor, dotted: str, what: str, rpc: str) -> FieldDescriptor:
    current: Descriptor | None = message
    field: FieldDescriptor | None = None
    for name in dotted.split("."):
        if current is None:
            raise RouteTableError(f"{rpc}: {what} {dotted!r} goes through a non-message field")
        field = current.fields_by_name.get(name)
        if field is None:
            raise RouteTableError(f"{rpc}: {what} {dotted!r} names no field of {message.full_name}")
        current = field.message_type
    assert field is not None  # noqa: S101 - split() yields at least one name
    return field


def _binding(rule: http_pb2.HttpRule) -> tuple[str, str]:
    kind = rule.WhichOneof("pattern")
    if kind in _PATTERNS:
        return kind.upper(), str(getattr(rule, kind))
    if kind == "custom":
        return rule.custom.kind.upper(), rule.custom.path
    raise RouteTableError("an http rule has no pattern")


def routes_of_method(
    method: MethodDescriptor, shapes: JsonShapes = PLAIN_JSON, framing: Framing | None = None
) -> list[Route]:
    """The routes of one RPC: its http rule and its additional bindings; none if unannotated."""
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return []
    rule: http_pb2.HttpRule = options.Extensions[annotations_pb2.http]
    rpc = method.full_name
    if method.client_streaming:
        raise RouteTableError(f"{rpc}: client-streaming RPCs cannot be served over HTTP/JSON")
    routes = []
    for binding in [rule, *rule.additional_bindings]:
        http_method, path = _binding(binding)
        try:
            template = parse(path)
        except TemplateError as exc:
            raise RouteTableError(f"{rpc}: {exc}") from None
        for variable in template.variables:
            field = _field(method.input_type, variable.name, "path variable", rpc)
            if field.message_type is not None or field.is_repeated:
                raise RouteTableError(f"{rpc}: path variable {variable.name!r} must name a singular scalar field")
        body = binding.body or None
        if body and http_method in _NO_BODY:
            raise RouteTableError(f"{rpc}: {http_method} cannot have a body")
        raw_body = False
        if body and body != "*":
            body_type = _field(method.input_type, body, "body", rpc).message_type
            raw_body = body_type is not None and body_type.full_name == HTTP_BODY
        response_body = binding.response_body or None
        if response_body:
            field = _field(method.output_type, response_body, "response_body", rpc)
            if field.message_type is None or field.is_repeated or "." in response_body:
                raise RouteTableError(f"{rpc}: response_body must name a singular message field")
        routes.append(
            Route(
                http_method=http_method,
                template=template,
                body=body,
                response_body=response_body,
                rpc=rpc,
                request_class=GetMessageClass(method.input_type),
                response_class=GetMessageClass(method.output_type),
                server_streaming=method.server_streaming,
                method=method,
                shapes=shapes,
                framing=framing,
                raw_body=raw_body,
            )
        )
    return routes


def build_route_table(
    services: Iterable[ServiceDescriptor],
    dispatchers: Mapping[frozenset[str], Dispatcher],
    shapes: JsonShapes = PLAIN_JSON,
    apis: Mapping[str, HttpApi] | None = None,
) -> RouteTable:
    """Build the table; raises RouteTableError on bad annotations or undeclared collisions.

    `dispatchers` maps a set of full RPC names (`llmgw.v1.ChatService.CreateChatCompletion`)
    sharing one endpoint to the dispatcher that splits them. The routes of a service named
    in `apis` (`llmgw.v1.MessagesService`) carry that API's shapes and framing; every other
    route carries `shapes` and the default framing.
    """
    apis = apis or {}

    def of(service: ServiceDescriptor, method: MethodDescriptor) -> list[Route]:
        api = apis.get(service.full_name)
        return routes_of_method(method, shapes) if api is None else routes_of_method(method, api.shapes, api.framing)

    routes = [route for service in services for method in service.methods for route in of(service, method)]
    groups: dict[tuple[object, ...], list[Route]] = {}
    for route in routes:
        groups.setdefault((route.http_method, *route.template.shape()), []).append(route)
    endpoints = []
    for group in groups.values():
        dispatcher = None
        if len(group) > 1:
            names = frozenset(route.rpc for route in group)
            dispatcher = dispatchers.get(names)
            if dispatcher is None or len(names) != len(group):
                listed = ", ".join(sorted(f"{r.rpc} ({r.template.source})" for r in group))
                raise RouteTableError(f"{group[0].http_method} bindings collide with no dispatcher: {listed}")
            dispatcher.check(group)
        endpoints.append(Endpoint(group[0].http_method, group[0].template, tuple(group), dispatcher))
    endpoints.sort(key=lambda e: (e.template.specificity(), e.template.verb is None))
    verbs = frozenset(route.template.verb for route in routes if route.template.verb)
    return RouteTable(tuple(routes), tuple(endpoints), verbs)


def discover_services(package: str = "llmgw.v1") -> list[ServiceDescriptor]:
    """Every service declared in the generated `*_pb2` modules of a package, in file order.

    Importing `google.api.annotations_pb2` (above) registers the `google.api.http` extension,
    so the options of these descriptors carry their rules.
    """
    module = importlib.import_module(package)
    services: list[ServiceDescriptor] = []
    for info in sorted(pkgutil.iter_modules(module.__path__), key=lambda i: i.name):
        if info.name.endswith("_pb2"):
            generated = importlib.import_module(f"{package}.{info.name}")
            services.extend(generated.DESCRIPTOR.services_by_name.values())
    return services
