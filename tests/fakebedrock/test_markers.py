from __future__ import annotations

import pytest

from llmgw.fakebedrock.config import FakeBedrockConfig
from llmgw.fakebedrock.errors import BedrockError
from llmgw.fakebedrock.faults import Fault
from llmgw.fakebedrock.markers import read_knobs


def test_without_markers_the_config_applies() -> None:
    """A prompt without markers gets the server's settings."""
    config = FakeBedrockConfig(ttft_ms=5, token_delay_ms=1, output_tokens=7, fault="internal")
    knobs = read_knobs("plain prompt", config)
    assert (knobs.fault, knobs.output_tokens, knobs.ttft_ms, knobs.token_delay_ms) == (Fault("internal"), 7, 5.0, 1.0)
    assert knobs.tools_allowed


def test_markers_override_the_config() -> None:
    """Markers anywhere in the text override each setting."""
    text = "a [[tokens:3]] b [[ttft_ms:40]] [[token_delay_ms:2]] [[fault:throttle:2]] [[no_tool]] [[unrelated]]"
    knobs = read_knobs(text, FakeBedrockConfig(fault="internal"))
    assert (knobs.fault, knobs.output_tokens, knobs.ttft_ms, knobs.token_delay_ms) == (
        Fault("throttle", 2),
        3,
        40.0,
        2.0,
    )
    assert not knobs.tools_allowed


@pytest.mark.parametrize(
    "marker", ["[[fault:explode]]", "[[tokens:0]]", "[[tokens:many]]", "[[ttft_ms]]", "[[no_tool:1]]"]
)
def test_malformed_markers_are_validation_errors(marker: str) -> None:
    """A known marker with a bad value fails loudly rather than being ignored."""
    with pytest.raises(BedrockError) as caught:
        read_knobs(f"x {marker}", FakeBedrockConfig())
    assert caught.value.code == "ValidationException"
