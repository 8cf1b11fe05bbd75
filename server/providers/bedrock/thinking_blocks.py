"""Claude's signed thinking blocks between OpenAI-shaped messages and Converse `reasoningContent`.

An answer's reasoning comes back as `thinking_blocks` on the assistant message
(`{"type": "thinking", "thinking", "signature"}`, or `{"type": "redacted_thinking",
"data"}` with the encrypted bytes in base64), the convention other gateways use. A client
running a tool loop sends them back on that assistant message, and they go to Bedrock
first in the turn, unchanged: the text and signature as the same strings, the redacted
bytes decoded from the same base64. Bedrock checks the signature, so nothing here may
re-serialise or trim them.

Thinking blocks sent to a model that does not reason are dropped (a conversation can
switch models); Bedrock would refuse them there.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from llmgw.v1 import chat_pb2
from llmgw.wire.errors import InvalidArgument


def to_reasoning_blocks(message: chat_pb2.ChatMessage, where: str) -> list[dict[str, Any]]:
    """The Converse reasoningContent blocks for an assistant message's thinking_blocks, in order."""
    blocks: list[dict[str, Any]] = []
    for k, block in enumerate(message.thinking_blocks):
        field = f"{where}.thinking_blocks[{k}]"
        if block.type == "thinking":
            if not block.signature:
                raise InvalidArgument(
                    f"{field}.signature is required: send the thinking block back exactly as it was returned.",
                    field=f"{field}.signature",
                )
            text = {"text": block.thinking, "signature": block.signature}
            blocks.append({"reasoningContent": {"reasoningText": text}})
        elif block.type == "redacted_thinking":
            blocks.append({"reasoningContent": {"redactedContent": _redacted_bytes(block.data, f"{field}.data")}})
        else:
            raise InvalidArgument(
                f"{field}.type must be 'thinking' or 'redacted_thinking', but is '{block.type}'.", field=f"{field}.type"
            )
    return blocks


def _redacted_bytes(data: str, field: str) -> bytes:
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if not raw:
        raise InvalidArgument(f"{field} must be the base64 data of the redacted thinking block.", field=field)
    return raw


def from_reasoning_block(content: Mapping[str, Any]) -> chat_pb2.ThinkingBlock:
    """An answer's reasoningContent (as boto3 returns it) as a thinking block to hand the client."""
    if "redactedContent" in content:
        data = base64.b64encode(bytes(content["redactedContent"])).decode("ascii")
        return chat_pb2.ThinkingBlock(type="redacted_thinking", data=data)
    text: Mapping[str, Any] = content.get("reasoningText", {})
    return chat_pb2.ThinkingBlock(
        type="thinking", thinking=str(text.get("text", "")), signature=str(text.get("signature", ""))
    )
