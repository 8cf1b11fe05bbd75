"""An Anthropic request body fitted to what its Claude model accepts, so Bedrock never answers it with 400.

The catalog says how each model thinks (`CatalogModel.thinking`); `thinking.py` applies that to
OpenAI requests, and this module applies the same rules to Anthropic-shaped ones (the Messages
API and the `/bedrock` passthrough), changing only what the model would refuse:

- `thinking.type: "enabled"` on a model that thinks only adaptively becomes `adaptive`, with the
  `output_config.effort` nearest its `budget_tokens`; `adaptive` on a model that takes only a
  budget becomes `enabled` with the budget of its effort (ThinkingSettings); `disabled` on a
  model that always thinks is left out. An effort the model lacks becomes its nearest one.
- Sampling follows `thinking.sampling` (the model's rule, and Anthropic's rule while thinking);
  `top_k` is left out where the rule is "fixed" (the Fable family takes none).
- A forced `tool_choice` becomes `auto` where the model refuses forced tool use.

`native_version` picks the `anthropic-version` of a native-route call (reference 10.7, 10.10):
`2023-06-01`, unless the caller asked for `2026-10-21` and the model is Claude 4.7+ (the
models the catalog serves on that route). Under `2026-10-21`, `fit_to_version` leaves out
`temperature`, `top_p` and `top_k`, which that version removed (even default values are a 400).

Everything else, thinking signatures and the whole prefix included, is left as it came.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from llmgw.server.core.catalog import CatalogModel
from llmgw.server.providers.bedrock.anthropic import NATIVE_ANTHROPIC_VERSION
from llmgw.server.providers.bedrock.thinking import (
    MIN_THINKING_BUDGET,
    REASONING_EFFORTS,
    ThinkingSettings,
    allows_forced_tool_use,
    plan_thinking,
    sampling,
)

logger = logging.getLogger(__name__)

#: The Anthropic API version without sampling parameters, accepted on Bedrock for Claude 4.7+ only.
ANTHROPIC_VERSION_2026 = "2026-10-21"
_REMOVED_IN_2026 = ("temperature", "top_p", "top_k")

_EFFORT_BY_BUDGET = ((1024, "low"), (4096, "medium"), (16384, "high"), (32768, "xhigh"))


def _effort_for_budget(budget: int) -> str:
    return next((effort for limit, effort in _EFFORT_BY_BUDGET if budget <= limit), "max")


def _fit_thinking(body: dict[str, Any], model: CatalogModel, settings: ThinkingSettings) -> bool:
    """Rewrite `thinking` / `output_config` for the model (via thinking.plan_thinking); whether it will think."""
    modes = model.thinking.modes
    thinking = body.get("thinking")
    if not modes or not isinstance(thinking, dict):
        return bool(modes) and model.thinking.by_default
    kind = thinking.get("type")
    config = body.get("output_config")
    effort = config.get("effort") if isinstance(config, dict) else None
    if kind == "disabled":
        if "disabled" in modes:
            return False
        body.pop("thinking")
        return True
    if kind == "enabled" and "enabled" not in modes and "adaptive" in modes:
        budget = thinking.get("budget_tokens")
        effort = effort or _effort_for_budget(budget if isinstance(budget, int) else MIN_THINKING_BUDGET)
    elif kind == "adaptive" and "adaptive" not in modes and "enabled" in modes:
        effort = effort or "high"
    elif kind != "adaptive" or not isinstance(effort, str):
        return kind in ("enabled", "adaptive")
    limit = body.get("max_tokens")
    plan = plan_thinking(
        model, effort if effort in REASONING_EFFORTS else "high", limit if isinstance(limit, int) else None, settings
    )
    fitted = plan.fields["thinking"]
    if "display" in thinking and fitted.get("type") == "adaptive":
        fitted["display"] = thinking["display"]
    body["thinking"] = fitted
    others = {k: v for k, v in config.items() if k != "effort"} if isinstance(config, dict) else {}
    if "output_config" in plan.fields:
        body["output_config"] = {**others, **plan.fields["output_config"]}
    elif others:
        body["output_config"] = others
    else:
        body.pop("output_config", None)
    return plan.thinking


def fit_to_model(body: dict[str, Any], model: CatalogModel, settings: ThinkingSettings) -> dict[str, Any]:
    """The body, changed in place where the model would refuse it (see the module docstring)."""
    thinks = _fit_thinking(body, model, settings)
    temperature, top_p = body.get("temperature"), body.get("top_p")
    if temperature is not None or top_p is not None:
        kept = sampling(
            model,
            float(temperature) if isinstance(temperature, int | float) else None,
            float(top_p) if isinstance(top_p, int | float) else None,
            thinks,
        )
        for name, key in (("temperature", "temperature"), ("top_p", "topP")):
            if key in kept:
                body[name] = kept[key]
            else:
                body.pop(name, None)
    if model.thinking.sampling == "fixed":
        body.pop("top_k", None)
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("any", "tool") and not allows_forced_tool_use(model, thinks):
        forced = {"type": "auto"}
        if "disable_parallel_tool_use" in choice:
            forced["disable_parallel_tool_use"] = choice["disable_parallel_tool_use"]
        body["tool_choice"] = forced
    return body


def native_version(asked: Sequence[str], model: CatalogModel) -> str:
    """The `anthropic-version` for a native-route call, from the versions the caller's header named."""
    if model.api == "messages" and any(value.strip() == ANTHROPIC_VERSION_2026 for value in asked):
        return ANTHROPIC_VERSION_2026
    return NATIVE_ANTHROPIC_VERSION


def fit_to_version(body: dict[str, Any], version: str) -> dict[str, Any]:
    """The body, without the sampling parameters `version` has no more (left out and logged at debug)."""
    if version == ANTHROPIC_VERSION_2026:
        dropped = [name for name in _REMOVED_IN_2026 if body.pop(name, None) is not None]
        if dropped:
            logger.debug("anthropic-version %s has no %s: left out", version, ", ".join(dropped))
    return body
