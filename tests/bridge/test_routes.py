"""The route-table generator against a test proto with every binding kind, and against llmgw.v1."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from llmgw.bridge.openai_shapes import DISPATCHERS, StreamFlagDispatcher
from llmgw.bridge.routes import Route, RouteTableError, build_route_table, discover_services
from tests.bridge.protos import compile_services

HEADER = 'syntax = "proto3";\npackage t.v1;\nimport "google/api/annotations.proto";\n'
MESSAGES = """
message Thing { string name = 1; int32 size = 2; }
message Filter { string kind = 1; }
message ThingRequest {
  string name = 1; Thing thing = 2; repeated string tags = 3; Filter filter = 4; int32 page_size = 5;
}
message Empty {}
"""
KINDS = (
    HEADER
    + """
service ThingService {
  rpc GetThing(ThingRequest) returns (Thing) {
    option (google.api.http) = {get: "/v1/{name=things/*}" additional_bindings {get: "/v1/alias/{name}"}};
  }
  rpc ListThings(ThingRequest) returns (Empty) {
    option (google.api.http) = {get: "/v1/things"}; }
  rpc CreateThing(ThingRequest) returns (Thing) {
    option (google.api.http) = {post: "/v1/things" body: "thing"}; }
  rpc ReplaceThing(ThingRequest) returns (Thing) {
    option (google.api.http) = {put: "/v1/things/{name}" body: "*"}; }
  rpc PatchThing(ThingRequest) returns (Thing) {
    option (google.api.http) = {patch: "/v1/things/{name}" body: "thing"}; }
  rpc DeleteThing(ThingRequest) returns (Empty) {
    option (google.api.http) = {delete: "/v1/things/{name}"}; }
  rpc CancelThing(ThingRequest) returns (Empty) {
    option (google.api.http) = {post: "/v1/things/{name}:cancel" body: "*"}; }
  rpc WatchThing(ThingRequest) returns (stream Thing) {
    option (google.api.http) = {custom: {kind: "REPORT" path: "/v1/things/{name}/watch"} response_body: "name"};
  }
  rpc Unbound(ThingRequest) returns (Thing);
}
"""
    + MESSAGES
)


def services(tmp_path: Path, source: str) -> list:  # type: ignore[type-arg]
    return compile_services(tmp_path, source)


def test_every_binding_kind(tmp_path: Path) -> None:
    """Each rule and additional binding becomes one row with its verb, template, body and streaming flag."""
    source = KINDS.replace('response_body: "name"', "")
    table = build_route_table(services(tmp_path, source), {})
    rows = [
        (r.http_method, r.template.source, r.body, r.response_body, r.rpc, r.server_streaming) for r in table.routes
    ]
    assert rows == [
        ("GET", "/v1/{name=things/*}", None, None, "t.v1.ThingService.GetThing", False),
        ("GET", "/v1/alias/{name}", None, None, "t.v1.ThingService.GetThing", False),
        ("GET", "/v1/things", None, None, "t.v1.ThingService.ListThings", False),
        ("POST", "/v1/things", "thing", None, "t.v1.ThingService.CreateThing", False),
        ("PUT", "/v1/things/{name}", "*", None, "t.v1.ThingService.ReplaceThing", False),
        ("PATCH", "/v1/things/{name}", "thing", None, "t.v1.ThingService.PatchThing", False),
        ("DELETE", "/v1/things/{name}", None, None, "t.v1.ThingService.DeleteThing", False),
        ("POST", "/v1/things/{name}:cancel", "*", None, "t.v1.ThingService.CancelThing", False),
        ("REPORT", "/v1/things/{name}/watch", None, None, "t.v1.ThingService.WatchThing", True),
    ]
    assert table.verbs == {"cancel"}
    get = table.routes[0]
    assert get.rpc_path == "/t.v1.ThingService/GetThing"
    assert get.request_class.DESCRIPTOR.full_name == "t.v1.ThingRequest"
    assert get.response_class.DESCRIPTOR.full_name == "t.v1.Thing"


def test_literal_routes_are_tried_before_variables(tmp_path: Path) -> None:
    """Endpoints are ordered most specific first, so /v1/things is not shadowed by /v1/{x}."""
    source = (
        HEADER
        + """
service S {
  rpc A(ThingRequest) returns (Thing) {
    option (google.api.http) = {get: "/v1/{name}"}; }
  rpc B(ThingRequest) returns (Thing) {
    option (google.api.http) = {get: "/v1/things"}; }
}"""
        + MESSAGES
    )
    table = build_route_table(services(tmp_path, source), {})
    assert [e.template.source for e in table.endpoints] == ["/v1/things", "/v1/{name}"]


@pytest.mark.parametrize(
    ("binding", "error"),
    [
        ('get: "/v1/{nope}"', "path variable 'nope' names no field"),
        ('get: "/v1/{thing}"', "must name a singular scalar field"),
        ('get: "/v1/{tags}"', "must name a singular scalar field"),
        ('get: "/v1/x" body: "*"', "GET cannot have a body"),
        ('post: "/v1/x" body: "nope"', "body 'nope' names no field"),
        ('post: "/v1/x" response_body: "size"', "response_body must name a singular message field"),
        ('post: "v1/x"', "expected '/'"),
    ],
)
def test_bad_annotations(tmp_path: Path, binding: str, error: str) -> None:
    """Annotations the bridge cannot serve stop the table from building, naming the RPC."""
    source = (
        HEADER
        + f"service S {{ rpc A(ThingRequest) returns (Thing) {{ option (google.api.http) = {{{binding}}}; }} }}"
        + MESSAGES
    )
    with pytest.raises(RouteTableError) as caught:
        build_route_table(services(tmp_path, source), {})
    assert error in str(caught.value)
    assert "t.v1.S.A" in str(caught.value)


COLLIDING = (
    HEADER
    + """
service S {
  rpc Once(ThingRequest) returns (Thing) {
    option (google.api.http) = {post: "/v1/things/{name}" body: "*"}; }
  rpc Many(ThingRequest) returns (stream Thing) {
    option (google.api.http) = {post: "/v1/things/{thing.name}" body: "*"}; }
}"""
    + MESSAGES.replace("message Thing {", "message Thing { string stream_marker = 9;")
)


def test_collision_without_dispatcher_fails(tmp_path: Path) -> None:
    """Two bindings with one method and path shape fail to build, even with different variable names."""
    with pytest.raises(RouteTableError, match="collide with no dispatcher"):
        build_route_table(services(tmp_path, COLLIDING), {})


def test_collision_with_dispatcher_builds_one_endpoint(tmp_path: Path) -> None:
    """A declared dispatcher turns the colliding pair into one endpoint that it splits."""
    dispatcher = StreamFlagDispatcher("stream")
    table = build_route_table(services(tmp_path, COLLIDING), {frozenset({"t.v1.S.Once", "t.v1.S.Many"}): dispatcher})
    (endpoint,) = table.endpoints
    assert endpoint.dispatcher is dispatcher
    assert endpoint.select({"stream": True}).rpc == "t.v1.S.Many"
    assert endpoint.select({}).rpc == "t.v1.S.Once"


def test_dispatcher_check_runs(tmp_path: Path) -> None:
    """A dispatcher refuses a set it cannot split (two unary RPCs for the stream flag)."""
    source = COLLIDING.replace("returns (stream Thing)", "returns (Thing)")
    with pytest.raises(RouteTableError, match="one unary and one streaming"):
        build_route_table(
            services(tmp_path, source), {frozenset({"t.v1.S.Once", "t.v1.S.Many"}): StreamFlagDispatcher("stream")}
        )


class Always:
    """A dispatcher that accepts anything, to show the set of RPCs must match exactly."""

    def check(self, routes: Sequence[Route]) -> None:
        """Accept."""

    def choose(self, routes: Sequence[Route], body: object) -> Route:
        """The first."""
        return routes[0]


def test_dispatcher_for_another_set_does_not_apply(tmp_path: Path) -> None:
    """A dispatcher declared for other RPCs does not silence a collision."""
    with pytest.raises(RouteTableError):
        build_route_table(services(tmp_path, COLLIDING), {frozenset({"t.v1.S.Once"}): Always()})


DESIGN_ROWS = {
    ("POST", "/v1/chat/completions"),
    ("GET", "/v1/models"),
    ("GET", "/v1/models/{model}"),
    ("POST", "/v1/embeddings"),
    ("POST", "/v1/keys"),
    ("GET", "/v1/keys"),
    ("DELETE", "/v1/keys/{name}"),
    ("GET", "/v1/users/{user}/quota"),
    ("PUT", "/v1/users/{user}/quota"),
    ("DELETE", "/v1/users/{user}/quota"),
    ("GET", "/v1/users/{user}/quota/status"),
    ("GET", "/v1/users/{user}/rate-limit"),
    ("PUT", "/v1/users/{user}/rate-limit"),
    ("DELETE", "/v1/users/{user}/rate-limit"),
    ("GET", "/v1/users/{user}/model-access"),
    ("PUT", "/v1/users/{user}/model-access"),
    ("DELETE", "/v1/users/{user}/model-access"),
    ("GET", "/v1/requests"),
    ("GET", "/v1/users"),
    # Beyond DESIGN.md's table: the spend summary the governance issue asks for.
    ("GET", "/v1/usage/summary"),
    # Beyond DESIGN.md's table: who a credential belongs to (issue 15; the bridge's pre-body check).
    ("GET", "/v1/caller"),
    # Beyond DESIGN.md's table: admins list and release a user's quota reservations (issue 15).
    ("GET", "/v1/users/{user}/reservations"),
    ("DELETE", "/v1/users/{user}/reservations/{reservation_id}"),
    ("POST", "/v1/messages"),
    ("POST", "/v1/messages/count_tokens"),
    ("POST", "/bedrock/model/{model_id}/invoke"),
    ("POST", "/bedrock/model/{model_id}/invoke-with-response-stream"),
    # Beyond DESIGN.md's table: who the caller is (the terminal UI's admin check, issue 14).
    ("GET", "/v1/me"),
    # DESIGN.md "Routing and failover": the routes and their breakers, for admins.
    ("GET", "/v1/routes"),
}
OPENAI_SERVICES = ("llmgw.v1.ChatService.", "llmgw.v1.ModelService.", "llmgw.v1.EmbeddingService.")


def test_llmgw_table_is_exactly_design() -> None:
    """The real llmgw.v1 table: the OpenAI rows exactly, and every other row one of DESIGN.md's."""
    table = build_route_table(discover_services(), DISPATCHERS)
    rows = [
        (r.http_method, r.template.source, r.rpc, r.server_streaming, r.body, r.response_body) for r in table.routes
    ]
    assert sorted(row for row in rows if row[2].startswith(OPENAI_SERVICES)) == sorted(
        [
            (
                "POST",
                "/v1/chat/completions",
                "llmgw.v1.ChatService.CreateChatCompletion",
                False,
                "params",
                "completion",
            ),
            ("POST", "/v1/chat/completions", "llmgw.v1.ChatService.StreamChatCompletion", True, "params", "chunk"),
            ("GET", "/v1/models", "llmgw.v1.ModelService.ListModels", False, None, None),
            ("GET", "/v1/models/{model}", "llmgw.v1.ModelService.GetModel", False, None, "model"),
            ("POST", "/v1/embeddings", "llmgw.v1.EmbeddingService.CreateEmbedding", False, "*", None),
        ]
    )
    assert {(row[0], row[1]) for row in rows} == DESIGN_ROWS
    assert table.verbs == frozenset()
    chat = next(e for e in table.endpoints if e.template.source == "/v1/chat/completions")
    assert isinstance(chat.dispatcher, StreamFlagDispatcher)


def test_messages_and_bedrock_routes_speak_their_own_api() -> None:
    """MessagesService has Anthropic's shapes and framing, BedrockService Bedrock's (raw bodies); others the default."""
    from llmgw.bridge.anthropic_shapes import ANTHROPIC, ANTHROPIC_SHAPES
    from llmgw.bridge.app import APIS
    from llmgw.bridge.bedrock_shapes import BEDROCK
    from llmgw.bridge.openai_shapes import OPENAI_SHAPES

    table = build_route_table(discover_services(), DISPATCHERS, OPENAI_SHAPES, APIS)
    by_path = {e.template.source: e for e in table.endpoints}
    messages = by_path["/v1/messages"]
    assert messages.framing is ANTHROPIC
    assert all(route.shapes is ANTHROPIC_SHAPES for route in messages.routes)
    assert isinstance(messages.dispatcher, StreamFlagDispatcher)
    assert by_path["/v1/messages/count_tokens"].framing is ANTHROPIC
    invoke = by_path["/bedrock/model/{model_id}/invoke"]
    assert invoke.framing is BEDROCK
    assert invoke.raw_body
    assert not messages.raw_body
    chat = by_path["/v1/chat/completions"]
    assert chat.framing is None
    assert chat.routes[0].shapes is OPENAI_SHAPES
