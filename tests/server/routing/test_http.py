"""Routing over HTTP: GET /v1/routes for admins and the breaker metrics on /metrics, through the bridge."""

from __future__ import annotations

from collections.abc import Callable

import httpx2 as httpx
import openai

from llmgw.fakebedrock.config import FakeBedrockConfig
from tests.bridge.conftest import gateway_bridge
from tests.server.routing.conftest import EAST, HAIKU45_GLOBAL, HAIKU45_US, WEST, Routed, records


def test_routes_and_breakers_over_http(routed: Callable[..., Routed]) -> None:
    """The OpenAI SDK is served through west while east throttles; /v1/routes and /metrics show east's open breaker."""
    gw = routed(breaker_failures=1)
    gw.east.app.config = FakeBedrockConfig(fault="throttle")
    with gateway_bridge(gw.gateway, "in-process", metrics=True) as url:
        sdk = openai.OpenAI(base_url=f"{url}/v1", api_key=gw.alice, max_retries=0, timeout=30)
        answer = sdk.chat.completions.create(model=HAIKU45_US, messages=[{"role": "user", "content": "hi"}])
        assert answer.model == HAIKU45_US
        stream = sdk.chat.completions.create(
            model=HAIKU45_US, messages=[{"role": "user", "content": "stream"}], stream=True
        )
        assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
        with httpx.Client(base_url=url, timeout=30) as http:
            listing = http.get("/v1/routes", headers={"authorization": f"Bearer {gw.root}"})
            assert listing.status_code == 200, listing.text
            first = listing.json()["routes"][0]
            assert first["model"] == HAIKU45_US
            assert [(t["region"], t["model"], t["breaker_state"]) for t in first["targets"]] == [
                (EAST, HAIKU45_US, "open"),
                (WEST, HAIKU45_GLOBAL, "closed"),
            ]
            denied = http.get("/v1/routes", headers={"authorization": f"Bearer {gw.alice}"})
            assert denied.status_code == 403
            metrics = http.get("/metrics").text
    assert f'llmgw_breaker_state{{region="{EAST}",target="{HAIKU45_US}"}} 2.0' in metrics
    assert f'llmgw_breaker_transitions_total{{region="{EAST}",state="open",target="{HAIKU45_US}"}} 1.0' in metrics
    assert [(row.region, row.attempts) for row in records("alice", 2)] == [(WEST, 2), (WEST, 1)]
