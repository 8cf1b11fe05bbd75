"""Faults for routing tests over real HTTP: per model, on a share of calls, and a stream that goes silent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from botocore.exceptions import ClientError
from urllib3.exceptions import ReadTimeoutError

from llmgw.fakebedrock.config import FakeBedrockConfig
from llmgw.fakebedrock.faults import Fault, ShareGate, parse_fault
from llmgw.fakebedrock.server import FakeBedrockServer
from tests.fakebedrock.conftest import CHAT_MODEL, make_client, user

if TYPE_CHECKING:
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient

OTHER_MODEL = "amazon.nova-micro-v1:0"


@pytest.fixture
def configurable() -> Iterator[tuple[FakeBedrockServer, BedrockRuntimeClient]]:
    """A fake of its own (tests change its config) and a client without retries."""
    with FakeBedrockServer() as fake:
        client = make_client(fake.url, read_timeout=1.0)
        yield fake, client
        client.close()


def test_share_faults_parse_and_spread_evenly() -> None:
    """`NAME:P%` parses for any fault and hits exactly P of every 100 calls, spread out."""
    assert parse_fault("throttle:20%") == Fault("throttle", percent=20)
    assert parse_fault("internal:100%") == Fault("internal", percent=100)
    for bad in ("throttle:0%", "throttle:101%", "throttle:x%"):
        with pytest.raises(ValueError, match="share"):
            parse_fault(bad)
    gate = ShareGate()
    hits = [gate.hits(20) for _ in range(100)]
    assert sum(hits) == 20
    assert all(sum(hits[start : start + 5]) == 1 for start in range(0, 100, 5))


def test_model_faults_apply_to_their_model_only(configurable: tuple[FakeBedrockServer, BedrockRuntimeClient]) -> None:
    """A fault for one model id throttles that model; the others answer; bad fault names are refused."""
    fake, client = configurable
    fake.app.config = FakeBedrockConfig(model_faults={CHAT_MODEL: "throttle"})
    with pytest.raises(ClientError) as throttled:
        client.converse(modelId=CHAT_MODEL, messages=[user("hi")])
    assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
    assert client.converse(modelId=OTHER_MODEL, messages=[user("hi")])["stopReason"] == "end_turn"
    with pytest.raises(ValueError, match="unknown fault"):
        FakeBedrockConfig(model_faults={CHAT_MODEL: "meltdown"})


def test_share_fault_throttles_one_call_in_five(configurable: tuple[FakeBedrockServer, BedrockRuntimeClient]) -> None:
    """`throttle:20%` set server-wide throttles 2 of 10 calls."""
    fake, client = configurable
    fake.app.config = FakeBedrockConfig(fault="throttle:20%")
    throttled = 0
    for number in range(10):
        try:
            client.converse(modelId=CHAT_MODEL, messages=[user(f"call {number}")])
        except ClientError:
            throttled += 1
    assert throttled == 2


def test_stall_fault_sends_two_deltas_then_nothing(
    configurable: tuple[FakeBedrockServer, BedrockRuntimeClient],
) -> None:
    """[[fault:stall]] streams two text deltas, then goes silent until the client's read timeout."""
    fake, client = configurable
    stream = client.converse_stream(modelId=CHAT_MODEL, messages=[user("[[tokens:9]] [[fault:stall]]")])["stream"]
    events: list[object] = []
    with pytest.raises(ReadTimeoutError):
        events.extend(stream)
    assert sum("contentBlockDelta" in event for event in events) == 2  # type: ignore[operator]
    assert fake.app.stats.streams_completed == 0
