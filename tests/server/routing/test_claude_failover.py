"""Routing for Claude clients: the Anthropic SDK on /v1/messages and /bedrock, two fake Bedrocks as two regions.

The same routes, breakers and request log as the OpenAI path (test_failover.py): a target that
throttles, fails or stays silent before its first content event hands the request to the next.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anthropic
import httpx2 as httpx

from llmgw.fakebedrock.config import FakeBedrockConfig
from llmgw.server.core.accounting import request_cost
from llmgw.server.core.catalog import Catalog
from llmgw.server.store.models import QuotaLedger
from llmgw.v1 import policy_service_pb2, policy_service_pb2_grpc, route_service_pb2
from tests.bridge.conftest import gateway_bridge
from tests.model_ids import HAIKU, SONNET
from tests.server.routing.conftest import EAST, HAIKU45_GLOBAL, HAIKU45_US, ROUTES, WEST, Routed, records
from tests.support import bearer

CATALOG = Catalog.load()
# A Claude 4.7+ model, served on the native Messages route, routed across both regions.
SONNET5_US = "us.anthropic.claude-sonnet-5"
SONNET5_GLOBAL = "global.anthropic.claude-sonnet-5"
NATIVE_ROUTE = {
    "model": SONNET5_US,
    "targets": [{"region": EAST, "model": SONNET5_US}, {"region": WEST, "model": SONNET5_GLOBAL}],
}
PROMPT = [{"role": "user", "content": "hello from the east [[tokens:6]]"}]


@contextmanager
def _sdks(gw: Routed) -> Iterator[tuple[anthropic.Anthropic, anthropic.AnthropicBedrock]]:
    """Both SDKs as Claude Code configures them, through the bridge in front of `gw`, without retries."""
    with (
        gateway_bridge(gw.gateway, "in-process") as url,
        anthropic.Anthropic(base_url=url, api_key=gw.alice, max_retries=0, timeout=30) as messages,
        anthropic.AnthropicBedrock(
            base_url=f"{url}/bedrock", aws_region=EAST, api_key=gw.alice, max_retries=0, timeout=30
        ) as bedrock,
    ):
        yield messages, bedrock


def _cost(model: str, usage: Any) -> int:
    return request_cost(CATALOG.get(model), usage.input_tokens, usage.output_tokens)


def _breaker(gw: Routed, model: str, region: str) -> int:
    listing = gw.routes.ListRoutes(route_service_pb2.ListRoutesRequest(), metadata=bearer(gw.root))
    route = next(route for route in listing.routes if route.model == model)
    return next(target.breaker_state for target in route.targets if target.region == region)


def _text(message: anthropic.types.Message) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


def test_messages_api_fails_over_when_a_region_throttles(routed: Callable[..., Routed]) -> None:
    """East throttles: west answers /v1/messages, unary and streamed; rows say west after 2 attempts, priced there."""
    gw = routed()
    gw.east.app.config = FakeBedrockConfig(fault="throttle")
    with _sdks(gw) as (messages, _):
        answer = messages.messages.create(model=HAIKU45_US, max_tokens=64, messages=PROMPT)  # type: ignore[arg-type]
        with messages.messages.stream(model=HAIKU45_US, max_tokens=64, messages=PROMPT) as stream:  # type: ignore[arg-type]
            streamed = stream.get_final_message()
    assert answer.model == streamed.model == HAIKU45_US
    assert _text(streamed) == _text(answer) != ""
    rows = records("alice", 2)
    assert [(r.api, r.region, r.upstream_model, r.attempts, r.outcome) for r in rows] == [
        ("messages", WEST, HAIKU45_GLOBAL, 2, "success"),
        ("messages_stream", WEST, HAIKU45_GLOBAL, 2, "success"),
    ]
    expected = _cost(HAIKU45_GLOBAL, answer.usage)
    assert expected != _cost(HAIKU45_US, answer.usage)
    assert rows[0].cost_picodollars == expected
    (entry,) = QuotaLedger.select().where(QuotaLedger.user == "alice")
    assert (entry.spent_picodollars, entry.reserved_picodollars) == (sum(r.cost_picodollars for r in rows), 0)
    assert f'llmgw_failovers_total{{region="{EAST}",target="{HAIKU45_US}"}} 2.0' in gw.metrics()


def test_native_route_fails_over_on_5xx_and_on_silence_before_the_first_content(routed: Callable[..., Routed]) -> None:
    """A 4.7+ model on the native route: east's 500 and east's stream that sends message_start, then nothing.

    The held-back message_start is not handed over, so west's stream is the only one the
    caller sees: its text equals the unary answer.
    """
    gw = routed(routes=[*ROUTES, NATIVE_ROUTE], bedrock_first_byte_timeout_seconds=1)
    gw.east.app.config = FakeBedrockConfig(fault="internal")
    with _sdks(gw) as (messages, _):
        answer = messages.messages.create(model=SONNET5_US, max_tokens=64, messages=PROMPT)  # type: ignore[arg-type]
        gw.east.app.config = FakeBedrockConfig(ttft_ms=20_000)
        with messages.messages.stream(model=SONNET5_US, max_tokens=64, messages=PROMPT) as stream:  # type: ignore[arg-type]
            events = [event.type for event in stream]
            streamed = stream.get_final_message()
    assert events.count("message_start") == 1
    assert _text(streamed) == _text(answer) != ""
    rows = records("alice", 2)
    assert [(r.region, r.upstream_model, r.attempts, r.outcome) for r in rows] == [
        (WEST, SONNET5_GLOBAL, 2, "success"),
        (WEST, SONNET5_GLOBAL, 2, "success"),
    ]
    assert rows[1].cost_picodollars == _cost(SONNET5_GLOBAL, streamed.usage)


def test_passthrough_fails_over_and_the_breaker_counts(routed: Callable[..., Routed]) -> None:
    """AnthropicBedrock on /bedrock while east is unavailable: west answers; east's breaker opens and is skipped."""
    gw = routed(breaker_failures=2)
    gw.east.app.config = FakeBedrockConfig(fault="unavailable")
    with _sdks(gw) as (_, bedrock):
        answer = bedrock.messages.create(model=HAIKU45_US, max_tokens=64, messages=PROMPT)  # type: ignore[arg-type]
        with bedrock.messages.stream(model=HAIKU45_US, max_tokens=64, messages=PROMPT) as stream:  # type: ignore[arg-type]
            streamed = stream.get_final_message()
        assert _breaker(gw, HAIKU45_US, EAST) == route_service_pb2.BREAKER_STATE_OPEN
        third = bedrock.messages.create(model=HAIKU45_US, max_tokens=64, messages=PROMPT)  # type: ignore[arg-type]
    assert _text(streamed) == _text(answer) == _text(third) != ""
    rows = records("alice", 3)
    assert [(r.api, r.region, r.attempts) for r in rows] == [
        ("bedrock_invoke", WEST, 2),
        ("bedrock_invoke_stream", WEST, 2),
        ("bedrock_invoke", WEST, 1),
    ]
    assert [r.cost_picodollars for r in rows] == [_cost(HAIKU45_GLOBAL, m.usage) for m in (answer, streamed, third)]


def test_passthrough_stream_silent_before_content_fails_over(routed: Callable[..., Routed]) -> None:
    """East opens the event stream and stalls before its first delta: west's stream is relayed, CRCs and all."""
    gw = routed(bedrock_first_byte_timeout_seconds=1)
    gw.east.app.config = FakeBedrockConfig(ttft_ms=20_000)
    with (
        _sdks(gw) as (_, bedrock),
        bedrock.messages.stream(model=HAIKU45_US, max_tokens=64, messages=PROMPT) as stream,  # type: ignore[arg-type]
    ):
        events = [event.type for event in stream]
        streamed = stream.get_final_message()
    assert events.count("message_start") == 1
    assert _text(streamed)
    (row,) = records("alice", 1)
    assert (row.region, row.attempts, row.outcome) == (WEST, 2, "success")
    assert row.cost_picodollars == _cost(HAIKU45_GLOBAL, streamed.usage)


def test_a_refusal_is_not_retried_elsewhere(routed: Callable[..., Routed]) -> None:
    """East rejects the request as invalid: no failover, one attempt, the caller's 400 in Anthropic's shape."""
    gw = routed()
    gw.east.app.config = FakeBedrockConfig(fault="validation")
    west_before = gw.west.app.stats.requests
    with gateway_bridge(gw.gateway, "in-process") as url:
        body = {"model": HAIKU45_US, "max_tokens": 16, "messages": PROMPT}
        response = httpx.post(f"{url}/v1/messages", json=body, headers={"x-api-key": gw.alice}, timeout=30)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    (row,) = records("alice", 1)
    assert (row.region, row.attempts, row.outcome) == (EAST, 1, "error")
    assert gw.west.app.stats.requests == west_before


def test_fallback_answers_claude_clients_who_may_use_it(routed: Callable[..., Routed]) -> None:
    """Haiku throttles: Sonnet, its route's fallback, answers alice on both APIs (named, priced); bob may not use it."""
    gw = routed()
    gw.east.app.config = FakeBedrockConfig(model_faults={HAIKU: "throttle"})
    with _sdks(gw) as (messages, bedrock):
        answer = messages.messages.create(model=HAIKU, max_tokens=64, messages=PROMPT)  # type: ignore[arg-type]
        with messages.messages.stream(model=HAIKU, max_tokens=64, messages=PROMPT) as stream:  # type: ignore[arg-type]
            streamed = stream.get_final_message()
        invoked = bedrock.messages.create(model=HAIKU, max_tokens=64, messages=PROMPT)  # type: ignore[arg-type]
    assert answer.model == streamed.model == SONNET
    rows = records("alice", 3)
    assert [(r.model, r.upstream_model, r.attempts, r.outcome) for r in rows] == [(SONNET, SONNET, 2, "success")] * 3
    assert [r.cost_picodollars for r in rows] == [_cost(SONNET, m.usage) for m in (answer, streamed, invoked)]
    bob = gw.gateway.create_key("bob", "main")
    policies = policy_service_pb2_grpc.PolicyServiceStub(gw.gateway.channel())
    policies.SetModelAccess(
        policy_service_pb2.SetModelAccessRequest(user="bob", models=[HAIKU]), metadata=bearer(gw.root)
    )
    with gateway_bridge(gw.gateway, "in-process") as url:
        body = {"model": HAIKU, "max_tokens": 16, "messages": PROMPT}
        refused = httpx.post(f"{url}/v1/messages", json=body, headers={"x-api-key": bob}, timeout=30)
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["type"] == "overloaded_error"
    (bob_row,) = records("bob", 1)
    assert (bob_row.model, bob_row.upstream_model, bob_row.cost_picodollars) == (HAIKU, HAIKU, 0)
