"""Routing settings: the TOML contract parses, and anything unknown or inconsistent stops start-up in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmgw.server.app import Gateway, bedrock_config
from llmgw.server.core.application_profiles import ModelDirectory
from llmgw.server.core.catalog import Catalog
from llmgw.server.routing.table import RouteTable
from llmgw.server.routing_config import BedrockRegion, RouteSpec, TargetSpec
from llmgw.server.settings import Settings, SettingsError
from tests.e2e.conftest import gateway_env
from tests.e2e.test_cli import run_llmgw
from tests.model_ids import HAIKU, SONNET, TITAN
from tests.support import gateway_settings

TITAN_V1 = "amazon.titan-embed-text-v1"
HAIKU45 = "anthropic.claude-haiku-4-5-20251001-v1:0"

DESIGN_EXAMPLE = """
[bedrock.regions.us-east-1]
[bedrock.regions.us-west-2]
endpoint_url = "http://127.0.0.1:9101"
profile = "bedrock-west"

[[routes]]
model = "anthropic.claude-3-haiku-20240307-v1:0"
targets = [
  { region = "us-east-1", model = "anthropic.claude-3-haiku-20240307-v1:0" },
  { region = "us-west-2", model = "us.anthropic.claude-3-haiku-20240307-v1:0" },
]
fallbacks = ["anthropic.claude-3-5-sonnet-20240620-v1:0"]
"""


def test_design_example_parses(tmp_path: Path) -> None:
    """The TOML of DESIGN.md "Routing and failover" loads into regions and routes, and resolves against the catalog."""
    config = tmp_path / "llmgw.toml"
    config.write_text(DESIGN_EXAMPLE, encoding="utf-8")
    settings = Settings.load(config, environ={})
    assert settings.bedrock == (
        BedrockRegion("us-east-1"),
        BedrockRegion("us-west-2", endpoint_url="http://127.0.0.1:9101", profile="bedrock-west"),
    )
    assert settings.routes == (
        RouteSpec(
            HAIKU,
            (TargetSpec("us-east-1", HAIKU), TargetSpec("us-west-2", f"us.{HAIKU}")),
            (SONNET,),
        ),
    )
    (route,) = RouteTable(ModelDirectory(Catalog.load()), settings.routes, settings.aws_region)
    assert [(target.region, target.model.id) for target in route.targets] == [
        ("us-east-1", HAIKU),
        ("us-west-2", f"us.{HAIKU}"),
    ]
    west = bedrock_config(settings, "us-west-2")
    assert (west.region, west.endpoint_url, west.profile) == ("us-west-2", "http://127.0.0.1:9101", "bedrock-west")


def test_routes_from_the_environment() -> None:
    """LLMGW_ROUTES and LLMGW_BEDROCK take the same values as TOML inline values."""
    settings = Settings.load(
        environ={
            "LLMGW_BEDROCK": '{regions = {eu-west-1 = {role_arn = "arn:aws:iam::123456789012:role/bedrock"}}}',
            "LLMGW_ROUTES": f'[{{model = "{HAIKU}", targets = [{{region = "eu-west-1", model = "eu.{HAIKU}"}}]}}]',
        }
    )
    assert settings.regions == ("us-east-1", "eu-west-1")
    assert settings.routes[0].targets == (TargetSpec("eu-west-1", f"eu.{HAIKU}"),)


def _route(**fields: Any) -> dict[str, Any]:
    return {"model": HAIKU, "targets": [{"region": "us-east-1", "model": HAIKU}], **fields}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"routes": [_route(targets=[{"region": "eu-west-9", "model": HAIKU}])]},
            "LLMGW_ROUTES: route 'anthropic.claude-3-haiku-20240307-v1:0' names the unknown region 'eu-west-9'",
        ),
        ({"bedrock": {"regions": {"mars-1": {}}}}, "LLMGW_BEDROCK (argument): 'mars-1' is not an AWS region name"),
        ({"bedrock": {"regions": {"us-west-2": {"endpoint": "x"}}}}, "unknown field 'endpoint'"),
        ({"routes": [_route(targets=[])]}, "targets must be a non-empty array"),
        ({"routes": [_route(), _route()]}, "has two routes"),
        ({"routes": [_route(fallbacks=[HAIKU])]}, "fallbacks must be distinct and not the route's own model"),
        ({"breaker_failures": 0}, "LLMGW_BREAKER_FAILURES (argument): expected a positive integer"),
        ({"breaker_failure_rate": 1.5}, "LLMGW_BREAKER_FAILURE_RATE: expected a share above 0 and at most 1"),
        ({"breaker_cooldown_seconds": -1}, "LLMGW_BREAKER_COOLDOWN_SECONDS (argument): expected a positive number"),
        (
            {"bedrock_backoff_base_seconds": 2, "bedrock_backoff_max_seconds": 1},
            "LLMGW_BEDROCK_BACKOFF_MAX_SECONDS must be at least",
        ),
    ],
)
def test_bad_routing_settings_stop_start_up(overrides: dict[str, Any], message: str) -> None:
    """Each bad routing or breaker setting is refused with one line naming it."""
    with pytest.raises(SettingsError) as refused:
        Settings.load(environ={}, **overrides)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("route", "message"),
    [
        (_route(model="anthropic.claude-99"), "route 'anthropic.claude-99': the route's model 'anthropic.claude-99'"),
        (_route(targets=[{"region": "us-east-1", "model": "us.nope"}]), "target 'us.nope' is not a model id"),
        (_route(fallbacks=["amazon.titan-embed-text-v2:0"]), "'amazon.titan-embed-text-v2:0' is of kind embedding"),
        (
            {"model": TITAN, "targets": [{"region": "us-east-1", "model": "cohere.embed-english-v3"}]},
            "target 'cohere.embed-english-v3' is another embedding model",
        ),
        (
            {"model": TITAN, "targets": [{"region": "us-east-1", "model": TITAN}], "fallbacks": [TITAN_V1]},
            "an embedding model cannot have fallbacks",
        ),
    ],
)
def test_unknown_model_ids_in_routes_stop_the_gateway(tmp_path: Path, route: dict[str, Any], message: str) -> None:
    """A route naming a model id the catalog does not know (or of another kind) stops the gateway before it binds."""
    settings = gateway_settings(tmp_path, "http://127.0.0.1:9", routes=[route])
    with pytest.raises(SettingsError, match="LLMGW_ROUTES") as refused:
        Gateway(settings)
    assert message in str(refused.value)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_llmgw_serve_names_an_unknown_route_model_in_one_line(tmp_path: Path, workers: str) -> None:
    """`llmgw --config FILE serve` with a route to an unknown id exits 2 with one line naming it, workers or not."""
    config = tmp_path / "llmgw.toml"
    config.write_text(
        f'[[routes]]\nmodel = "{HAIKU}"\ntargets = [{{ region = "us-east-1", model = "us.no-such-model" }}]\n',
        encoding="utf-8",
    )
    env = gateway_env(tmp_path, grpc_listen="127.0.0.1:0", http_listen="127.0.0.1:0")
    done = run_llmgw("--config", str(config), "serve", "--workers", workers, env=env)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "LLMGW_ROUTES" in done.stderr
    assert "'us.no-such-model' is not a model id of the catalog" in done.stderr


def test_readme_routing_example_loads(tmp_path: Path) -> None:
    """The TOML of README.md "Routing and failover" is valid settings whose routes resolve against the catalog."""
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Routing and failover") :]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    config = tmp_path / "gateway.toml"
    config.write_text(example, encoding="utf-8")
    settings = Settings.load(config, environ={})
    assert settings.regions == ("us-east-1", "us-west-2")
    routes = list(RouteTable(ModelDirectory(Catalog.load()), settings.routes, settings.aws_region))
    assert [route.model for route in routes] == [f"us.{HAIKU45}", HAIKU]
