from __future__ import annotations

from bench.profile_summary import layer_of, parse_frame, summarise

STACKS = [
    "main (llmgw/cli.py:93);BridgeApp._stream (bridge/app.py:180);message_to_dict (bridge/transcode.py:370) 3",
    "main (llmgw/cli.py:93);_send (botocore/endpoint.py:10);add_auth (botocore/auth.py:400) 1",
    "not a stack line",
]


def test_parse_frame_splits_function_and_path() -> None:
    """A py-spy frame gives its function and its path without the line number."""
    assert parse_frame("BridgeApp._stream (bridge/app.py:180)") == ("BridgeApp._stream", "bridge/app.py")
    assert parse_frame("<module> (<frozen runpy>:88)") == ("<module>", "<frozen runpy>")


def test_layer_of_picks_the_first_matching_fragment() -> None:
    """Paths map onto layers, specific ones first, unknown ones to `other`."""
    assert layer_of("/work/main/bridge/app.py") == "bridge (llmgw.bridge)"
    assert layer_of("site-packages/botocore/auth.py") == "boto3/botocore (signing, parsing)"
    assert layer_of("uuid.py") == "other"


def test_summarise_counts_self_and_inclusive_shares() -> None:
    """Self time goes to the leaf's layer; inclusive time to every layer on the stack."""
    text = summarise(STACKS)
    assert text.startswith("4 samples.")
    assert "| bridge (llmgw.bridge) | 75.0 | 75.0 |" in text
    assert "| boto3/botocore (signing, parsing) | 25.0 | 25.0 |" in text
    assert "| other | 0.0 | 100.0 |" in text
    assert "| `message_to_dict (bridge/transcode.py)` | 75.0 |" in text


def test_summarise_without_samples() -> None:
    """An empty profile says so instead of dividing by zero."""
    assert summarise([]) == "(no samples)"
