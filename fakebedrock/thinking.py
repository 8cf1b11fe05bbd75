"""What each Claude model accepts about thinking, sampling and tool choice, enforced as Bedrock does.

The fake's own table of the rules in the reference (section 10.2 and 10.6), so a
gateway that sends `thinking.type: "enabled"` to Opus 4.7, `disabled` to Fable, two
sampling parameters to Fable 5.1 or forced tool use to a thinking model fails here
the way it fails on AWS: a 400 ValidationException. Where the reference has "?",
the fake takes the strict side. A request that passes yields the thinking the
answer shows: on or off, how many words, and whether its text is shown.
"""

import re
from dataclasses import dataclass

from llmgw.fakebedrock.errors import invalid

_EFFORT_WORDS = {"low": 4, "medium": 8, "high": 12, "xhigh": 16, "max": 20}
_BUDGET_WORDS = 8
_MIN_BUDGET = 1024
_PROFILE = re.compile(r"^(?:[a-z-]+\.)?(anthropic\..*)$")


@dataclass(frozen=True)
class ModelRules:
    """One family's rules: accepted thinking types, default on, hidden text, sampling, forced tools."""

    types: frozenset[str]
    on_by_default: bool = False
    hides_thinking: bool = False
    sampling: str = "free"
    forced_tool_use: bool = True


_BUDGETED = ModelRules(frozenset({"enabled", "disabled"}))
# First match wins: the more specific pattern comes first.
_RULES: tuple[tuple[re.Pattern[str], ModelRules], ...] = (
    (re.compile(r"claude-fable-5-1"), ModelRules(frozenset({"adaptive"}), True, True, "single", False)),
    (re.compile(r"claude-fable-"), ModelRules(frozenset({"adaptive"}), True, True, "fixed", False)),
    (re.compile(r"claude-opus-5-5"), ModelRules(frozenset({"adaptive"}), True, True)),
    (re.compile(r"claude-opus-5$"), ModelRules(frozenset({"adaptive", "disabled"}), True, True)),
    (re.compile(r"claude-sonnet-5-5"), ModelRules(frozenset({"adaptive"}), True, True)),
    (re.compile(r"claude-sonnet-5$"), ModelRules(frozenset({"adaptive"}), False, True)),
    (re.compile(r"claude-haiku-5-5"), ModelRules(frozenset({"adaptive", "disabled"}), False, True)),
    (re.compile(r"claude-opus-4-[78]"), ModelRules(frozenset({"adaptive", "disabled"}), False, True)),
    (re.compile(r"claude-(opus-4-6|sonnet-4-6)"), ModelRules(frozenset({"adaptive", "enabled", "disabled"}))),
    (re.compile(r"claude-3-(haiku|5-)"), ModelRules(frozenset())),
    (re.compile(r"claude-"), _BUDGETED),
)


@dataclass(frozen=True)
class ThinkingShown:
    """The thinking an answer carries: none (words 0), or so many words, with or without their text."""

    words: int
    text_shown: bool


def rules_for(model_id: str) -> ModelRules | None:
    """The rules of a Claude model id (bare or profile), or None for models that do not think this way."""
    match = _PROFILE.match(model_id)
    if match is None:
        return None
    base = match.group(1)
    return next((rules for pattern, rules in _RULES if pattern.search(base)), None)


def check_request(model_id: str, body: dict[str, object], max_tokens: int | None) -> ThinkingShown:
    """Reject what the model would reject; return the thinking its answer shows."""
    extra = body.get("additionalModelRequestFields") or {}
    if not isinstance(extra, dict):
        raise invalid("additionalModelRequestFields must be an object.")
    rules = rules_for(model_id)
    if rules is None:
        for key in ("thinking", "output_config"):
            if key in extra:
                raise invalid(f"The model {model_id} does not support {key}: extraneous key [{key}] is not permitted.")
        return ThinkingShown(0, False)
    thinking = extra.get("thinking")
    shown = _thinking(model_id, rules, thinking, extra.get("output_config"), max_tokens)
    _check_sampling(model_id, rules, body.get("inferenceConfig"), shown.words > 0)
    _check_tool_choice(model_id, rules, body.get("toolConfig"), shown.words > 0)
    return shown


def _thinking(
    model_id: str, rules: ModelRules, thinking: object, output_config: object, max_tokens: int | None
) -> ThinkingShown:
    effort = None
    if output_config is not None:
        if not isinstance(output_config, dict) or output_config.get("effort") not in _EFFORT_WORDS:
            raise invalid(f"output_config.effort must be one of {', '.join(_EFFORT_WORDS)}.")
        if "adaptive" not in rules.types:
            raise invalid(f"output_config.effort is not supported for {model_id}.")
        effort = str(output_config["effort"])
    if thinking is None:
        on = rules.on_by_default
        return ThinkingShown(_EFFORT_WORDS[effort or "high"] if on else 0, on and not rules.hides_thinking)
    if not isinstance(thinking, dict):
        raise invalid("thinking must be an object.")
    kind = thinking.get("type")
    if kind not in rules.types:
        raise invalid(
            f"thinking.type: '{kind}' is not supported for {model_id}; "
            f"it accepts {', '.join(sorted(rules.types))}. Use 'adaptive' with output_config.effort."
        )
    display = thinking.get("display")
    if display not in (None, "summarized", "omitted"):
        raise invalid("thinking.display must be 'summarized' or 'omitted'.")
    if kind == "disabled":
        return ThinkingShown(0, False)
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < _MIN_BUDGET:
            raise invalid(f"thinking.budget_tokens must be an integer of at least {_MIN_BUDGET}.")
        if max_tokens is not None and budget >= max_tokens:
            raise invalid("max_tokens must be greater than thinking.budget_tokens.")
        return ThinkingShown(_BUDGET_WORDS, True)
    shown = display == "summarized" or (display is None and not rules.hides_thinking)
    return ThinkingShown(_EFFORT_WORDS[effort or "high"], shown)


def _check_sampling(model_id: str, rules: ModelRules, config: object, thinking: bool) -> None:
    config = config if isinstance(config, dict) else {}
    temperature, top_p = config.get("temperature"), config.get("topP")
    if rules.sampling == "fixed":
        if temperature not in (None, 1, 1.0):
            raise invalid(f"temperature may only be 1 for {model_id}.")
        if isinstance(top_p, int | float) and top_p < 0.99:
            raise invalid(f"top_p must be at least 0.99 for {model_id}.")
    if rules.sampling in ("single", "fixed") and temperature is not None and top_p is not None:
        raise invalid(f"temperature and top_p cannot both be specified for {model_id}.")
    if thinking and (temperature not in (None, 1, 1.0) or (isinstance(top_p, int | float) and top_p < 0.95)):
        raise invalid("temperature may only be set to 1 and top_p to 0.95 or above when thinking is enabled.")


def _check_tool_choice(model_id: str, rules: ModelRules, tool_config: object, thinking: bool) -> None:
    choice = tool_config.get("toolChoice") if isinstance(tool_config, dict) else None
    forced = isinstance(choice, dict) and ("any" in choice or "tool" in choice)
    if forced and not rules.forced_tool_use:
        raise invalid(f"Forced tool use (toolChoice any or tool) is not supported for {model_id}.")
    if forced and thinking:
        raise invalid("Thinking may not be used with forced tool use; use toolChoice auto.")
