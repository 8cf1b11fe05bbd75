"""What the Anthropic-shaped services share: call metadata, betas, the cost bound, stream accounting.

MessagesService and BedrockService both send Anthropic bodies to Bedrock for Claude models;
they pass the same governance (model access, then quota admission with rate limits) and the
same recording as the OpenAI path, through `Governance` and `RequestRecorder`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from llmgw.server.core import accounting
from llmgw.server.core.accounting import chat_input_token_bound, estimate_tokens
from llmgw.server.core.catalog import Catalog, CatalogModel
from llmgw.server.governance.admission import Governance
from llmgw.server.providers.bedrock.anthropic import AnthropicUsage, split_betas
from llmgw.server.providers.bedrock.thinking import ThinkingSettings
from llmgw.server.routing.router import Router
from llmgw.server.routing.table import RouteTable
from llmgw.server.rpc.context import Context
from llmgw.server.services.admission import Admission
from llmgw.server.services.detached import DetachedCalls
from llmgw.server.services.recording import RequestRecorder, RequestTrace
from llmgw.wire.errors import InvalidArgument

logger = logging.getLogger(__name__)

SESSION_HEADER = "x-claude-code-session-id"
BETA_HEADER = "anthropic-beta"
VERSION_HEADER = "anthropic-version"
_SESSION_MAX = 128


@dataclass(frozen=True, slots=True)
class ClaudeWiring:
    """What both Claude servicers (the Messages API and the Bedrock passthrough) are built from."""

    catalog: Catalog
    admission: Admission
    routes: RouteTable
    router: Router
    recorder: RequestRecorder
    clock: Callable[[], datetime]
    governance: Governance
    detached: DetachedCalls
    thinking: ThinkingSettings = field(default_factory=ThinkingSettings)


def metadata_values(context: Context, name: str) -> list[str]:
    """Every value of one call-metadata key (the HTTP header of that name, over the bridge)."""
    values: list[str] = []
    for key, value in context.invocation_metadata() or ():
        if key == name:
            values.append(value.decode("latin-1") if isinstance(value, bytes) else value)
    return values


def session_id(context: Context) -> str:
    """The Claude Code session the call belongs to, or empty (cut to the log column's size)."""
    values = metadata_values(context, SESSION_HEADER)
    return values[0].strip()[:_SESSION_MAX] if values else ""


_ARN_RESOURCES = (":inference-profile/", ":foundation-model/")


def catalog_id(catalog: Catalog, model_id: str) -> str:
    """The catalog id a caller's model id names, also when given as the ARN of a system-defined profile or model.

    `arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-...` is the
    profile `us.anthropic.claude-...` (Claude Code may be configured with ARNs); any other id,
    known or not, is returned as it is, for the catalog lookup to accept or refuse.
    """
    if model_id.startswith("arn:"):
        for resource in _ARN_RESOURCES:
            if resource in model_id:
                resolved = model_id.split(resource, 1)[1]
                if resolved in catalog:
                    return resolved
    return model_id


def is_claude(model: CatalogModel) -> bool:
    """Whether Bedrock takes Anthropic's own request body for the model."""
    return model.owned_by == "anthropic" and model.kind == "chat"


def require_claude(model: CatalogModel) -> None:
    """Refuse (INVALID_ARGUMENT) a model that takes no Anthropic body."""
    if not is_claude(model):
        raise InvalidArgument(
            f"The model '{model.id}' is not a Claude model: Bedrock takes Anthropic's request format only "
            "for Claude. Call it on /v1/chat/completions.",
            field="model",
        )


def allowed_betas(model: CatalogModel, requested: Sequence[str]) -> list[str]:
    """The betas the model's catalog allowlist has; the rest are dropped (logged at debug)."""
    passed, dropped = split_betas(requested, model.anthropic_betas)
    if dropped:
        logger.debug("dropped anthropic-beta values the model %s does not accept: %s", model.id, ", ".join(dropped))
    return passed


def cost_bound(model: CatalogModel, request_bytes: int, image_bytes: int, images: int, max_tokens: int) -> int:
    """The most a Messages request can cost: its size bounds the input (priced the dearest way), its cap the output."""
    return accounting.cost_bound(model, chat_input_token_bound(request_bytes, image_bytes, images), max(max_tokens, 0))


def image_sizes(blocks: Iterable[Mapping[str, object]]) -> tuple[int, int]:
    """(base64 bytes, count) of the image sources among Anthropic content blocks, nested ones too."""
    total, count = 0, 0
    for block in blocks:
        source = block.get("source")
        if block.get("type") == "image" and isinstance(source, Mapping):
            data = source.get("data")
            total += len(data) if isinstance(data, str) else 0
            count += 1
        content = block.get("content")
        if isinstance(content, list):
            nested = image_sizes(item for item in content if isinstance(item, Mapping))
            total, count = total + nested[0], count + nested[1]
    return total, count


def body_images(body: Mapping[str, object]) -> tuple[int, int]:
    """(base64 bytes, count) of the images in an Anthropic request body."""
    total, count = 0, 0
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else ():
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, list):
            found = image_sizes(block for block in content if isinstance(block, Mapping))
            total, count = total + found[0], count + found[1]
    return total, count


@dataclass(slots=True)
class StreamUsage:
    """What a stream of Anthropic events has cost so far, for the record however it ends."""

    usage: AnthropicUsage = field(default_factory=AnthropicUsage)
    generated_chars: int = 0
    started: bool = False
    stopped: bool = False
    metrics: dict[str, int] = field(default_factory=dict)

    def feed(self, event: Mapping[str, object]) -> None:
        """Account one event: usage, generated text, Bedrock's closing invocation metrics."""
        self.started = True
        self.usage.feed_event(event)
        kind = event.get("type")
        if kind == "content_block_delta":
            delta = event.get("delta")
            if isinstance(delta, Mapping):
                for key in ("text", "partial_json", "thinking"):
                    value = delta.get(key)
                    if isinstance(value, str):
                        self.generated_chars += len(value)
        elif kind == "message_stop":
            self.stopped = True
            metrics = event.get("amazon-bedrock-invocationMetrics")
            if isinstance(metrics, Mapping):
                self.metrics = {k: v for k, v in metrics.items() if isinstance(v, int)}

    def settle(self, trace: RequestTrace, prompt_estimate: int, left: bool) -> tuple[int, int]:
        """(input, output) to charge, with the cache counts noted on the trace.

        A finished stream is charged what Bedrock reported. A stream that ended early is charged
        the input Bedrock reported (or the prompt's estimate when the caller left after the call
        went out), and at least an estimate of what was generated.
        """
        usage = self.usage
        note_cache(trace, usage)
        if self.stopped:
            return usage.input_tokens, usage.output_tokens
        input_tokens = usage.input_tokens if usage.seen else (prompt_estimate if left or self.started else 0)
        return input_tokens, max(usage.output_tokens, estimate_tokens(self.generated_chars))


def answering(event: Mapping[str, object]) -> bool:
    """Whether an Anthropic stream event carries the answer, where failover ends.

    message_start, ping and content_block_start say nothing the caller needs yet, so they are
    held back and another target may still take over until the first delta (or the end).
    """
    return event.get("type") not in ("message_start", "ping", "content_block_start")


def note_cache(trace: RequestTrace, usage: AnthropicUsage) -> None:
    """Put the answer's prompt-cache counts on the trace, which charges them at their own prices."""
    trace.cache_read_tokens = usage.cache_read_tokens
    trace.cache_write_tokens = usage.cache_write_tokens
