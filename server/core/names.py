"""Bounds on client-chosen names before they reach an error message, a log line or a row.

A model id of 5,000,000 characters used to be stored and logged as is, and an 8,000-character
one echoed in an error pushed gRPC's trailers past their limit. So: a model id is checked for
length and characters before anything else happens to it (`check_model_id`); whatever client
text an error quotes goes through `llmgw.wire.echo` (a short prefix and the length); and a name that
failed its check is stored and logged only as `loggable` makes it.
"""

from __future__ import annotations

import re

from llmgw.wire.echo import echo
from llmgw.wire.errors import InvalidArgument

MAX_MODEL_ID_LENGTH = 256
# Bedrock model ids, inference-profile ids and ARNs: anthropic.claude-3-haiku-20240307-v1:0,
# us.amazon.nova-micro-v1:0, arn:aws:bedrock:us-east-1:123456789012:inference-profile/...
_MODEL_ID = re.compile(r"[A-Za-z0-9._:/-]+")
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


def loggable(text: str, limit: int = MAX_MODEL_ID_LENGTH) -> str:
    """Client text fit for a log line or a bounded column: printable ASCII, at most `limit` characters."""
    cleaned = _UNPRINTABLE.sub("?", text[: limit + 1])
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


def check_model_id(model_id: str) -> str:
    """The model id if it can be one; InvalidArgument (field `model`) saying why not."""
    if not model_id:
        raise InvalidArgument("model is required: name a model id from GET /v1/models.", field="model")
    if len(model_id) > MAX_MODEL_ID_LENGTH or not _MODEL_ID.fullmatch(model_id):
        raise InvalidArgument(
            f"model must be 1 to {MAX_MODEL_ID_LENGTH} letters, digits, '.', '_', ':', '/' or '-'; "
            f"got {echo(model_id)}.",
            field="model",
        )
    return model_id
