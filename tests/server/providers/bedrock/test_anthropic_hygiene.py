"""Anthropic bodies fitted to their Claude model's rules: table tests over the real catalog, no network."""

from __future__ import annotations

from typing import Any

import pytest

from llmgw.server.core.catalog import Catalog
from llmgw.server.providers.bedrock.anthropic_hygiene import fit_to_model
from llmgw.server.providers.bedrock.thinking import ThinkingSettings

CATALOG = Catalog.load()
OPUS_47 = "global.anthropic.claude-opus-4-7"
HAIKU_45 = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
FABLE_5 = "global.anthropic.claude-fable-5"
FABLE_51 = "global.anthropic.claude-fable-5-1"
SIGNED = {"type": "thinking", "thinking": "t", "signature": "sig"}


def fit(model: str, **fields: Any) -> dict[str, Any]:
    """The fitted body of a minimal request with these fields."""
    body = {"max_tokens": 32000, "messages": [{"role": "assistant", "content": [SIGNED]}], **fields}
    return fit_to_model(body, CATALOG.get(model), ThinkingSettings())


@pytest.mark.parametrize(
    ("model", "fields", "expected"),
    [
        # Opus 4.7 thinks only adaptively: a budget becomes the nearest effort.
        (
            OPUS_47,
            {"thinking": {"type": "enabled", "budget_tokens": 4096}},
            {"thinking": {"type": "adaptive", "display": "summarized"}, "output_config": {"effort": "medium"}},
        ),
        # ... and an effort it lacks becomes its nearest one below.
        (
            OPUS_47,
            {"thinking": {"type": "adaptive", "display": "omitted"}, "output_config": {"effort": "max"}},
            {"thinking": {"type": "adaptive", "display": "omitted"}, "output_config": {"effort": "high"}},
        ),
        # Haiku 4.5 takes only a budget: adaptive becomes the budget of its effort.
        (
            HAIKU_45,
            {"thinking": {"type": "adaptive"}, "output_config": {"effort": "low"}},
            {"thinking": {"type": "enabled", "budget_tokens": 1024}},
        ),
        # What the model takes passes untouched.
        (
            HAIKU_45,
            {"thinking": {"type": "enabled", "budget_tokens": 2048}},
            {"thinking": {"type": "enabled", "budget_tokens": 2048}},
        ),
        # Fable 5 always thinks: `disabled` is left out, sampling is fixed, no top_k.
        (FABLE_5, {"thinking": {"type": "disabled"}, "temperature": 0.3, "top_k": 5, "top_p": 0.995}, {"top_p": 0.995}),
        # Fable 5.1 refuses forced tool use.
        (
            FABLE_51,
            {"tool_choice": {"type": "tool", "name": "f", "disable_parallel_tool_use": True}},
            {"tool_choice": {"type": "auto", "disable_parallel_tool_use": True}},
        ),
    ],
)
def test_bodies_fit_their_model(model: str, fields: dict[str, Any], expected: dict[str, Any]) -> None:
    """Only what the model would refuse changes; messages (signed thinking included) stay as they were."""
    body = fit(model, **fields)
    assert {k: v for k, v in body.items() if k not in ("max_tokens", "messages")} == expected
    assert body["messages"] == [{"role": "assistant", "content": [SIGNED]}]
