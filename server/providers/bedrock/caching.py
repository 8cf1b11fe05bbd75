"""OpenAI-shaped `cache_control` markers -> Converse `cachePoint` blocks, checked as Bedrock checks them.

A marker (`{"type": "ephemeral", "ttl": "5m" | "1h"}`) may sit on a content part, a
whole message, a tool or the system message; each becomes a `cachePoint` right after
the block it marks, so Bedrock caches the prompt prefix that ends there. The rules:

- On a model the catalog does not mark as caching, valid markers are dropped silently:
  caching is a hint that changes cost, never the answer, which is how OpenAI treats it.
  A malformed marker is refused on every model.
- `ttl: "1h"` needs a model with the 1-hour TTL (catalog); elsewhere it is refused rather
  than cached for 5 minutes, since the caller asked for (and would pay for) a longer TTL.
- At most MAX_CACHE_POINTS per request, and in prompt order (tools, system, messages)
  no `1h` point may come after a `5m` one: both are Bedrock's rules, refused here with
  the limit named before Bedrock is paid to refuse them.
"""

from __future__ import annotations

from typing import Any

from llmgw.server.core.catalog import CatalogModel
from llmgw.v1 import chat_pb2, messages_pb2
from llmgw.wire.errors import InvalidArgument

# Bedrock's limit on cache points per request (system, messages and tools together).
MAX_CACHE_POINTS = 4
TTLS = ("5m", "1h")
# Where a point sits in the prompt Bedrock caches: tools first, then system, then messages.
TOOLS, SYSTEM, MESSAGES = 0, 1, 2


class CachePoints:
    """The cache points of one request, collected while it is translated and checked at the end."""

    def __init__(self, model: CatalogModel) -> None:
        self._model = model
        self._points: list[tuple[int, int, str, str]] = []

    def after(
        self, owner: chat_pb2.ContentPart | chat_pb2.ChatMessage | chat_pb2.Tool, where: str, section: int
    ) -> list[dict[str, Any]]:
        """The block(s) to append after `owner`'s Converse block: a cachePoint if it is marked, else none.

        `owner` is a ContentPart, ChatMessage or Tool; `where` names it in errors.
        """
        if not owner.HasField("cache_control"):
            return []
        marker: messages_pb2.CacheControl = owner.cache_control
        field = f"{where}.cache_control"
        if marker.type != "ephemeral":
            raise InvalidArgument(f"{field}.type must be 'ephemeral', but is '{marker.type}'.", field=f"{field}.type")
        ttl = marker.ttl or "5m"
        if ttl not in TTLS:
            raise InvalidArgument(f"{field}.ttl must be '5m' or '1h', but is '{marker.ttl}'.", field=f"{field}.ttl")
        if not self._model.prompt_caching:
            return []
        if ttl == "1h" and not self._model.prompt_caching_1h:
            raise InvalidArgument(
                f"The model '{self._model.id}' caches prompts for 5 minutes only; send ttl '5m' or none.",
                field=f"{field}.ttl",
            )
        self._points.append((section, len(self._points), ttl, field))
        point: dict[str, Any] = {"type": "default"}
        if ttl == "1h":
            point["ttl"] = "1h"
        return [{"cachePoint": point}]

    def check(self) -> None:
        """Refuse more than MAX_CACHE_POINTS points, or a 1h point after a 5m one in prompt order."""
        if len(self._points) > MAX_CACHE_POINTS:
            raise InvalidArgument(
                f"At most {MAX_CACHE_POINTS} cache_control markers are allowed per request (Bedrock's limit "
                f"on cache points), but the request has {len(self._points)}.",
                field=self._points[MAX_CACHE_POINTS][3],
            )
        seen_5m = False
        for _, _, ttl, field in sorted(self._points):
            if ttl == "1h" and seen_5m:
                raise InvalidArgument(
                    "A cache_control marker with ttl '1h' must come before every marker with ttl '5m' "
                    "(tools, then system, then messages).",
                    field=f"{field}.ttl",
                )
            seen_5m = seen_5m or ttl == "5m"
