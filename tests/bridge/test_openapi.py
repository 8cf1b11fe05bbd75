"""The OpenAPI document generated from the route table and the proto comments."""

from __future__ import annotations

from pathlib import Path

from llmgw.bridge.openai_shapes import DISPATCHERS
from llmgw.bridge.openapi import build_openapi, load_comments
from llmgw.bridge.routes import build_route_table, discover_services
from tests.bridge.protos import compile_services

PROTO = """syntax = "proto3";
package o.v1;
import "google/api/annotations.proto";
// A thing.
message Thing {
  // Its name.
  string name = 1;
  // Its labels.
  map<string, string> labels = 2;
}
// Asks for a thing.
message GetRequest {
  // Which one.
  string name = 1;
  // How many.
  int32 page_size = 2;
}
// Things.
service ThingService {
  // Gets a thing. Returns NOT_FOUND if there is none.
  rpc GetThing(GetRequest) returns (Thing) { option (google.api.http) = {get: "/v1/things/{name}"}; }
}
"""


def test_comments_from_the_packaged_descriptor_set() -> None:
    """The packaged FileDescriptorSet carries the proto comments of llmgw.v1."""
    comments = load_comments()
    assert comments["llmgw.v1.Model.id"].startswith("The model id")
    assert "Answers a conversation" in comments["llmgw.v1.ChatService.CreateChatCompletion"]
    assert comments["llmgw.v1.Role.ROLE_USER"] == "A message written by the end user."


def test_document_for_a_test_proto(tmp_path: Path) -> None:
    """Paths, parameters, schemas and descriptions come from the annotations and comments."""
    services = compile_services(tmp_path, PROTO)
    comments = load_comments((tmp_path / "test.proto.binpb").read_bytes())
    doc = build_openapi(build_route_table(services, {}), comments)
    operation = doc["paths"]["/v1/things/{name}"]["get"]  # type: ignore[index]
    assert operation["summary"] == "Gets a thing"
    assert [(p["name"], p["in"]) for p in operation["parameters"]] == [("name", "path"), ("page_size", "query")]
    schema = doc["components"]["schemas"]["o.v1.Thing"]  # type: ignore[index]
    assert schema["description"] == "A thing."
    assert schema["properties"]["labels"]["additionalProperties"] == {"type": "string"}


def test_llmgw_document() -> None:
    """The chat endpoint documents JSON and SSE answers; enums list their short names."""
    doc = build_openapi(build_route_table(discover_services(), DISPATCHERS), load_comments())
    chat = doc["paths"]["/v1/chat/completions"]["post"]  # type: ignore[index]
    assert chat["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/llmgw.v1.ChatCompletionParams",
        "description": "The completion parameters; the HTTP body.",
    }
    assert set(chat["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
    role = doc["components"]["schemas"]["llmgw.v1.ChatMessage"]["properties"]["role"]  # type: ignore[index]
    assert role["enum"] == ["system", "user", "assistant", "tool", "developer"]
    assert "/healthz" in doc["paths"]  # type: ignore[operator]
