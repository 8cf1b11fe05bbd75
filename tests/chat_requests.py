"""Building chat requests and reading their request records, for the gRPC-level tests."""

from __future__ import annotations

import time

from llmgw.server.store.models import RequestRecord
from llmgw.v1 import chat_pb2
from tests.model_ids import HAIKU

RECORD_WAIT_SECONDS = 5


def user(text: str) -> chat_pb2.ChatMessage:
    """A user message with one text part."""
    return chat_pb2.ChatMessage(role=chat_pb2.ROLE_USER, content=[chat_pb2.ContentPart(text=text)])


def params(*messages: chat_pb2.ChatMessage, model: str = HAIKU, **fields: object) -> chat_pb2.ChatCompletionParams:
    """Completion parameters for these messages."""
    return chat_pb2.ChatCompletionParams(model=model, messages=messages, **fields)  # type: ignore[arg-type]


def records(key_name: str, expected: int = 1) -> list[RequestRecord]:
    """The request records of one key, waiting (bounded) for rows queued without waiting."""
    deadline = time.monotonic() + RECORD_WAIT_SECONDS
    while True:
        rows = list(RequestRecord.select().where(RequestRecord.key_name == key_name).order_by(RequestRecord.created_at))
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.02)
