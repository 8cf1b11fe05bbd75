"""Routing end to end: gRPC client -> gateway -> two fake Bedrocks as two regions over real HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from decimal import Decimal

import grpc
import pytest

from llmgw.fakebedrock.config import FakeBedrockConfig
from llmgw.server.core.accounting import request_cost
from llmgw.server.core.catalog import Catalog
from llmgw.server.store.models import QuotaLedger
from llmgw.v1 import (
    chat_pb2,
    chat_service_pb2,
    embedding_service_pb2,
    embedding_service_pb2_grpc,
    policy_service_pb2,
    policy_service_pb2_grpc,
    route_service_pb2,
)
from tests.model_ids import HAIKU, SONNET, TITAN
from tests.server.routing.conftest import (
    EAST,
    HAIKU45_GLOBAL,
    HAIKU45_US,
    ROUTES,
    WEST,
    Routed,
    chat_params,
    records,
)
from tests.support import bearer, picodollars

# A chat model of the catalog that cannot call tools, so cannot be made to answer in JSON.
NO_TOOLS = "deepseek.v3-v1:0"
CATALOG = Catalog.load()
WAIT_S = 10.0


def _text(chunks: Iterator[chat_service_pb2.StreamChatCompletionResponse]) -> tuple[list[str], list[str]]:
    """The content deltas of a stream and the chunks' `model` fields."""
    deltas: list[str] = []
    models: list[str] = []
    for response in chunks:
        models.append(response.chunk.model)
        deltas.extend(choice.delta.content for choice in response.chunk.choices if choice.delta.content)
    return deltas, models


def _drain(chunks: Iterator[chat_service_pb2.StreamChatCompletionResponse], deltas: list[str]) -> None:
    """Read a stream to its end (or its error), collecting the content deltas."""
    for response in chunks:
        deltas.extend(choice.delta.content for choice in response.chunk.choices if choice.delta.content)


def _breaker(routed: Routed, model: str, region: str) -> int:
    listing = routed.routes.ListRoutes(route_service_pb2.ListRoutesRequest(), metadata=bearer(routed.root))
    route = next(route for route in listing.routes if route.model == model)
    return next(target.breaker_state for target in route.targets if target.region == region)


def test_throttled_region_fails_over_and_is_charged_once_at_the_answering_price(
    routed: Callable[..., Routed],
) -> None:
    """East throttles everything: west answers; attempts and region are recorded; the ledger is charged once."""
    gw = routed()
    gw.east.app.config = FakeBedrockConfig(fault="throttle")
    answer = gw.ask("hello from the east")
    assert answer.completion.model == HAIKU45_US
    (row,) = records("alice", 1)
    assert (row.region, row.upstream_model, row.attempts, row.outcome) == (WEST, HAIKU45_GLOBAL, 2, "success")
    usage = answer.completion.usage
    expected = request_cost(CATALOG.get(HAIKU45_GLOBAL), usage.prompt_tokens, usage.completion_tokens)
    assert expected != request_cost(CATALOG.get(HAIKU45_US), usage.prompt_tokens, usage.completion_tokens)
    assert picodollars(usage.cost_usd) == row.cost_picodollars == expected
    (entry,) = QuotaLedger.select().where(QuotaLedger.user == "alice")
    assert (entry.spent_picodollars, entry.reserved_picodollars) == (expected, 0)
    metrics = gw.metrics()
    assert f'llmgw_failovers_total{{region="{EAST}",target="{HAIKU45_US}"}} 1.0' in metrics
    assert (
        f'llmgw_bedrock_attempts_total{{outcome="upstream_throttled",region="{EAST}",target="{HAIKU45_US}"}}' in metrics
    )


def test_breaker_opens_then_one_probe_reaches_the_region_after_the_cool_down(routed: Callable[..., Routed]) -> None:
    """After N failures east is skipped (its counter stops); after the cool-down exactly one probe reaches it."""
    gw = routed(breaker_failures=2, breaker_cooldown_seconds=1)
    gw.east.app.config = FakeBedrockConfig(fault="throttle")
    before = gw.east.app.stats.requests
    gw.ask("one")
    gw.ask("two")
    assert gw.east.app.stats.requests == before + 2
    assert _breaker(gw, HAIKU45_US, EAST) == route_service_pb2.BREAKER_STATE_OPEN
    assert 'llmgw_breaker_state{region="us-east-1",target="us.anthropic.claude-haiku-4-5-20251001-v1:0"} 2.0' in (
        gw.metrics()
    )
    for text in ("three", "four", "five"):
        gw.ask(text)
    assert gw.east.app.stats.requests == before + 2
    deadline = time.monotonic() + WAIT_S
    while _breaker(gw, HAIKU45_US, EAST) != route_service_pb2.BREAKER_STATE_HALF_OPEN:
        assert time.monotonic() < deadline, "the breaker never half-opened"
        time.sleep(0.05)
    gw.ask("the probe")
    assert gw.east.app.stats.requests == before + 3
    assert _breaker(gw, HAIKU45_US, EAST) == route_service_pb2.BREAKER_STATE_OPEN
    gw.ask("skipped again")
    assert gw.east.app.stats.requests == before + 3
    rows = records("alice", 7)
    assert [row.attempts for row in rows] == [2, 2, 1, 1, 1, 2, 1]
    assert {row.region for row in rows} == {WEST}
    assert 'llmgw_breaker_transitions_total{region="us-east-1",state="half_open"' in gw.metrics()


def test_stream_fails_over_before_the_first_token_with_every_delta_once(routed: Callable[..., Routed]) -> None:
    """A stream whose first target throttles is served by west, deltas concatenating to the unary answer."""
    gw = routed()
    unary = gw.ask("[[tokens:7]] stream me").completion.choices[0].message.content
    gw.east.app.config = FakeBedrockConfig(fault="throttle")
    west_before = gw.west.app.stats.streams_completed
    deltas, models = _text(gw.stream("[[tokens:7]] stream me"))
    assert "".join(deltas) == unary
    assert set(models) == {HAIKU45_US}
    assert gw.west.app.stats.streams_completed == west_before + 1
    rows = records("alice", 2)
    assert (rows[1].region, rows[1].attempts, rows[1].output_tokens) == (WEST, 2, 7)


def test_stream_with_a_silent_first_target_fails_over_on_the_first_byte_timeout(routed: Callable[..., Routed]) -> None:
    """East sends nothing for 5 s; after the first-byte timeout west serves the stream whole."""
    gw = routed(bedrock_first_byte_timeout_seconds=0.5)
    gw.east.app.config = FakeBedrockConfig(ttft_ms=5000)
    deltas, _ = _text(gw.stream("[[tokens:4]] slow east"))
    assert len("".join(deltas).split()) == 4
    (row,) = records("alice", 1)
    assert (row.region, row.attempts, row.outcome) == (WEST, 2, "success")


def test_failure_after_the_first_token_is_in_band_charged_and_not_failed_over(routed: Callable[..., Routed]) -> None:
    """East fails mid-stream: the client has the deltas sent, then the error; west is never called."""
    gw = routed()
    gw.east.app.config = FakeBedrockConfig(fault="mid_stream")
    west_before = gw.west.app.stats.requests
    chunks = gw.stream("[[tokens:10]] break midway")
    deltas: list[str] = []
    with pytest.raises(grpc.RpcError) as failed:
        _drain(chunks, deltas)
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    assert len("".join(deltas).split()) == 3
    assert gw.west.app.stats.requests == west_before
    (row,) = records("alice", 1)
    assert (row.region, row.attempts, row.outcome, row.output_tokens) == (EAST, 1, "error", 3)
    assert row.cost_picodollars > 0
    (entry,) = QuotaLedger.select().where(QuotaLedger.user == "alice")
    assert (entry.spent_picodollars, entry.reserved_picodollars) == (row.cost_picodollars, 0)


def test_fallback_answers_only_for_callers_who_may_use_it(routed: Callable[..., Routed]) -> None:
    """Haiku throttles: Sonnet answers alice (named in `model`, at its price); bob, allowed Haiku only, fails."""
    gw = routed()
    gw.east.app.config = FakeBedrockConfig(model_faults={HAIKU: "throttle"})
    answer = gw.ask("fall back", model=HAIKU)
    assert answer.completion.model == SONNET
    usage = answer.completion.usage
    assert picodollars(usage.cost_usd) == request_cost(
        CATALOG.get(SONNET), usage.prompt_tokens, usage.completion_tokens
    )
    (row,) = records("alice", 1)
    assert (row.model, row.upstream_model, row.attempts) == (SONNET, SONNET, 2)
    deltas, models = _text(gw.stream("[[tokens:3]] fall back streaming", model=HAIKU))
    assert len("".join(deltas).split()) == 3
    assert set(models) == {SONNET}
    bob = gw.gateway.create_key("bob", "main")
    policies = policy_service_pb2_grpc.PolicyServiceStub(gw.gateway.channel())
    policies.SetModelAccess(
        policy_service_pb2.SetModelAccessRequest(user="bob", models=[HAIKU]), metadata=bearer(gw.root)
    )
    with pytest.raises(grpc.RpcError) as refused:
        gw.ask("no fallback for bob", model=HAIKU, key=bob)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    (bob_row,) = records("bob", 1)
    assert (bob_row.model, bob_row.upstream_model, bob_row.attempts, bob_row.cost_picodollars) == (HAIKU, HAIKU, 1, 0)


def test_a_fallback_that_cannot_answer_in_json_is_skipped(routed: Callable[..., Routed]) -> None:
    """A JSON answer from Haiku, whose first fallback cannot call tools: Haiku answers; throttled, Sonnet does."""
    routes = [dict(route, fallbacks=[NO_TOOLS, SONNET]) if route["model"] == HAIKU else route for route in ROUTES]
    gw = routed(routes=routes)
    params = chat_params("Answer in JSON", HAIKU)
    params.response_format.type = chat_pb2.RESPONSE_FORMAT_TYPE_JSON_OBJECT
    request = chat_service_pb2.CreateChatCompletionRequest(params=params)
    answer = gw.chat.CreateChatCompletion(request, metadata=bearer(gw.alice), timeout=30)
    assert answer.completion.model == HAIKU
    assert isinstance(json.loads(answer.completion.choices[0].message.content), dict)
    gw.east.app.config = FakeBedrockConfig(model_faults={HAIKU: "throttle"})
    answer = gw.chat.CreateChatCompletion(request, metadata=bearer(gw.alice), timeout=30)
    assert answer.completion.model == SONNET
    assert isinstance(json.loads(answer.completion.choices[0].message.content), dict)
    rows = records("alice", 2)
    assert [(row.model, row.attempts) for row in rows] == [(HAIKU, 1), (SONNET, 2)]


def test_validation_error_is_not_retried(routed: Callable[..., Routed]) -> None:
    """Bedrock's ValidationException ends the request after one call, with rounds to spare and west healthy."""
    gw = routed(bedrock_max_attempts=3)
    east_before, west_before = gw.east.app.stats.requests, gw.west.app.stats.requests
    with pytest.raises(grpc.RpcError) as rejected:
        gw.ask("[[fault:validation]] reject me")
    assert rejected.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (gw.east.app.stats.requests, gw.west.app.stats.requests) == (east_before + 1, west_before)
    (row,) = records("alice", 1)
    assert (row.attempts, row.region, row.cost_picodollars) == (1, EAST, 0)


def test_retries_back_off_over_rounds_until_a_target_answers(routed: Callable[..., Routed]) -> None:
    """Both regions throttle this prompt twice: the third round answers (five throttled calls, then success)."""
    gw = routed(bedrock_max_attempts=3)
    answer = gw.ask("[[fault:throttle:2]] patience")
    assert answer.completion.choices[0].message.content
    (row,) = records("alice", 1)
    assert (row.attempts, row.region) == (5, EAST)


def test_silent_stream_ends_deadline_exceeded_and_is_charged(routed: Callable[..., Routed]) -> None:
    """East stalls after two deltas: the idle timeout ends the stream with DEADLINE_EXCEEDED; what came is charged."""
    gw = routed(bedrock_idle_timeout_seconds=0.5)
    gw.east.app.config = FakeBedrockConfig(fault="stall")
    deltas: list[str] = []
    with pytest.raises(grpc.RpcError) as silent:
        _drain(gw.stream("[[tokens:10]] go quiet"), deltas)
    assert silent.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert len("".join(deltas).split()) == 2
    (row,) = records("alice", 1)
    assert (row.outcome, row.error_reason, row.output_tokens, row.region) == ("error", "UPSTREAM_TIMEOUT", 2, EAST)
    assert row.cost_picodollars > 0


def test_total_deadline_ends_unary_and_streaming_calls(routed: Callable[..., Routed]) -> None:
    """A request past BEDROCK_TOTAL_TIMEOUT_SECONDS ends with DEADLINE_EXCEEDED, unary or streaming."""
    gw = routed(bedrock_total_timeout_seconds=0.5)
    with pytest.raises(grpc.RpcError) as unary:
        gw.ask("[[ttft_ms:5000]] too slow")
    assert unary.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    deltas: list[str] = []
    with pytest.raises(grpc.RpcError) as streamed:
        _drain(gw.stream("[[tokens:50]] [[token_delay_ms:100]] too long"), deltas)
    assert streamed.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert 0 < len("".join(deltas).split()) < 50
    rows = records("alice", 2)
    assert [row.error_reason for row in rows] == ["UPSTREAM_TIMEOUT", "UPSTREAM_TIMEOUT"]


def test_list_routes_is_for_admins(routed: Callable[..., Routed]) -> None:
    """Admins see every route with its targets and fallbacks; others get PERMISSION_DENIED."""
    gw = routed()
    listing = gw.routes.ListRoutes(route_service_pb2.ListRoutesRequest(page_size=1), metadata=bearer(gw.root))
    (first,) = listing.routes
    assert first.model == HAIKU45_US
    assert [(t.region, t.model, t.breaker_state) for t in first.targets] == [
        (EAST, HAIKU45_US, route_service_pb2.BREAKER_STATE_CLOSED),
        (WEST, HAIKU45_GLOBAL, route_service_pb2.BREAKER_STATE_CLOSED),
    ]
    rest = gw.routes.ListRoutes(
        route_service_pb2.ListRoutesRequest(page_token=listing.next_page_token), metadata=bearer(gw.root)
    )
    assert [(route.model, list(route.fallbacks)) for route in rest.routes] == [(HAIKU, [SONNET]), (TITAN, [])]
    assert not rest.next_page_token
    with pytest.raises(grpc.RpcError) as denied:
        gw.routes.ListRoutes(route_service_pb2.ListRoutesRequest(), metadata=bearer(gw.alice))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_cost_decimal_sanity() -> None:
    """The two Haiku 4.5 targets really are priced differently in the catalog (the routing tests rely on it)."""
    assert CATALOG.get(HAIKU45_GLOBAL).price.input * Decimal("1.1") == CATALOG.get(HAIKU45_US).price.input


def test_embedding_batches_fail_over_between_regions(routed: Callable[..., Routed]) -> None:
    """East throttles: each InvokeModel batch is answered by west; the request is charged once at the model's price."""
    gw = routed()
    gw.east.app.config = FakeBedrockConfig(fault="throttle")
    stub = embedding_service_pb2_grpc.EmbeddingServiceStub(gw.gateway.channel())
    reply = stub.CreateEmbedding(
        embedding_service_pb2.CreateEmbeddingRequest(model=TITAN, input=["first text", "second text"]),
        metadata=bearer(gw.alice),
        timeout=30,
    )
    assert len(reply.data) == 2
    (row,) = records("alice", 1)
    assert (row.region, row.upstream_model, row.attempts, row.outcome) == (WEST, TITAN, 4, "success")
    expected = request_cost(CATALOG.get(TITAN), reply.usage.prompt_tokens, 0)
    assert picodollars(reply.usage.cost_usd) == row.cost_picodollars == expected
