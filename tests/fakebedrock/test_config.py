from __future__ import annotations

from typing import Any

import pytest

from llmgw.fakebedrock.config import FakeBedrockConfig
from llmgw.fakebedrock.faults import Fault


def test_defaults() -> None:
    """The defaults answer 24 tokens at once, without faults."""
    config = FakeBedrockConfig()
    assert (config.ttft_ms, config.token_delay_ms, config.output_tokens, config.parsed_fault) == (0.0, 0.0, 24, None)


def test_fault_is_parsed() -> None:
    """A configured fault is available parsed."""
    assert FakeBedrockConfig(fault="throttle:3").parsed_fault == Fault("throttle", 3)


@pytest.mark.parametrize(
    "options", [{"ttft_ms": -1}, {"token_delay_ms": -0.5}, {"output_tokens": 0}, {"fault": "meltdown"}]
)
def test_invalid_settings_are_refused(options: dict[str, Any]) -> None:
    """Negative delays, no tokens and unknown faults are refused at construction."""
    with pytest.raises(ValueError, match=r"must|fault"):
        FakeBedrockConfig(**options)
