"""Request path matching: variables with ':', declared verbs only, dot segments, 404 and 405."""

from __future__ import annotations

import pytest

from llmgw.bridge.errors import ClientError
from llmgw.bridge.openai_shapes import DISPATCHERS
from llmgw.bridge.router import Router
from llmgw.bridge.routes import build_route_table, discover_services
from tests.bridge.protos import compile_services

VERB_PROTO = """syntax = "proto3";
package v.v1;
import "google/api/annotations.proto";
message R { string name = 1; }
service S {
  rpc Get(R) returns (R) { option (google.api.http) = {get: "/v1/things/{name}"}; }
  rpc Cancel(R) returns (R) { option (google.api.http) = {post: "/v1/things/{name}:cancel" body: "*"}; }
  rpc Me(R) returns (R) { option (google.api.http) = {get: "/v1/things/me"}; }
}
"""


@pytest.fixture(scope="module")
def llmgw_router() -> Router:
    return Router(build_route_table(discover_services(), DISPATCHERS))


@pytest.fixture(scope="module")
def verb_router(tmp_path_factory: pytest.TempPathFactory) -> Router:
    return Router(build_route_table(compile_services(tmp_path_factory.mktemp("v"), VERB_PROTO), {}))


@pytest.mark.parametrize(
    ("path", "model"),
    [
        ("/v1/models/anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-3-haiku-20240307-v1:0"),
        ("/v1/models/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0", "us.anthropic.claude-3-5-sonnet-20241022-v2:0"),
        ("/v1/models/a:b:c", "a:b:c"),
    ],
)
def test_bedrock_ids_bind_whole(llmgw_router: Router, path: str, model: str) -> None:
    """With no verb declared, ':' stays in the model id."""
    match = llmgw_router.match("GET", path)
    assert match.values == {"model": model}
    assert match.endpoint.routes[0].rpc == "llmgw.v1.ModelService.GetModel"


def test_declared_verb_is_split(verb_router: Router) -> None:
    """A declared verb is split off; an undeclared suffix stays in the variable."""
    assert verb_router.match("POST", "/v1/things/t1:cancel").values == {"name": "t1"}
    assert verb_router.match("GET", "/v1/things/t1:cancel").values == {"name": "t1:cancel"}
    assert verb_router.match("GET", "/v1/things/t1:0").values == {"name": "t1:0"}


def test_literal_beats_variable(verb_router: Router) -> None:
    """/v1/things/me goes to its literal route, not to {name}."""
    assert verb_router.match("GET", "/v1/things/me").endpoint.routes[0].rpc == "v.v1.S.Me"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/models/../keys", 404),
        ("GET", "/v1/models/./x", 404),
        ("GET", "/v1/models/%2E%2e", 404),
        ("GET", "/v1/models/", 404),
        ("GET", "/v1//models", 404),
        ("GET", "v1/models", 404),
        ("PUT", "/v1/models", 405),
        ("GET", "/v1/embeddings", 405),
    ],
)
def test_errors(llmgw_router: Router, method: str, path: str, status: int) -> None:
    """Unknown paths and dot segments are 404; known paths with another method are 405 with Allow."""
    with pytest.raises(ClientError) as caught:
        llmgw_router.match(method, path)
    assert caught.value.http_status == status
    if status == 405:
        assert caught.value.allow
