"""What each model is sent about thinking, sampling, tool choice and answer length (reference 10.6, 10.10).

The catalog says, per model, which `thinking.type` values it accepts, which effort
levels, whether it hides its thinking text unless asked, which sampling parameters
it takes and whether it takes forced tool use. This module turns an OpenAI request
into what the model accepts, so Bedrock is never sent something it answers with 400:

- `reasoning_effort` becomes adaptive thinking with `output_config.effort` where the
  model has adaptive thinking, else `enabled` with a budget from the settings; `none`
  becomes `disabled` where the model accepts that, nothing where the model thinks only
  when asked, and the lowest effort where it always thinks. `enabled` and `disabled`
  are never sent to a model that rejects them.
- Where the model hides its thinking by default, `display: "summarized"` is asked for,
  so the answer carries `reasoning_content`.
- While a Claude model thinks, Anthropic refuses forced tool use and sampling changes: a
  forced `tool_choice` is sent as `auto`, `temperature` is dropped unless it is 1 and
  `top_p` unless it is 0.95 or above.
- The Fable rules (catalog `sampling`): "single" drops `top_p` when both are given;
  "fixed" passes `temperature` only at 1 and `top_p` only at 0.99 or above, never both.
- With no caller limit, the answer limit is DEFAULT_MAX_TOKENS (or the model's catalog
  override), plus the thinking budget when one is sent; it is also what the quota
  reservation assumes, so the reservation bounds what Bedrock can bill.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmgw.server.core.catalog import CatalogModel
from llmgw.wire.errors import InvalidArgument

REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
# Anthropic's smallest thinking budget.
MIN_THINKING_BUDGET = 1024
_LEVEL = {"minimal": "low", "low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "max"}
_EFFORT_ORDER = ("low", "medium", "high", "xhigh", "max")
_FIXED_TEMPERATURE = 1.0
_FIXED_MIN_TOP_P = 0.99
_THINKING_MIN_TOP_P = 0.95


@dataclass(frozen=True, slots=True)
class ThinkingSettings:
    """The gateway-wide knobs: the answer limit when the caller sets none, and the thinking budgets."""

    default_max_tokens: int = 8192
    budgets: Mapping[str, int] = field(
        default_factory=lambda: {"low": 1024, "medium": 4096, "high": 16384, "xhigh": 32768}
    )


@dataclass(frozen=True, slots=True)
class ThinkingPlan:
    """What goes to Bedrock for one request: extra model fields, the answer limit, and whether it thinks."""

    fields: dict[str, Any]
    max_tokens: int
    thinking: bool


def caller_limit(max_completion_tokens: int | None, max_tokens: int | None) -> int | None:
    """The caller's answer limit (max_completion_tokens wins), checked; None when they set none."""
    for name, value in (("max_completion_tokens", max_completion_tokens), ("max_tokens", max_tokens)):
        if value is not None:
            if value < 1:
                raise InvalidArgument(f"{name} must be at least 1, but is {value}.", field=name)
            return value
    return None


def default_limit(model: CatalogModel, settings: ThinkingSettings) -> int:
    """The answer limit sent when the caller sets none: the model's override or DEFAULT_MAX_TOKENS, capped."""
    return min(model.default_max_tokens or settings.default_max_tokens, model.max_output_tokens)


def plan_thinking(
    model: CatalogModel, effort: str | None, limit: int | None, settings: ThinkingSettings
) -> ThinkingPlan:
    """The thinking fields and answer limit for a request with this `reasoning_effort` and caller limit."""
    thinking = model.thinking
    if effort is not None and effort not in REASONING_EFFORTS:
        raise InvalidArgument(
            f"reasoning_effort must be one of {', '.join(REASONING_EFFORTS)}, but is '{effort}'.",
            field="reasoning_effort",
        )
    if effort is not None and not thinking.modes and effort != "none":
        raise InvalidArgument(
            f"The model '{model.id}' does not reason; send the request without reasoning_effort.",
            field="reasoning_effort",
        )
    max_tokens = limit if limit is not None else default_limit(model, settings)
    fields: dict[str, Any] = {}
    if not thinking.modes:
        return ThinkingPlan(fields, max_tokens, thinking=False)
    if effort == "none" and "disabled" in thinking.modes:
        fields["thinking"] = {"type": "disabled"}
        return ThinkingPlan(fields, max_tokens, thinking=False)
    if effort == "none" and not thinking.by_default:
        return ThinkingPlan(fields, max_tokens, thinking=False)
    if effort is None:
        on = thinking.by_default
        if on and thinking.summarized_display and "adaptive" in thinking.modes:
            fields["thinking"] = {"type": "adaptive", "display": "summarized"}
        return ThinkingPlan(fields, max_tokens, thinking=on)
    # `none` on a model that cannot stop thinking: its lowest effort.
    level = _LEVEL.get(effort, "low")
    if "adaptive" in thinking.modes:
        adaptive: dict[str, Any] = {"type": "adaptive"}
        if thinking.summarized_display:
            adaptive["display"] = "summarized"
        fields["thinking"] = adaptive
        fields["output_config"] = {"effort": _nearest_effort(level, thinking.efforts)}
        return ThinkingPlan(fields, max_tokens, thinking=True)
    budget = settings.budgets.get(level, settings.budgets["xhigh"])
    if limit is None:
        max_tokens = min(max_tokens + budget, model.max_output_tokens)
    budget = min(budget, max_tokens - 1)
    if budget < MIN_THINKING_BUDGET:
        raise InvalidArgument(
            f"Reasoning on '{model.id}' needs an answer limit above {MIN_THINKING_BUDGET} tokens, "
            f"but it is {max_tokens}.",
            field="max_completion_tokens" if limit is not None else "reasoning_effort",
        )
    fields["thinking"] = {"type": "enabled", "budget_tokens": budget}
    return ThinkingPlan(fields, max_tokens, thinking=True)


def _nearest_effort(level: str, efforts: tuple[str, ...]) -> str:
    """The model's effort for an OpenAI level: the same, else the highest it has below it, else its lowest."""
    if level in efforts:
        return level
    below = [effort for effort in _EFFORT_ORDER[: _EFFORT_ORDER.index(level)] if effort in efforts]
    return below[-1] if below else efforts[0]


def sampling(model: CatalogModel, temperature: float | None, top_p: float | None, thinking: bool) -> dict[str, float]:
    """The inferenceConfig sampling fields the model takes, after its rules and the thinking rule."""
    if thinking and model.owned_by == "anthropic":
        temperature = temperature if temperature == _FIXED_TEMPERATURE else None
        top_p = top_p if top_p is not None and top_p >= _THINKING_MIN_TOP_P else None
    rule = model.thinking.sampling
    if rule == "fixed":
        temperature = temperature if temperature == _FIXED_TEMPERATURE else None
        top_p = top_p if top_p is not None and top_p >= _FIXED_MIN_TOP_P else None
    if rule != "free" and temperature is not None:
        top_p = None
    config: dict[str, float] = {}
    if temperature is not None:
        config["temperature"] = temperature
    if top_p is not None:
        config["topP"] = top_p
    return config


def allows_forced_tool_use(model: CatalogModel, thinking: bool) -> bool:
    """Whether a forced tool_choice may be sent: the model takes it, and it is not thinking."""
    return model.thinking.forced_tool_use and not (thinking and model.owned_by == "anthropic")
