"""Anthropic bodies fitted to their Claude model's rules: table tests over the real catalog, no network."""

from __future__ import annotations

from typing import Any

import pytest

from llmgw.server.core.catalog import Catalog
from llmgw.server.providers.bedrock.anthropic_hygiene import fit_to_model, fit_to_version, native_version
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


@pytest.mark.parametrize(
    ("asked", "model", "expected"),
    [
        (["2026-10-21"], OPUS_47, "2026-10-21"),
        ([" 2026-10-21 "], FABLE_5, "2026-10-21"),
        (["2023-06-01"], OPUS_47, "2023-06-01"),
        ([], OPUS_47, "2023-06-01"),
        (["2027-01-01"], OPUS_47, "2023-06-01"),
        # Claude 4.5 and older are not served on the native route: 2026-10-21 is never passed for them.
        (["2026-10-21"], HAIKU_45, "2023-06-01"),
    ],
)
def test_native_version_is_pinned_unless_asked_for_on_a_new_model(asked: list[str], model: str, expected: str) -> None:
    """2023-06-01 on the native route, unless the caller asked for 2026-10-21 and the model is Claude 4.7+."""
    assert native_version(asked, CATALOG.get(model)) == expected


def test_version_2026_leaves_out_sampling() -> None:
    """Under 2026-10-21 temperature, top_p and top_k are gone; under 2023-06-01 they stay."""
    sampled = {"max_tokens": 8, "temperature": 0.0, "top_p": 0.9, "top_k": 5, "messages": []}
    assert fit_to_version(dict(sampled), "2026-10-21") == {"max_tokens": 8, "messages": []}
    assert fit_to_version(dict(sampled), "2023-06-01") == sampled
