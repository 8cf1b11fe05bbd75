"""Which Bedrock API answers a chat request: Converse, or the native Messages route the catalog names.

The chat path builds a Converse request for every model. For a Claude model with
`api = "messages"` in the catalog, these two calls send it to `POST /anthropic/v1/messages`
instead, translated there and back by providers/bedrock/converse_via_messages.py, so the chat
servicer reads the same Converse shapes whichever API answered.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from llmgw.server.core.catalog import CatalogModel
from llmgw.server.providers.bedrock.anthropic import decode_chunk, parse_object
from llmgw.server.providers.bedrock.client import BedrockClient
from llmgw.server.providers.bedrock.converse import compact_json
from llmgw.server.providers.bedrock.converse_via_messages import (
    ConverseEventsFromMessages,
    converse_response,
    native_request,
)


def has_content(batch: list[dict[str, Any]]) -> bool:
    """Whether a batch of ConverseStream events has more than messageStart: the answer has begun (for the router)."""
    return any("messageStart" not in event for event in batch)


async def converse(bedrock: BedrockClient, model: CatalogModel, request: dict[str, Any]) -> dict[str, Any]:
    """One answer in Converse's shape, from the API the catalog says serves the model."""
    if model.api != "messages":
        return await bedrock.converse(request)
    body, betas = native_request(request, request["modelId"], stream=False)
    raw = await bedrock.native_messages(request["modelId"], compact_json(body).encode(), betas)
    return converse_response(parse_object(raw, "Bedrock's answer"))


def converse_stream(
    bedrock: BedrockClient, model: CatalogModel, request: dict[str, Any]
) -> AsyncGenerator[list[dict[str, Any]], None]:
    """A streamed answer as ConverseStream events, in batches that arrived together (to coalesce).

    From the API the catalog says serves the model.
    """
    if model.api != "messages":
        return bedrock.converse_stream_batches(request)
    return _native_stream(bedrock, model, request)


async def _native_stream(
    bedrock: BedrockClient, model: CatalogModel, request: dict[str, Any]
) -> AsyncGenerator[list[dict[str, Any]], None]:
    body, betas = native_request(request, request["modelId"], stream=True)
    translator = ConverseEventsFromMessages()
    events = bedrock.native_messages_stream(request["modelId"], compact_json(body).encode(), betas)
    try:
        async for event in events:
            data = decode_chunk(event)
            if data is not None:
                converted = translator.feed(parse_object(data, "a Bedrock stream event"))
                if converted:
                    yield list(converted)
    finally:
        await events.aclose()
