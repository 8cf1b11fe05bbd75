"""`GET /openapi.json`: an OpenAPI 3.1 document generated from the route table and proto comments.

The same annotations that make the routes make the document, and the descriptions are the
leading comments of services, methods, messages and fields, read from the FileDescriptorSet
with source info that `scripts/gen_proto.py` writes into `llmgw/v1/descriptors.binpb` (the
generated `_pb2` modules carry no comments). So the document cannot drift from what is served.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.resources import files
from typing import cast

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from llmgw.bridge.routes import Endpoint, Route, RouteTable
from llmgw.bridge.transcode import enum_to_json

_F = FieldDescriptor
_SCALARS: dict[int, dict[str, object]] = {
    _F.TYPE_STRING: {"type": "string"},
    _F.TYPE_BOOL: {"type": "boolean"},
    _F.TYPE_DOUBLE: {"type": "number", "format": "double"},
    _F.TYPE_FLOAT: {"type": "number", "format": "float"},
    _F.TYPE_BYTES: {"type": "string", "format": "byte"},
    **{t: {"type": "integer", "format": "int32"} for t in (_F.TYPE_INT32, _F.TYPE_SINT32, _F.TYPE_SFIXED32)},
    **{t: {"type": "integer", "format": "uint32"} for t in (_F.TYPE_UINT32, _F.TYPE_FIXED32)},
    **{t: {"type": "integer", "format": "int64"} for t in (_F.TYPE_INT64, _F.TYPE_SINT64, _F.TYPE_SFIXED64)},
    **{t: {"type": "integer", "format": "uint64"} for t in (_F.TYPE_UINT64, _F.TYPE_FIXED64)},
}
_WELL_KNOWN: dict[str, dict[str, object]] = {
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string"},
}
_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_ERROR_SCHEMA = {
    "type": "object",
    "description": "OpenAI's error body; `code` is the lowercase google.rpc.ErrorInfo reason.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}


def _clean(comment: str) -> str:
    return "\n".join(line.strip() for line in comment.strip().splitlines())


def load_comments(data: bytes | None = None) -> dict[str, str]:
    """Leading comments by full name (`llmgw.v1.Model.id`) from a serialized FileDescriptorSet."""
    if data is None:
        data = files("llmgw.v1").joinpath("descriptors.binpb").read_bytes()
    comments: dict[str, str] = {}
    for file in descriptor_pb2.FileDescriptorSet.FromString(data).file:
        by_path = {tuple(loc.path): _clean(loc.leading_comments) for loc in file.source_code_info.location}

        def add(name: str, path: tuple[int, ...], by_path: dict[tuple[int, ...], str] = by_path) -> None:
            if by_path.get(path):
                comments[name] = by_path[path]

        def enum(proto: descriptor_pb2.EnumDescriptorProto, path: tuple[int, ...], scope: str) -> None:
            add(f"{scope}.{proto.name}", path)
            for i, value in enumerate(proto.value):
                add(f"{scope}.{proto.name}.{value.name}", (*path, 2, i))

        def message(proto: descriptor_pb2.DescriptorProto, path: tuple[int, ...], scope: str) -> None:
            name = f"{scope}.{proto.name}"
            add(name, path)
            for i, field in enumerate(proto.field):
                add(f"{name}.{field.name}", (*path, 2, i))
            for i, nested in enumerate(proto.nested_type):
                message(nested, (*path, 3, i), name)
            for i, nested_enum in enumerate(proto.enum_type):
                enum(nested_enum, (*path, 4, i), name)

        for i, msg in enumerate(file.message_type):
            message(msg, (4, i), file.package)
        for i, top_enum in enumerate(file.enum_type):
            enum(top_enum, (5, i), file.package)
        for i, service in enumerate(file.service):
            add(f"{file.package}.{service.name}", (6, i))
            for j, method in enumerate(service.method):
                add(f"{file.package}.{service.name}.{method.name}", (6, i, 2, j))
    return comments


class _Builder:
    """Accumulates component schemas while the paths refer to them."""

    def __init__(self, comments: Mapping[str, str]) -> None:
        self.comments = comments
        self.schemas: dict[str, object] = {"Error": _ERROR_SCHEMA}

    def _described(self, schema: dict[str, object], name: str) -> dict[str, object]:
        comment = self.comments.get(name)
        return {**schema, "description": comment} if comment else schema

    def ref(self, descriptor: Descriptor) -> dict[str, object]:
        if descriptor.full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[descriptor.full_name])
        if descriptor.full_name not in self.schemas:
            self.schemas[descriptor.full_name] = {}
            properties = {field.name: self.field(field) for field in descriptor.fields}
            schema: dict[str, object] = {"type": "object", "properties": properties}
            self.schemas[descriptor.full_name] = self._described(schema, descriptor.full_name)
        return {"$ref": f"#/components/schemas/{descriptor.full_name}"}

    def value(self, field: FieldDescriptor) -> dict[str, object]:
        if field.message_type is not None:
            return self.ref(field.message_type)
        if field.type == _F.TYPE_ENUM:
            enum = cast(EnumDescriptor, field.enum_type)
            names = [enum_to_json(enum, value.number) for value in enum.values]
            return {"type": "string", "enum": [name for name in names if name is not None]}
        return dict(_SCALARS[field.type])

    def field(self, field: FieldDescriptor) -> dict[str, object]:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            schema: dict[str, object] = {
                "type": "object",
                "additionalProperties": self.value(field.message_type.fields_by_name["value"]),
            }
        elif field.is_repeated:
            schema = {"type": "array", "items": self.value(field)}
        else:
            schema = self.value(field)
        return self._described(schema, field.full_name)

    def parameters(self, route: Route) -> list[dict[str, object]]:
        params: list[dict[str, object]] = []
        request = route.method.input_type
        bound = {v.field_path[0] for v in route.template.variables}
        for variable in route.template.variables:
            field = request.fields_by_name[variable.field_path[0]]
            for name in variable.field_path[1:]:
                field = cast(Descriptor, field.message_type).fields_by_name[name]
            params.append({"name": variable.name, "in": "path", "required": True, "schema": self.field(field)})
        if route.body != "*":
            for field in request.fields:
                if field.name not in bound and field.name != route.body and field.message_type is None:
                    params.append({"name": field.name, "in": "query", "schema": self.field(field)})
        return params

    def body_schema(self, route: Route) -> dict[str, object]:
        if route.body == "*":
            return self.ref(route.method.input_type)
        return self.field(route.method.input_type.fields_by_name[str(route.body)])

    def response_schema(self, route: Route) -> dict[str, object]:
        if route.response_body:
            return self.value(route.method.output_type.fields_by_name[route.response_body])
        return self.ref(route.method.output_type)

    def operation(self, endpoint: Endpoint) -> dict[str, object]:
        first = endpoint.routes[0]
        content: dict[str, object] = {}
        for route in endpoint.routes:
            if route.server_streaming:
                content["text/event-stream"] = {"schema": self.response_schema(route)}
            else:
                content["application/json"] = {"schema": self.response_schema(route)}
        description = "\n\n".join(self.comments.get(r.rpc, "") for r in endpoint.routes).strip()
        operation: dict[str, object] = {
            "operationId": "_".join(r.rpc.split(".", 2)[-1].replace(".", "_") for r in endpoint.routes),
            "tags": [first.method.containing_service.name],
            "summary": description.split("\n", 1)[0].split(". ", 1)[0],
            "description": description,
            "parameters": self.parameters(first),
            "responses": {
                "200": {
                    "description": "Success. Streaming answers are server-sent events ending with `data: [DONE]`.",
                    "content": content,
                },
                "default": {"description": "An error", "content": {"application/json": {"schema": _ERROR_REF}}},
            },
        }
        if first.body:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": self.body_schema(first)}},
            }
        return operation


def build_openapi(table: RouteTable, comments: Mapping[str, str]) -> dict[str, object]:
    """The OpenAPI document of every endpoint in the table."""
    builder = _Builder(comments)
    paths: dict[str, dict[str, object]] = {}
    for endpoint in table.endpoints:
        path = endpoint.template.openapi_path()
        paths.setdefault(path, {})[endpoint.http_method.lower()] = builder.operation(endpoint)
    health = {"description": "SERVING", "content": {"application/json": {"schema": {"type": "object"}}}}
    paths["/healthz"] = {
        "get": {
            "operationId": "healthz",
            "summary": "Whether the gRPC server behind the bridge is serving.",
            "responses": {"200": health, "503": {"description": "Not serving or unreachable"}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "LLM Gateway", "version": "v1"},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(builder.schemas.items())),
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"apiKey": []}],
    }
