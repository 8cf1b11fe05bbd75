"""Per-request knobs written into the prompt as `[[name:value]]` markers.

Tests steer one request without reconfiguring the server: `[[fault:throttle:2]]`,
`[[tokens:5]]`, `[[ttft_ms:200]]`, `[[token_delay_ms:10]]`, `[[token_chars:200]]` (each generated
word drawn out to that many characters, for answers that weigh more per token), `[[no_tool]]`, `[[refuse]]`
(the model declines: a short text with stop reason `refusal`, as Claude Fable answers) and
`[[redacted_thinking]]` (a thinking answer also carries a redacted, encrypted reasoning block).
Markers stay part of the prompt text and count as prompt words like any other.
"""

import re
from dataclasses import dataclass

from llmgw.fakebedrock.config import FakeBedrockConfig
from llmgw.fakebedrock.errors import invalid
from llmgw.fakebedrock.faults import Fault, parse_fault

_MARKER = re.compile(
    r"\[\[(no_tool|refuse|redacted_thinking|fault|tokens|ttft_ms|token_delay_ms|token_chars)(?::([^\[\]]*))?\]\]"
)


@dataclass(frozen=True)
class Knobs:
    """What one request asks of the fake, after its markers override the server's config."""

    fault: Fault | None
    output_tokens: int
    ttft_ms: float
    token_delay_ms: float
    tools_allowed: bool
    refuse: bool = False
    redacted_thinking: bool = False
    token_chars: int = 0


def read_knobs(text: str, config: FakeBedrockConfig, model_id: str = "") -> Knobs:
    """Apply the markers found in `text` over `config` (and its fault for `model_id`).

    A malformed marker is a ValidationException.
    """
    fault = config.fault_for(model_id)
    tokens, ttft_ms, token_delay_ms = config.output_tokens, config.ttft_ms, config.token_delay_ms
    tools_allowed = True
    token_chars = 0
    refuse = False
    redacted = False
    if "[[" in text:
        for match in _MARKER.finditer(text):
            name, value, marker = match.group(1), match.group(2), match.group(0)
            if name in ("no_tool", "refuse", "redacted_thinking"):
                if value is not None:
                    raise invalid(f"marker {marker} takes no value")
                tools_allowed = tools_allowed and name != "no_tool"
                refuse = refuse or name == "refuse"
                redacted = redacted or name == "redacted_thinking"
            elif name == "fault":
                fault = _fault(value, marker)
            elif name == "tokens":
                tokens = _number(value, marker)
                if tokens < 1:
                    raise invalid(f"marker {marker} needs at least 1 token")
            elif name == "ttft_ms":
                ttft_ms = _number(value, marker)
            elif name == "token_chars":
                token_chars = _number(value, marker)
            else:
                token_delay_ms = _number(value, marker)
    return Knobs(fault, tokens, float(ttft_ms), float(token_delay_ms), tools_allowed, refuse, redacted, token_chars)


def _fault(value: str | None, marker: str) -> Fault:
    try:
        return parse_fault(value or "")
    except ValueError as error:
        raise invalid(f"marker {marker}: {error}") from None


def _number(value: str | None, marker: str) -> int:
    if value is None or not value.isdigit():
        raise invalid(f"marker {marker} needs a non-negative integer value")
    return int(value)
