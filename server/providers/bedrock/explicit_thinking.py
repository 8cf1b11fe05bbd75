"""Anthropic's explicit `thinking: {"type": "enabled", "budget_tokens": N}` on the OpenAI-shaped request.

The other way in besides `reasoning_effort` (thinking.py), for clients that already
speak Anthropic's shape. Where the model takes `enabled` (Claude 4.6 and older), the
budget goes to Bedrock as given; where it has only adaptive thinking (Claude 4.7 and
later, which answer `enabled` with 400), the budget becomes the effort level whose
THINKING_BUDGET_* setting is the largest not above it (else `low`), as reference 10.10
advises. `{"type": "disabled"}` is `reasoning_effort: "none"`.
"""

from __future__ import annotations

from llmgw.server.core.catalog import CatalogModel
from llmgw.server.providers.bedrock.thinking import (
    MIN_THINKING_BUDGET,
    ThinkingPlan,
    ThinkingSettings,
    default_limit,
    plan_thinking,
)
from llmgw.v1 import messages_pb2
from llmgw.wire.errors import InvalidArgument

_LEVELS = ("low", "medium", "high", "xhigh")


def plan_explicit_thinking(
    model: CatalogModel, config: messages_pb2.ThinkingConfig, limit: int | None, settings: ThinkingSettings
) -> ThinkingPlan:
    """The thinking fields and answer limit for an explicit `thinking` parameter."""
    if config.type == "disabled":
        return plan_thinking(model, "none", limit, settings)
    if config.type != "enabled":
        raise InvalidArgument(
            f"thinking.type must be 'enabled' or 'disabled', but is '{config.type}'.", field="thinking.type"
        )
    if not model.thinking.modes:
        raise InvalidArgument(
            f"The model '{model.id}' does not reason; send the request without thinking.", field="thinking"
        )
    if not config.HasField("budget_tokens") or config.budget_tokens < MIN_THINKING_BUDGET:
        raise InvalidArgument(
            f"thinking.budget_tokens must be at least {MIN_THINKING_BUDGET}.", field="thinking.budget_tokens"
        )
    budget = config.budget_tokens
    if "enabled" not in model.thinking.modes:
        fitting = [level for level in _LEVELS if settings.budgets.get(level, budget + 1) <= budget]
        return plan_thinking(model, fitting[-1] if fitting else "low", limit, settings)
    max_tokens = limit if limit is not None else min(default_limit(model, settings) + budget, model.max_output_tokens)
    if budget >= max_tokens:
        raise InvalidArgument(
            f"thinking.budget_tokens ({budget}) must be below the answer limit ({max_tokens}); "
            "raise max_completion_tokens or lower the budget.",
            field="thinking.budget_tokens",
        )
    fields = {"thinking": {"type": "enabled", "budget_tokens": budget}}
    return ThinkingPlan(fields, max_tokens, thinking=True)
