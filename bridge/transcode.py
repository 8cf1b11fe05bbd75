"""JSON <-> protobuf for the bridge: every mapping rule lives here, and nowhere else.

Input (JSON -> proto):
- proto field names (snake_case); the lowerCamelCase JSON names are accepted too;
- unknown fields are ignored (the SDKs send fields we do not model), and JSON `null` for any
  field means absent;
- types are strict and errors name the field (`messages[0].role: unknown value 'robot'`):
  strings are strings, booleans are booleans, integers are whole numbers (or decimal strings)
  within range, floating fields take numbers;
- enums take their short lowercase form (`user`, `tool_calls`) or the full value name;
- shapes of the served API that are not plain proto JSON are rewritten first by the input
  hooks of the route's `JsonShapes`, keyed by the field's full name; string fields named with
  its numeric suffix also take a number (money: `limit_usd: 12.5`).

Output (proto -> JSON), chosen so responses look like hand-written JSON APIs (OpenAI's among them):
- fields with explicit presence (messages, `optional` scalars) appear only when set;
- other scalars always appear, defaults included (`index: 0`, `object`, `created`);
- empty repeated and map fields are left out, except at the top level of a response body,
  where OpenAI always sends its lists (`choices: []` in the final usage chunk, `data: []`);
- enums use the short lowercase form, and value 0 (`..._UNSPECIFIED`) is `null`, except in the
  message types the route's `JsonShapes` lists, where an unset enum is left out;
- 64-bit integers are JSON numbers (OpenAI's `created` is a number), bytes are base64;
- well-known types (Struct, Value, Timestamp, ...) use their standard proto3 JSON form;
- a field with an output hook in the route's `JsonShapes` (keyed by its full name) is written
  by that hook instead.

A body field of type `google.api.HttpBody` takes the request's bytes as they are, and an
HttpBody response is its bytes with its own content type (`response_payload`).

The short enum form strips the prefix that buf's ENUM_VALUE_PREFIX rule guarantees: the enum's
name in UPPER_SNAKE_CASE plus `_` (`FinishReason.FINISH_REASON_TOOL_CALLS` <-> `tool_calls`).
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Callable, Mapping
from typing import Any, cast
from urllib.parse import parse_qsl

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from llmgw.bridge.errors import ClientError
from llmgw.bridge.routes import HTTP_BODY, PLAIN_JSON, JsonShapes, Route

_F = FieldDescriptor
_INT_RANGES = {
    _F.TYPE_INT32: (-(2**31), 2**31 - 1),
    _F.TYPE_SINT32: (-(2**31), 2**31 - 1),
    _F.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    _F.TYPE_UINT32: (0, 2**32 - 1),
    _F.TYPE_FIXED32: (0, 2**32 - 1),
    _F.TYPE_INT64: (-(2**63), 2**63 - 1),
    _F.TYPE_SINT64: (-(2**63), 2**63 - 1),
    _F.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    _F.TYPE_UINT64: (0, 2**64 - 1),
    _F.TYPE_FIXED64: (0, 2**64 - 1),
}
_FLOATS = frozenset({_F.TYPE_DOUBLE, _F.TYPE_FLOAT})
_WELL_KNOWN_PREFIX = "google.protobuf."
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")

# Emission modes, precomputed per message type.
_REPEATED, _MAP, _PRESENCE, _ALWAYS, _NONZERO = range(5)


def type_name(value: object) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def enum_prefix(enum: EnumDescriptor) -> str:
    """The value prefix stripped in JSON: `FinishReason` -> `FINISH_REASON_`."""
    return _CAMEL_BOUNDARY.sub("_", enum.name).upper() + "_"


@functools.cache
def _enum_names(enum: EnumDescriptor) -> tuple[dict[int, str | None], dict[str, int]]:
    """(number -> short name or None for 0, accepted spelling -> number) for one enum."""
    prefix = enum_prefix(enum)
    short: dict[int, str | None] = {}
    accepted: dict[str, int] = {}
    for value in enum.values:
        name = value.name[len(prefix) :] if value.name.startswith(prefix) else value.name
        short.setdefault(value.number, None if value.number == 0 else name.lower())
        accepted[name.lower()] = value.number
        accepted[value.name] = value.number
    return short, accepted


def enum_to_json(enum: EnumDescriptor, number: int) -> str | int | None:
    """The short lowercase name of an enum value; None for 0, the number for unknown values."""
    short = _enum_names(enum)[0]
    return short.get(number, number)


def enum_from_json(enum: EnumDescriptor, value: object, where: str) -> int:
    """The number of an enum value given by short name, full name or number."""
    accepted = _enum_names(enum)[1]
    if isinstance(value, str):
        number = accepted.get(value)
        if number is None:
            raise ClientError(f"{where}: unknown value {value!r}", param=where)
        return number
    if isinstance(value, int) and not isinstance(value, bool) and value in _enum_names(enum)[0]:
        return value
    raise ClientError(f"{where}: unknown value {value!r}", param=where)


def _enum(field: FieldDescriptor) -> EnumDescriptor:
    """The enum type of an enum field (typed for mypy: the stubs say it may be None)."""
    return cast(EnumDescriptor, field.enum_type)


def _message_type(field: FieldDescriptor) -> Descriptor:
    """The message type of a message field (typed for mypy: the stubs say it may be None)."""
    return cast(Descriptor, field.message_type)


def _field(descriptor: Descriptor, name: str) -> FieldDescriptor:
    """A field of a message type known to exist."""
    return descriptor.fields_by_name[name]


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _is_well_known(descriptor: Descriptor) -> bool:
    return descriptor.full_name.startswith(_WELL_KNOWN_PREFIX)


def _integer(field: FieldDescriptor, value: object, where: str) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            number = None
    if number is None:
        raise ClientError(f"{where}: expected an integer, got {type_name(value)}", param=where)
    low, high = _INT_RANGES[field.type]
    if not low <= number <= high:
        raise ClientError(f"{where}: {number} is out of range", param=where)
    return number


def _scalar(field: FieldDescriptor, value: object, where: str, shapes: JsonShapes = PLAIN_JSON) -> object:
    """Check and convert one JSON scalar for a non-message field."""
    kind = field.type
    if kind == _F.TYPE_STRING:
        if isinstance(value, str):
            return value
        suffix = shapes.numeric_string_suffix
        if suffix and field.name.endswith(suffix) and isinstance(value, int | float) and not isinstance(value, bool):
            # A decimal string also accepted as a number; repr is the shortest exact text.
            return repr(value)
        raise ClientError(f"{where}: expected a string, got {type_name(value)}", param=where)
    if kind == _F.TYPE_BOOL:
        if isinstance(value, bool):
            return value
        raise ClientError(f"{where}: expected a boolean, got {type_name(value)}", param=where)
    if kind == _F.TYPE_ENUM:
        return enum_from_json(_enum(field), value, where)
    if kind in _INT_RANGES:
        return _integer(field, value, where)
    if kind in _FLOATS:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ClientError(f"{where}: expected a number, got {type_name(value)}", param=where)
    if isinstance(value, str):
        try:
            return base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_" if "-" in value else None)
        except (binascii.Error, ValueError):
            pass
    raise ClientError(f"{where}: expected base64 bytes", param=where)


def _message(target: Message, value: object, where: str, shapes: JsonShapes) -> None:
    """Fill a (sub)message from a JSON value and mark it present, even for `{}`."""
    if _is_well_known(cast(Descriptor, target.DESCRIPTOR)):
        try:
            json_format.ParseDict(cast(dict[str, object], value), target)
        except (json_format.ParseError, TypeError, ValueError) as exc:
            raise ClientError(f"{where}: {exc}", param=where) from None
        return
    parse_into(target, value, where, shapes)
    target.SetInParent()


def _set_field(message: Message, field: FieldDescriptor, value: object, where: str, shapes: JsonShapes) -> None:
    if _is_map(field):
        if not isinstance(value, dict):
            raise ClientError(f"{where}: expected an object, got {type_name(value)}", param=where)
        entries = getattr(message, field.name)
        entry = _message_type(field)
        key_field, value_field = _field(entry, "key"), _field(entry, "value")
        for raw_key, item in value.items():
            item_where = f"{where}.{raw_key}"
            key = raw_key if key_field.type == _F.TYPE_STRING else _scalar(key_field, raw_key, item_where, shapes)
            if value_field.message_type is not None:
                _message(entries[key], item, item_where, shapes)
            elif item is not None:
                entries[key] = _scalar(value_field, item, item_where, shapes)
        return
    if field.is_repeated:
        if not isinstance(value, list):
            raise ClientError(f"{where}: expected an array, got {type_name(value)}", param=where)
        items = getattr(message, field.name)
        for i, item in enumerate(value):
            item_where = f"{where}[{i}]"
            if item is None:
                raise ClientError(f"{item_where}: null is not allowed in an array", param=item_where)
            if field.message_type is not None:
                _message(items.add(), item, item_where, shapes)
            else:
                items.append(_scalar(field, item, item_where, shapes))
        return
    if field.message_type is not None:
        _message(getattr(message, field.name), value, where, shapes)
    else:
        setattr(message, field.name, _scalar(field, value, where, shapes))


def parse_into(message: Message, data: object, path: str = "", shapes: JsonShapes = PLAIN_JSON) -> None:
    """Merge a decoded JSON object into `message`; `path` prefixes field names in errors."""
    if not isinstance(data, dict):
        raise ClientError(f"{path or 'body'}: expected an object, got {type_name(data)}", param=path or None)
    descriptor = message.DESCRIPTOR
    for key, value in data.items():
        field = cast(
            FieldDescriptor | None,
            descriptor.fields_by_name.get(key) or descriptor.fields_by_camelcase_name.get(key),
        )
        if field is None:
            continue
        where = f"{path}.{field.name}" if path else field.name
        hook = shapes.input_hooks.get(field.full_name)
        if hook is not None:
            value = hook(value, where)
        if value is not None:
            _set_field(message, field, value, where, shapes)


def _text_value(field: FieldDescriptor, text: str, where: str) -> object:
    """A path or query string as the JSON value `_scalar` expects for the field."""
    if field.type == _F.TYPE_BOOL:
        flags = {"true": True, "1": True, "false": False, "0": False}
        if text.lower() in flags:
            return flags[text.lower()]
        raise ClientError(f"{where}: expected true or false, got {text!r}", param=where)
    if field.type in _FLOATS:
        try:
            return float(text)
        except ValueError:
            raise ClientError(f"{where}: expected a number, got {text!r}", param=where) from None
    return text


def _resolve(message: Message, dotted: str) -> tuple[Message, FieldDescriptor] | None:
    """The message holding the last field of a dotted path, creating parents; None if unknown."""
    names = dotted.split(".")
    for name in names[:-1]:
        field = cast(FieldDescriptor | None, message.DESCRIPTOR.fields_by_name.get(name))
        if field is None or field.message_type is None or field.is_repeated:
            return None
        message = getattr(message, name)
    field = cast(FieldDescriptor | None, message.DESCRIPTOR.fields_by_name.get(names[-1]))
    return None if field is None else (message, field)


def bind_path(message: Message, values: Mapping[str, str]) -> None:
    """Set the fields named by path variables (checked to be scalars when the table was built)."""
    for dotted, text in values.items():
        resolved = _resolve(message, dotted)
        if resolved is None:
            raise LookupError(f"path variable {dotted!r} names no field")
        owner, field = resolved
        setattr(owner, field.name, _scalar(field, _text_value(field, text, dotted), dotted))


def bind_query(message: Message, query: bytes, skip: frozenset[str]) -> None:
    """Set scalar fields from query parameters: repeated fields by repetition, nested by dots.

    Unknown parameters are ignored, like unknown JSON fields (clients add their own, e.g.
    `api-version`); parameters naming a field bound by the path or body (`skip`) too.
    """
    try:
        pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise ClientError("query: invalid UTF-8 in a parameter") from None
    for key, text in pairs:
        if key in skip or key.split(".", 1)[0] in skip:
            continue
        resolved = _resolve(message, key)
        if resolved is None:
            continue
        owner, field = resolved
        if field.message_type is not None:
            # Well-known types take their JSON string form (start_time=2026-11-01T00:00:00Z).
            if field.is_repeated or not _is_well_known(_message_type(field)):
                raise ClientError(f"{key}: cannot be set from a query parameter", param=key)
            _message(getattr(owner, field.name), text, key, PLAIN_JSON)
            continue
        value = _scalar(field, _text_value(field, text, key), key)
        if field.is_repeated:
            getattr(owner, field.name).append(value)
        else:
            setattr(owner, field.name, value)


def build_request(route: Route, body: object, path_values: Mapping[str, str], query: bytes) -> Message:
    """The RPC's request message from the decoded body, the path variables and the query string."""
    request = route.request_class()
    if route.raw_body:
        raw = getattr(request, cast(str, route.body))
        raw.content_type = "application/json"
        raw.data = body if isinstance(body, bytes) else b""
    elif route.body == "*":
        parse_into(request, body, "", route.shapes)
    elif route.body:
        field = _field(cast(Descriptor, request.DESCRIPTOR), route.body)
        if field.message_type is not None and not field.is_repeated and not _is_well_known(_message_type(field)):
            parse_into(getattr(request, route.body), body, "", route.shapes)
            getattr(request, route.body).SetInParent()
        elif body is not None:
            _set_field(request, field, body, route.body, route.shapes)
    bind_path(request, path_values)
    if route.body != "*" and query:
        bind_query(request, query, frozenset({*path_values, *([route.body] if route.body else [])}))
    return request


_Convert = Callable[[Any], object] | None  # None: the value is its own JSON


def _well_known_to_json(value: Message) -> object:
    return json_format.MessageToDict(value, preserving_proto_field_name=True)


def _bytes_to_json(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _converter(field: FieldDescriptor, shapes: JsonShapes) -> _Convert:
    """How one value of a field becomes JSON data (the shapes' output hook for it first)."""
    hook = shapes.output_hooks.get(field.full_name)
    if hook is not None:
        return hook
    if field.message_type is not None:
        if _is_well_known(field.message_type):
            return _well_known_to_json
        return functools.partial(message_to_dict, shapes=shapes)
    if field.type == _F.TYPE_ENUM:
        short = _enum_names(_enum(field))[0]
        return lambda number: short.get(number, number)
    if field.type == _F.TYPE_BYTES:
        return _bytes_to_json
    return None


@functools.cache
def _plan(descriptor: Descriptor, shapes: JsonShapes) -> tuple[tuple[str, int, _Convert], ...]:
    """How each field of a message type is emitted (see the module docstring)."""
    plan = []
    for field in descriptor.fields:
        if _is_map(field):
            mode, convert = _MAP, _converter(_field(_message_type(field), "value"), shapes)
        else:
            convert = _converter(field, shapes)
            if field.is_repeated:
                mode = _REPEATED
            elif field.has_presence:
                mode = _PRESENCE
            elif field.type == _F.TYPE_ENUM and descriptor.full_name in shapes.omit_unset_enums:
                mode = _NONZERO
            else:
                mode = _ALWAYS
        plan.append((field.name, mode, convert))
    return tuple(plan)


def message_to_dict(message: Message, *, top_level: bool = False, shapes: JsonShapes = PLAIN_JSON) -> dict[str, object]:
    """A message as JSON data (see the module docstring for the emission rule).

    `top_level` marks a response body's root object, whose lists are emitted even when empty.
    """
    out: dict[str, object] = {}
    for name, mode, convert in _plan(cast(Descriptor, message.DESCRIPTOR), shapes):
        if mode == _ALWAYS:
            value = getattr(message, name)
            out[name] = value if convert is None else convert(value)
        elif mode == _PRESENCE:
            if message.HasField(name):
                value = getattr(message, name)
                out[name] = value if convert is None else convert(value)
        elif mode == _REPEATED:
            items = getattr(message, name)
            if items or top_level:
                out[name] = list(items) if convert is None else [convert(item) for item in items]
        elif mode == _NONZERO:
            value = getattr(message, name)
            if value:
                out[name] = value if convert is None else convert(value)
        else:
            entries = getattr(message, name)
            if entries:
                out[name] = {str(k): v if convert is None else convert(v) for k, v in entries.items()}
    return out


def response_payload(route: Route, response: Message) -> tuple[dict[str, object] | bytes, str | None]:
    """The HTTP body of one response message: JSON data, or the bytes and content type of an HttpBody."""
    body: Any = getattr(response, route.response_body) if route.response_body else response
    if body.DESCRIPTOR.full_name == HTTP_BODY:
        return bytes(body.data), str(body.content_type) or None
    return message_to_dict(body, top_level=True, shapes=route.shapes), None


def response_to_dict(route: Route, response: Message) -> dict[str, object]:
    """The HTTP body of one response message: its `response_body` field, or all of it."""
    if route.response_body:
        return message_to_dict(getattr(response, route.response_body), top_level=True, shapes=route.shapes)
    return message_to_dict(response, top_level=True, shapes=route.shapes)
