"""Schemathesis against the bridge's own /openapi.json: no 5xx, answers that match the schema.

A real gateway (SQLite, the fake Bedrock) behind the real bridge, called by an admin's key,
so every operation is reachable. Schemathesis generates valid (positive) and invalid
(negative) requests for each operation from the schema; the budget (a few examples per
operation and mode) keeps the whole module to a few seconds on two cores.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from llmgw.fakebedrock.server import FakeBedrockServer
from tests.bridge.conftest import LoopThread, running_bridge
from tests.support import GatewayThread, gateway_settings

EXAMPLES_PER_OPERATION = 4


@dataclass(frozen=True)
class Served:
    """The bridge's URL and an admin key."""

    url: str
    key: str


@pytest.fixture(scope="module")
def served(fake_bedrock: FakeBedrockServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A gateway and its bridge for this module."""
    settings_ = gateway_settings(tmp_path_factory.mktemp("fuzz"), fake_bedrock.url)
    gateway = GatewayThread(settings_).start()
    loop = LoopThread()
    try:
        key = gateway.create_key("root", f"fuzz-{secrets.token_hex(8)}")
        with running_bridge(loop, gateway.grpc_target, max_body_bytes=1024 * 1024) as url:
            yield Served(url, key)
    finally:
        loop.close()
        gateway.stop()


@pytest.fixture
def api_schema(served: Served) -> schemathesis.BaseSchema:
    """The schema the bridge serves, generating positive and negative cases."""
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_schema_conformance(case: schemathesis.Case[Any], served: Served) -> None:
    """Every generated request gets a non-5xx answer whose body matches the schema."""
    response = case.call(headers={"Authorization": f"Bearer {served.key}"}, timeout=30)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
    )
    if response.status_code < 400:
        case.validate_response(response, checks=[response_schema_conformance])
