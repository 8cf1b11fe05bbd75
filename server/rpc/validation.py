"""Requests that are not what the proto says are INVALID_ARGUMENT, before any handler sees them.

Two checks, for every RPC, in the gateway interceptor (pipeline.py):

- Bytes that do not parse as the request message (truncated, wrong wire types, invalid
  UTF-8 in a string, nested past protobuf's recursion limit) used to fail inside grpc as
  UNKNOWN with a Python class name. `tolerant` wraps the deserializer so the failure becomes a
  `Malformed` value, and `check_request` refuses it with a plain message.
- proto3 enums are open: a client may send any number (role 99), which Python keeps as is and
  the handlers would have read as whatever their `else` branch does. `check_request` refuses
  any enum value the enum does not declare, naming the field path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from llmgw.wire.errors import InvalidArgument


class Malformed:
    """A request whose bytes did not parse; carries nothing of them."""


_MALFORMED = Malformed()


def tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """The deserializer, returning `Malformed` instead of raising on bytes that do not parse."""
    if deserializer is None:
        return None
    parse = deserializer

    def deserialize(data: bytes) -> Any:  # noqa: ANN401 - whatever the wrapped deserializer returns
        try:
            return parse(data)
        except Exception:  # any parse failure is the client's; nothing of it is kept
            return _MALFORMED

    return deserialize


def check_request(request: object) -> None:
    """Refuse a malformed request or one with an undeclared enum value (InvalidArgument)."""
    if isinstance(request, Malformed):
        raise InvalidArgument("The request is not a valid protobuf message of this method's request type.")
    if isinstance(request, Message):
        _check_enums(request, "")


@functools.cache
def _has_enums(descriptor: Descriptor) -> bool:
    """Whether any field reachable below this message type is an enum (well-known types excluded).

    Message types may be recursive (a content block holding content blocks), so the types
    reachable from this one are gathered first, each once.
    """
    seen = {descriptor.full_name}
    pending = [descriptor]
    while pending:
        for field in pending.pop().fields:
            if field.type == FieldDescriptor.TYPE_ENUM:
                return True
            child = _walked_type(field)
            if child is not None and child.full_name not in seen:
                seen.add(child.full_name)
                pending.append(child)
    return False


def _walked_type(field: FieldDescriptor) -> Descriptor | None:
    """The message type to walk into: our own message types, not google.protobuf's or map entries."""
    child = field.message_type
    if child is None or child.full_name.startswith("google.") or child.GetOptions().map_entry:
        return None
    return child


def _check_enums(message: Message, path: str) -> None:
    if not _has_enums(message.DESCRIPTOR):
        return
    for field, value in message.ListFields():
        child_type = _walked_type(field)
        if field.type != FieldDescriptor.TYPE_ENUM and child_type is None:
            continue
        where = f"{path}.{field.name}" if path else field.name
        single = isinstance(value, int | Message)  # an enum number or a message; else a repeated field
        items = [value] if single else list(value)
        if field.type == FieldDescriptor.TYPE_ENUM and field.enum_type is not None:
            for index, number in enumerate(items):
                if field.enum_type.values_by_number.get(number) is None:
                    at = where if single else f"{where}[{index}]"
                    raise InvalidArgument(f"{at}: {number} is not a valid {field.enum_type.name}.", field=at)
        else:
            for index, child in enumerate(items):
                _check_enums(child, where if single else f"{where}[{index}]")
